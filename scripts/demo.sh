#!/usr/bin/env bash
# The main job: classify radiographs with the shipped int8 CNN (paper Table 2, trained on DRRs).
# Usage: scripts/demo.sh [IMAGE_OR_FOLDER...]   (default: the held-out DRRs in fixtures/heldout)
source "$(dirname "$0")/setup.sh"
build_release
cd "$ROOT"
if (($# == 0)); then set -- fixtures/heldout; fi
exec "$ROENTGEN_BIN" classify fixtures/models/cnn-int8.rtg "$@"
