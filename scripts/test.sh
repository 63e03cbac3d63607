#!/usr/bin/env bash
# Every test: Swift (release build, so the kernel tests run at speed) and Python (pytest,
# including the end-to-end comparison of the Swift binary with the numpy reference).
source "$(dirname "$0")/setup.sh"
setup_python
# -enable-testing: the kernel tests reach internals with @testable import, also in release; the same
# flags for the binary and the tests, so swift test reuses the build
build_release -Xswiftc -enable-testing
cd "$ROOT"
swift test -c release -Xswiftc -enable-testing 2>&1 | grep -Ev '^\[[0-9]+/[0-9]+\]'
test ${PIPESTATUS[0]} -eq 0
cd "$ROOT/tools" && python -m pytest -q -p no:cacheprovider tests
