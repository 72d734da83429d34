#!/usr/bin/env bash
# Runs testguest.elf's virtio-net self-tests under QEMU microvm with virtio-net-device (modern virtio-mmio) on
# a TAP inside a network namespace this script creates (and deletes), with net_peer.py as the host side:
# proves the guest's driver and stack follow the spec independently of Hearth.
# Usage: run_qemu_net.sh <testguest.elf>. Exit 0: passed, 1: failed, 77: skipped.
set -u

elf=${1:?usage: run_qemu_net.sh <testguest.elf>}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
boot_timeout=${TESTGUEST_QEMU_TIMEOUT:-240}
. "$here/qemu_lib.sh"
virtio_begin
[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root for a network namespace and TAP devices"; exit 77; }
command -v ip >/dev/null 2>&1 || { echo "SKIP: ip (iproute2) not found"; exit 77; }
[ -c /dev/net/tun ] || { echo "SKIP: /dev/net/tun missing"; exit 77; }
command -v python3 >/dev/null 2>&1 || { echo "SKIP: python3 not found"; exit 77; }

ns="hearth-qnet-$$"
peers=()
cleanup() {
  for p in "${peers[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  ip netns delete "$ns" 2>/dev/null
  rm -rf "$workdir"
}
trap cleanup EXIT
ip netns add "$ns" || { echo "SKIP: cannot create a network namespace"; exit 77; }
ip -n "$ns" link set lo up
for i in 0 1; do
  ip -n "$ns" tuntap add dev "tap$i" mode tap || { echo "SKIP: cannot create a TAP device"; exit 77; }
  ip -n "$ns" addr add "10.77.$i.1/24" dev "tap$i"
  ip -n "$ns" link set "tap$i" up
  ip netns exec "$ns" python3 "$here/net_peer.py" --bind "10.77.$i.1" --port 7777 --sink 7778 \
    >"$workdir/peer$i.log" 2>&1 &
  peers+=($!)
done
# The MMDS stand-in on tap0's side, at Firecracker's default address.
ip -n "$ns" addr add 169.254.169.254/32 dev tap0
ip netns exec "$ns" python3 "$here/mmds_mimic.py" --bind 169.254.169.254 --port 80 >"$workdir/mmds.log" 2>&1 &
peers+=($!)
# QEMU runs inside the namespace: qemu_boot runs "$qemu", so a one-word wrapper.
printf '#!/bin/sh\nexec ip netns exec %s %s "$@"\n' "$ns" "$qemu" >"$workdir/qemu-in-ns"
chmod +x "$workdir/qemu-in-ns"
qemu="$workdir/qemu-in-ns"

# nic <i> [device options]: the QEMU arguments of interface i (tap<i>, MAC 52:54:00:77:0<i>:02).
nic() {
  local i=$1
  shift
  echo "-netdev tap,id=n$i,ifname=tap$i,script=no,downscript=no,vhost=off" \
    "-device virtio-net-device,netdev=n$i,mac=52:54:00:77:0$i:02${1:+,$1}"
}
# Long per-wait bounds: the guest times them with its own (calibrated) TSC.
net0="testguest.net_ip=10.77.0.2/24 testguest.net_peer=10.77.0.1:7777 testguest.net_timeout_ms=30000"
net1="testguest.net_ip1=10.77.1.2/24 testguest.net_peer1=10.77.1.1:7777"

line() {
  got=$(tr -d '\r' <"$workdir/$1.log" | grep -aE -m1 -- "$2") && return 0
  fail "$1" "no line matching: $2"
  return 1
}
# echo_checks <name> <if> <sizes...>: each size echoed both ways on interface <if>.
echo_checks() {
  local name=$1 k=$2 s
  shift 2
  for s in "$@"; do
    line "$name" "^net-echo: if=$k dir=out size=$s ok attempt=[0-9]+ us=[0-9]+\$" || return 1
    line "$name" "^net-echo: if=$k dir=in size=$s ok\$" || return 1
  done
  line "$name" "^net-echo: if=$k dir=in peer: HNRES ok n=$# echoed=$#\$"
  line "$name" "^net-echo: if=$k rx_frames=" && echo "$name: $got"
}

sizes="1 1472 1473 9000 65507"
# $nic0 / $nic1 are word-split on purpose.
# shellcheck disable=SC2046
if virtio_check echo-plain "net-echo $net0 testguest.net_offload=0" $(nic 0); then
  echo_checks echo-plain 0 $sizes
  line echo-plain '^net0: dev base=0x[0-9a-f]+ irq=[0-9]+ features=0x[0-9a-f]+ rxq=[0-9]+ txq=[0-9]+ mac=52:54:00:77:00:02 link=up$' &&
    echo "echo-plain: $got"
  line echo-plain '^net-echo: if=0 .* tx_gso=0 tx_frags=[1-9]'
fi
# shellcheck disable=SC2046
if virtio_check echo-offload "net-echo $net0 testguest.net_offload=1" $(nic 0); then
  echo_checks echo-offload 0 $sizes
  line echo-offload '^net0: dev ' && echo "echo-offload: $got"
  # HOST_UFO: the 1473..65507-byte datagrams leave as one GSO frame each.
  line echo-offload '^net-echo: if=0 .* tx_gso=[1-9]'
fi
# Offloads offered but not taken by the device: csum/guest_csum off in QEMU.
# shellcheck disable=SC2046
if virtio_check echo-nocsum "net-echo $net0 testguest.net_offload=1 testguest.net_sizes=1,9000" \
  $(nic 0 csum=off,guest_csum=off,mrg_rxbuf=off); then
  echo_checks echo-nocsum 0 1 9000
fi
# Two interfaces, each with its own TAP, subnet and peer.
# shellcheck disable=SC2046
if virtio_check echo-two "net-echo $net0 $net1 testguest.net_ifaces=2 testguest.net_sizes=1,1473,65507" \
  $(nic 0) $(nic 1); then
  echo_checks echo-two 0 1 1473 65507
  echo_checks echo-two 1 1 1473 65507
  expect_line echo-two "net-echo: ok ifaces=2 sizes=3"
fi

# net-mmds: V2 token flow, IMDS and JSON output, a wrong and a missing token refused.
# mmds_body <name>: the lines between the markers.
mmds_body() { tr -d '\r' <"$workdir/$1.log" | sed -n '/^mmds-body-begin$/,/^mmds-body-end$/p' | sed '1d;$d'; }
# shellcheck disable=SC2046
if virtio_check mmds-v2 "net-mmds $net0 testguest.mmds_v2=1" $(nic 0); then
  line mmds-v2 '^mmds: token status=200 len=[1-9][0-9]*$'
  line mmds-v2 '^mmds: status=200 len=[0-9]+ retransmits=[0-9]+$' && echo "mmds-v2: $got"
  body=$(mmds_body mmds-v2)
  [ "$body" = $'ami-id\nreservation-id\nlocal-hostname' ] || fail mmds-v2 "IMDS body is '$body'"
fi
# shellcheck disable=SC2046
if virtio_check mmds-json "net-mmds $net0 testguest.mmds_v2=1 testguest.mmds_json=1 testguest.mmds_path=/latest/meta-data/ami-id testguest.net_offload=1" $(nic 0); then
  body=$(mmds_body mmds-json)
  [ "$body" = '"ami-12345678"' ] || fail mmds-json "JSON body is '$body'"
fi
for t in wrong none; do
  # shellcheck disable=SC2046
  if virtio_check "mmds-$t" "net-mmds $net0 testguest.mmds_v2=1 testguest.mmds_token=$t testguest.mmds_expect=401" $(nic 0); then
    line "mmds-$t" '^mmds: status=401 '
  fi
done

# net-bench, short: the lines bench/net_bench.py parses, both directions, 64- and 1514-byte frames.
for size in 22 1472; do
  # shellcheck disable=SC2046
  if virtio_check "bench-$size" "net-bench $net0 testguest.bench_count=200 testguest.bench_size=$size" $(nic 0); then
    line "bench-$size" "^net-bench: dir=tx count=200 size=$size frame=[0-9]+ ticks=[0-9]+ us=[0-9]+ pps=[0-9]+ kbytes_s=[0-9]+ peer_count=[0-9]+\$" &&
      echo "bench-$size: $got"
    line "bench-$size" "^net-bench: dir=rx count=[1-9][0-9]* size=$size frame=[0-9]+ ticks=[0-9]+ us=[0-9]+ pps=[0-9]+ kbytes_s=[0-9]+ sent=200\$" &&
      echo "bench-$size: $got"
  fi
done

[ "$failures" -eq 0 ] || { echo "---- peer 0 ----"; cat "$workdir/peer0.log"; }
qemu_finish "QEMU virtio-net runs (start of qemu to its exit):" "all QEMU virtio-net checks passed"
