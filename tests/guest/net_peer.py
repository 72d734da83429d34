#!/usr/bin/env python3
"""Host-side UDP peer of the test guest's net-* self-tests (tests/guest/tests/net_*.c), run inside the test's
network namespace. On --port it checks each datagram against the guest's pattern (net_pattern, direction 0)
and echoes it, or answers "HNBAD ..." when the bytes are wrong. Control datagrams:
  HNCTL send <port> <size,...>   send each size (direction 1) to the guest's <port> from a fresh socket, wait
                                 for each echo (3 attempts), check it, then answer "HNRES ok n=<k>" or
                                 "HNRES fail <why>" to <port>
  HNCTL stream <port> <count> <size>   blast count datagrams to the guest's <port>, then "HNRES streamed n=.."
  HNCTL count                    answer "HNRES count=<n> bytes=<b>" for the sink port (--sink), then reset
Prints one line per event on stdout (flushed), for the test's log."""
import argparse
import socket
import sys
import time


def pattern(length, direction):
    base = length * 7 + (0x5A if direction else 0)
    return bytes((base + i + (i >> 8) * 13) & 0xFF for i in range(length))


def log(*args):
    print("net-peer:", *args, flush=True)


def send_sizes(addr, port, sizes, timeout):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((addr, 0))
    s.settimeout(timeout)
    try:
        for size in sizes:
            data = pattern(size, 1)
            for attempt in range(1, 4):
                s.sendto(data, (guest, port))
                try:
                    while True:
                        echo, src = s.recvfrom(70000)
                        if src[0] == guest:
                            break
                except socket.timeout:
                    log(f"send size={size} attempt={attempt} timed out")
                    continue
                if echo != data:
                    why = f"echo of {size} bytes differs (got {len(echo)} bytes)"
                    log("send", why)
                    s.sendto(b"HNRES fail " + why.encode(), (guest, port))
                    return
                log(f"send size={size} ok attempt={attempt}")
                break
            else:
                s.sendto(f"HNRES fail no echo of {size} bytes".encode(), (guest, port))
                return
        s.sendto(f"HNRES ok n={len(sizes)}".encode(), (guest, port))
    finally:
        s.close()


def stream(addr, port, count, size):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((addr, 0))
    data = pattern(size, 1)
    sent = 0
    start = time.monotonic()
    for _ in range(count):
        try:
            s.sendto(data, (guest, port))
            sent += 1
        except OSError:
            time.sleep(0.001)
    elapsed = time.monotonic() - start
    log(f"stream count={count} sent={sent} size={size} seconds={elapsed:.3f}")
    time.sleep(0.2)
    s.sendto(f"HNRES streamed n={sent}".encode(), (guest, port))
    s.close()


def main():
    global guest
    ap = argparse.ArgumentParser()
    ap.add_argument("--bind", required=True)
    ap.add_argument("--port", type=int, default=7777)
    ap.add_argument("--sink", type=int, default=0, help="count (not echo) datagrams on this port")
    ap.add_argument("--timeout", type=float, default=5.0)
    args = ap.parse_args()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.bind((args.bind, args.port))
    socks = [sock]
    sink = None
    if args.sink:
        sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sink.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 << 20)
        sink.bind((args.bind, args.sink))
        sink.setblocking(False)
    counted = [0, 0]
    log(f"listening {args.bind}:{args.port}" + (f" sink={args.sink}" if sink else ""))
    while True:
        if sink:
            try:
                while True:
                    data, _ = sink.recvfrom(70000)
                    counted[0] += 1
                    counted[1] += len(data)
            except BlockingIOError:
                pass
            sock.settimeout(0.01)
        try:
            data, src = sock.recvfrom(70000)
        except socket.timeout:
            continue
        guest = src[0]
        if data.startswith(b"HNCTL "):
            words = data.decode(errors="replace").split()
            log("control", " ".join(words[1:]))
            if words[1] == "send":
                send_sizes(args.bind, int(words[2]), [int(x) for x in words[3].split(",")], args.timeout)
            elif words[1] == "stream":
                stream(args.bind, int(words[2]), int(words[3]), int(words[4]))
            elif words[1] == "count":
                if sink:
                    try:
                        while True:
                            d, _ = sink.recvfrom(70000)
                            counted[0] += 1
                            counted[1] += len(d)
                    except BlockingIOError:
                        pass
                sock.sendto(f"HNRES count={counted[0]} bytes={counted[1]}".encode(), src)
                log(f"count={counted[0]} bytes={counted[1]}")
                counted = [0, 0]
            continue
        if data == pattern(len(data), 0):
            log(f"echo size={len(data)} ok")
            sock.sendto(data, src)
        else:
            log(f"echo size={len(data)} BAD pattern")
            sock.sendto(f"HNBAD len={len(data)} pattern mismatch".encode(), src)


guest = None
if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(0)
