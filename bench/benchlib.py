"""Helpers shared by the bench/ scripts: skip checks, /proc readings, summaries, tables, common options.

The scripts import it as a sibling module (`python3 bench/boot_bench.py` puts bench/ on sys.path).
Python 3 standard library only.
"""

import argparse
import json
import os
import shutil
import statistics

DEFAULT_GUEST = "build/tests/guest/testguest.elf"


def skip_reason(binary, needs_kvm):
    """Why a side cannot run here, or None."""
    if shutil.which(binary) is None:
        return f"binary '{binary}' not found or not executable"
    if needs_kvm and not os.path.exists("/dev/kvm"):
        return "/dev/kvm is absent"
    if needs_kvm and not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return "/dev/kvm is not readable and writable by this user"
    return None


def runnable_sides(args, only):
    """The sides ("hearth", "qemu") that `only` (None, a name or a list) selects and that can run here,
    and {side: reason} for those that cannot (each printed). Hearth opens /dev/kvm at start-up even
    without a VM; QEMU only with -accel kvm."""
    sides, skipped = [], {}
    for side in ("hearth", "qemu"):
        if only and side not in ([only] if isinstance(only, str) else only):
            continue
        binary = args.hearth if side == "hearth" else args.qemu
        reason = skip_reason(binary, needs_kvm=side == "hearth" or args.qemu_accel == "kvm")
        if reason:
            print(f"skipping {side}: {reason}")
            skipped[side] = reason
        else:
            sides.append(side)
    return sides, skipped


def proc_status_kib(pid, field):
    """A KiB field of /proc/<pid>/status ("VmHWM", "VmRSS"), or None when the process is gone."""
    prefix = field + ":"
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(prefix):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return None


def summarize(values, digits=2):
    """{median (rounded to digits), min, max, n} of values, or None when there are none."""
    if not values:
        return None
    return {"median": round(statistics.median(values), digits), "min": min(values), "max": max(values),
            "n": len(values)}


def percentile(values, p):
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * p // 100))
    return ordered[int(rank) - 1]


def summarize_p90(values, digits=2):
    """summarize() plus the nearest-rank p90, or None when there are none."""
    s = summarize(values, digits)
    if s is not None:
        s["p90"] = round(percentile(values, 90), digits)
    return s


def cell_p90(summary, digits=1):
    """A table cell "median / p90", or "-" without a summary."""
    if summary is None:
        return "-"
    return f"{summary['median']:.{digits}f} / {summary['p90']:.{digits}f}"


def proc_status_fields_kib(pid, fields):
    """{field: KiB} for the named /proc/<pid>/status fields in one read, or None when the process is gone."""
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                name, _, rest = line.partition(":")
                if name in fields:
                    out[name] = int(rest.split()[0])
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return out


def summarize_runs(runs, key, digits=2):
    """summarize() of run[key] over the successful runs that have it."""
    return summarize([r[key] for r in runs if r["ok"] and r.get(key) is not None], digits)


def cell(summary, digits=1):
    """A table cell "median [min..max]", or "-" without a summary."""
    if summary is None:
        return "-"
    return f"{summary['median']:.{digits}f} [{summary['min']:.{digits}f}..{summary['max']:.{digits}f}]"


def print_table(header, rows):
    """Prints header and rows as left-aligned columns two spaces apart."""
    widths = [max(len(str(row[i])) for row in [header] + rows) for i in range(len(header))]
    for row in [header] + rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)))


def print_runs_table(results, sides, metrics):
    """Side-by-side "median [min..max]" table of results[side]["summary"][key] per (key, label, digits),
    then the count of ok runs; a side missing from results shows as "skipped"."""
    header = ["metric: median [min..max]"] + sides
    rows = [[label] + [cell(results[s]["summary"].get(key), digits) if s in results else "skipped"
                       for s in sides]
            for key, label, digits in metrics]
    rows.append(["ok runs"] + [f"{sum(r['ok'] for r in results[s]['runs'])}/{len(results[s]['runs'])}"
                               if s in results else "skipped" for s in sides])
    print_table(header, rows)


def print_run_tails(run):
    """The stdout and stderr tails of a failed run, indented."""
    print("    stdout: " + run["stdout_tail"].strip().replace("\n", "\n            "))
    print("    stderr: " + run["stderr_tail"].strip().replace("\n", "\n            "))


def arg_parser(doc, guest=True):
    """An argument parser with the options every script shares: --guest (optional), --hearth, --qemu,
    --qemu-accel."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    if guest:
        p.add_argument("--guest", default=DEFAULT_GUEST, help="guest kernel (ELF)")
    p.add_argument("--hearth", default="build/hearth", help="hearth binary")
    p.add_argument("--qemu", default="qemu-system-x86_64", help="QEMU binary")
    p.add_argument("--qemu-accel", default="kvm", help="QEMU accelerator (tcg only to test the script)")
    return p


def check_guest(p, args):
    """Exits with a usage error when --guest is not a file."""
    if not os.path.isfile(args.guest):
        p.error(f"guest '{args.guest}' not found (build it with: cmake --build build --target testguest)")


def write_report(path, report):
    """Writes the JSON report, creating its folder, and says so."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(report, f, indent=2)
    print(f"\nwrote {path}")
