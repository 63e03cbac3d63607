#!/usr/bin/env bash
# Per-op A/B of roentgen binaries on one model: `roentgen bench --per-op` of each binary in
# alternating order (A B, B A, ...), then each op's minimum median over the rounds, the sum of
# those minima, and the whole run's best minimum and median per binary. Binaries built from
# different commits also differ in code layout, which moves unchanged ops by a few %: compare the
# ops a change touches. docs/SPEED.md uses it for every "before -> after" per op.
#   scripts/perop-ab.sh MODEL.rtg ROUNDS THREADS BINARY...
set -euo pipefail
model=$1 rounds=$2 threads=$3; shift 3
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for ((r = 0; r < rounds; r++)); do
    if ((r % 2 == 0)); then order=("$@"); else order=(); for ((i = $#; i > 0; i--)); do order+=("${!i}"); done; fi
    for b in "${order[@]}"; do
        n=$(printf '%s' "$b" | sha256sum | cut -c1-8)
        "$b" bench "$model" --threads "$threads" --runs 60 --warmup 10 --per-op > "$out/$n.$r.txt"
    done
done
python3 - "$out" "$@" <<'PY'
import glob, hashlib, re, sys
out, binaries = sys.argv[1], sys.argv[2:]
ops, whole = {}, {}
for b in binaries:
    n = hashlib.sha256(b.encode()).hexdigest()[:8]
    for f in sorted(glob.glob(f"{out}/{n}.*.txt")):
        for line in open(f):
            m = re.match(r"\s+op\s+(\d+)\s+(\S+)\s+(\S+)\s+([\d.]+) ms", line)
            if m:
                ops.setdefault((int(m[1]), m[2], m[3]), {}).setdefault(b, []).append(float(m[4]))
            m = re.match(r"inference: min ([\d.]+)\s+median ([\d.]+)", line)
            if m:
                whole.setdefault(b, []).append((float(m[1]), float(m[2])))
print(f"{'op':<4} {'name':<12} {'type':<11}" + "".join(f"{'bin' + str(i):>10}" for i in range(len(binaries))))
sums = [0.0] * len(binaries)
for key in sorted(ops):
    row = [min(ops[key].get(b, [float("nan")])) for b in binaries]
    sums = [s + v for s, v in zip(sums, row)]
    print(f"{key[0]:<4} {key[1]:<12} {key[2]:<11}" + "".join(f"{v:10.3f}" for v in row))
print(f"{'sum of per-op minima':<29}" + "".join(f"{v:10.3f}" for v in sums))
print(f"{'whole: best minimum':<29}" + "".join(f"{min(t[0] for t in whole[b]):10.3f}" for b in binaries))
print(f"{'whole: best median':<29}" + "".join(f"{min(t[1] for t in whole[b]):10.3f}" for b in binaries))
for i, b in enumerate(binaries):
    print(f"bin{i}: {b}")
PY
