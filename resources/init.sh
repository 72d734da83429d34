#!/bin/sh
# PID 1 of the Hearth test initramfs (installed as /init by make-initramfs.sh).
# Kernel command-line knobs it reads:
#   hearth.halt=reboot|poweroff|shell   how to end (default reboot: see resources/README.md)

export PATH=/bin

mount -t proc proc /proc
mount -t sysfs sysfs /sys
# devtmpfs is not auto-mounted for an initramfs root; /dev/console is in the cpio for the kernel's own use.
mount -t devtmpfs devtmpfs /dev 2>/dev/null

halt=reboot
for word in $(cat /proc/cmdline); do
    case "$word" in
        hearth.halt=*) halt="${word#hearth.halt=}" ;;
    esac
done

# Present only when built with --modules; listed in dependency order. This kernel's virtio_mmio has no
# "device=" parameter (VIRTIO_MMIO_CMDLINE_DEVICES is off): it finds devices through ACPI (LNRO0005) only.
if [ -f /lib/modules/load.list ]; then
    for mod in $(cat /lib/modules/load.list); do
        insmod "/lib/modules/$mod" || echo "init: insmod $mod failed"
    done
fi

echo "HEARTH-INIT-OK"
echo "kernel: $(uname -r)"
echo "uptime: $(cat /proc/uptime)"
if [ -f /lib/modules/load.list ]; then
    # Unquoted on purpose: word splitting puts the names on one line.
    # shellcheck disable=SC2046
    echo virtio devices: $(ls /sys/bus/virtio/devices)
    # shellcheck disable=SC2046
    echo block devices: $(ls /sys/block)
fi

case "$halt" in
    shell) exec sh ;;
    poweroff)
        # Needs an ACPI S5 (or other pm_power_off) path in the VMM; otherwise the kernel halts for ever.
        poweroff -f
        ;;
esac
# Reset ends the VM everywhere: i8042 (reboot=k), ACPI reset register (reboot=a) or triple fault (reboot=t).
reboot -f
# Still here: let the kernel panic (panic=1 then resets).
exit 1
