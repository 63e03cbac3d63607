#!/usr/bin/env bash
# Converts one ONNX model with every calibration method and runs `roentgen verify` on each:
#   scripts/calibration-sweep.sh MODEL.onnx LABELS.txt CALIB_DIR DATA OUT_DIR
# DATA as for `roentgen verify` (class folders or a CSV). Writes OUT_DIR/f32.rtg, OUT_DIR/<method>.rtg,
# a verify report per method in OUT_DIR/<method>/ and prints one line per method.
# Needs roentgen-convert on PATH (the tools venv) and the Swift binary (ROENTGEN_BIN or .build/release).
set -euo pipefail
[ $# -eq 5 ] || { echo "usage: $0 MODEL.onnx LABELS.txt CALIB_DIR DATA OUT_DIR" >&2; exit 64; }
onnx=$1 labels=$2 calib=$3 data=$4 out=$5
bin=${ROENTGEN_BIN:-$(cd "$(dirname "$0")/.." && pwd)/.build/release/roentgen}
mkdir -p "$out"
roentgen-convert "$onnx" -o "$out/f32.rtg" --precision f32 --labels "$labels" -q
printf '%-18s %9s %9s %9s %8s  %s\n' method agreement float int8 drop_pt worst_layer
for spec in minmax percentile:99.99 percentile:99.999 entropy; do
    method=${spec%%:*} name=${spec/:/-}
    extra=()
    [ "$method" = percentile ] && extra=(--percentile "${spec#*:}")
    roentgen-convert "$onnx" -o "$out/$name.rtg" --precision int8 --calib "$calib" --labels "$labels" \
        --calib-method "$method" "${extra[@]}" > "$out/$name.convert.txt"
    set +e
    "$bin" verify --float "$out/f32.rtg" --int8 "$out/$name.rtg" "$data" --json --report "$out/$name" \
        > "$out/$name.json" 2> "$out/$name.stderr"
    set -e
    python3 - "$name" "$out/$name.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[2]))
f = lambda v: "n/a" if v is None else f"{v * 100:.2f}"
print(f"{sys.argv[1]:<18} {f(s['agreement']):>9} {f(s['float_accuracy']):>9} {f(s['int8_accuracy']):>9} "
      f"{f(s['accuracy_drop']):>8}  {s['worst_layer']}")
PY
done
