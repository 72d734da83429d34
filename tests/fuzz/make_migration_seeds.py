#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_migration_stream (tests/fuzz/migration_corpus): valid streams."""
import os
import struct
import zlib

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "migration_corpus")
PAGE = 4096


def preamble():
    return b"HEARTHMG" + struct.pack("<II", 1, 0)


def frame(msg_type, payload=b""):
    head = struct.pack("<IIQI", msg_type, 0, len(payload), zlib.crc32(payload))
    return head + struct.pack("<I", zlib.crc32(head)) + payload


def batch(runs, data=b""):
    out = struct.pack("<II", len(runs), 0)
    for addr, pages, kind in runs:
        out += struct.pack("<QII", addr, pages, kind)
    return out + data


def main():
    os.makedirs(OUT, exist_ok=True)
    seeds = {
        "preamble_pages": preamble() + frame(5, batch([(0, 1, 0)], bytes(range(256)) * 16)),
        "preamble_pages_zero_runs": preamble() + frame(4, struct.pack("<I", 1))
        + frame(5, batch([(0x100000, 2, 0), (0x1000, 3, 1)], b"\xab" * (2 * PAGE))) + frame(5, batch([(0x100000, 2, 1)])),
        "preamble_state": preamble() + frame(6, b'{"machine":{},"vcpus":[],"devices":[]}'),
        "preamble_error": preamble() + frame(3, b"destination: no such drive") + frame(8),
    }
    for name, data in seeds.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
