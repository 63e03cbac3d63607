# Sourced by demo.sh and test.sh: installs what is missing, and nothing twice.
#   - Debian packages: libpng-dev and zlib1g-dev (PNG and deflated DICOM input), libjpeg62-turbo-dev and
#     libopenjp2-7-dev (JPEG and JPEG 2000 DICOM input), libopenblas-dev (float path), dcmtk (the DICOM
#     rendering peer of tools/tests/test_dcmtk.py and scripts/dcmtk_compare.py), qemu-user (runs the
#     binary as a CPU without AVX in tools/tests/test_isa_isolation.py)
#   - a Python venv for tools/ in ~/.cache/roentgen (outside the repository, so every clone reuses it)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${ROENTGEN_VENV:-$HOME/.cache/roentgen/venv}"

missing=()
for pkg in libpng-dev zlib1g-dev libjpeg62-turbo-dev libopenjp2-7-dev libopenblas-dev dcmtk qemu-user; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if ((${#missing[@]})); then
    echo "setup: installing ${missing[*]}" >&2
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

setup_python() {
    if [ ! -x "$VENV/bin/python" ]; then
        echo "setup: creating $VENV" >&2
        python3 -m venv "$VENV"
    fi
    # Dependencies only when the requirement list changed; the tools themselves every time
    # (a few seconds), so the venv always runs this checkout's code.
    local stamp="$VENV/.requirements-$(sha256sum "$ROOT/tools/requirements.txt" | cut -c1-16)"
    if [ ! -f "$stamp" ]; then
        "$VENV/bin/pip" install -q --upgrade pip
        "$VENV/bin/pip" install -q -r "$ROOT/tools/requirements.txt"
        touch "$stamp"
    fi
    "$VENV/bin/pip" install -q --no-deps --no-build-isolation --force-reinstall "$ROOT/tools" >/dev/null
    export PATH="$VENV/bin:$PATH"
}

build_release() {  # extra arguments go to swift build
    (cd "$ROOT" && swift build -c release "$@" 2>&1 | grep -Ev '^\[[0-9]+/[0-9]+\]' >&2)
    export ROENTGEN_BIN="$ROOT/.build/release/roentgen"
}

setup_tf_venv() {  # TensorFlow + onnx2tf for roentgen-peers' LiteRT conversion, in a venv of their own
    setup_python
    "$VENV/bin/python" -m roentgen_tools.litert_convert --setup >/dev/null
}
