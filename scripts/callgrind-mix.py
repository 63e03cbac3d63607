#!/usr/bin/env python3
"""Executed instructions per function and per mnemonic, from a callgrind profile.

Counts do not depend on the clock, so they compare two builds on a VM whose core speed changes
by the second (docs/SPEED.md, "Why the median is above the minimum"). valgrind 3.19 cannot read
Swift 6.3's debug info, so profile a copy without it:

    objcopy --strip-debug .build/release/roentgen /tmp/roentgen-s
    valgrind --tool=callgrind --dump-instr=yes --callgrind-out-file=/tmp/cg.out \\
        /tmp/roentgen-s bench MODEL.rtg --runs 5 --warmup 1 --threads 1
    python3 scripts/callgrind-mix.py /tmp/cg.out /tmp/roentgen-s [TOP]

Prints, for the TOP functions by executed instructions (default 8), the total and the share of
each mnemonic (self cost: a call's inclusive cost is not counted at the call site).
"""
import collections
import re
import subprocess
import sys


def self_cost(profile: str, binary: str) -> collections.Counter:
    """Ir per instruction address of `binary` (`positions: instr line`, addresses absolute or +/-
    relative; other objects' addresses are skipped, as they may overlap the binary's)."""
    cost, addr, after_call = collections.Counter(), 0, False
    objects, in_binary = {}, False
    with open(profile) as f:
        for line in f:
            if line.startswith(("ob=", "cob=")):   # (id) path, the path only where the id first appears
                m = re.match(r"c?ob=\((\d+)\)\s*(.*)", line.strip())
                if m[2]:
                    objects[m[1]] = m[2]
                if line.startswith("ob="):
                    in_binary = objects.get(m[1], "").endswith("/" + binary.rsplit("/", 1)[-1])
                continue
            if line.startswith("calls="):
                after_call = True
                continue
            if not line or line[0] not in "0123456789+-*":
                continue
            parts = line.split()
            a = parts[0]
            if a[0] in "+-":
                step = int(a[1:], 16) if a[1:].startswith("0x") else int(a[1:])
                addr += step if a[0] == "+" else -step
            elif a != "*":
                addr = int(a, 16) if a.startswith("0x") else int(a)
            if after_call:         # the line after calls= is the callee's inclusive cost
                after_call = False
                continue
            if len(parts) >= 3 and in_binary:
                cost[addr] += int(parts[2])
    return cost


def disassembly(binary: str) -> dict[int, tuple[str, str]]:
    """address -> (function, mnemonic)."""
    out = subprocess.run(["objdump", "-d", "--no-show-raw-insn", binary], capture_output=True, text=True, check=True).stdout
    table, fn = {}, "?"
    for line in out.splitlines():
        m = re.match(r"^([0-9a-f]+) <(.*)>:", line)
        if m:
            fn = m[2]
            continue
        m = re.match(r"^\s+([0-9a-f]+):\s+(\S+)", line)
        if m:
            table[int(m[1], 16)] = (fn, m[2])
    return table


def main() -> None:
    if len(sys.argv) not in (3, 4):
        raise SystemExit(__doc__)
    profile, binary = sys.argv[1], sys.argv[2]
    top = int(sys.argv[3]) if len(sys.argv) == 4 else 8
    table = disassembly(binary)
    by_fn = collections.defaultdict(collections.Counter)
    for addr, ir in self_cost(profile, binary).items():
        if addr in table:
            fn, mnemonic = table[addr]
            by_fn[fn][mnemonic] += ir
    for fn, mix in sorted(by_fn.items(), key=lambda kv: -sum(kv[1].values()))[:top]:
        total = sum(mix.values())
        print(f"{total / 1e6:10.1f} M  {fn[:100]}")
        print("             " + "  ".join(f"{k} {v / total:.1%}" for k, v in mix.most_common(16)))


if __name__ == "__main__":
    main()
