#!/usr/bin/env bash
# The main job: classify a fixture radiograph with the shipped int8 model.
# Usage: scripts/demo.sh [IMAGE_OR_FOLDER...]   (default: every image in fixtures/images)
source "$(dirname "$0")/setup.sh"
build_release
cd "$ROOT"
if (($# == 0)); then set -- fixtures/images; fi
exec "$ROENTGEN_BIN" classify fixtures/models/table2-int8.rtg "$@"
