#!/usr/bin/env bash
# Builds and runs the libFuzzer targets in Fuzz/ (docs/FUZZING.md): the model-file reader, the PNG
# decoder and the DICOM reader, each under AddressSanitizer, seeded from the fixtures.
#
#   scripts/fuzz.sh [--time SECONDS] [--runs N] [--work DIR] [target...]     targets: model png dicom
#   scripts/fuzz.sh --keep CRASH NAME target    minimise a crash input into fixtures/fuzz-regressions/
#
# SwiftPM cannot link an executable with -sanitize=fuzzer, so this script compiles the library module
# a target exercises with swiftc itself: every .swift file under Sources/<module> (so new files are
# fuzzed as they land) and the C targets the module depends on, read from Package.swift. Binaries go
# to .build-fuzz/ (FUZZ_BUILD overrides), corpora and crash inputs to WORK/<target>/ (default
# .build-fuzz/work). Per target it prints executions, coverage (cov and ft of libFuzzer's last status
# line) and crashes; the exit status is 1 when a target crashed, timed out or ran out of memory.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUILD="${FUZZ_BUILD:-$ROOT/.build-fuzz}"
WORK="$BUILD/work"
VENV="${ROENTGEN_VENV:-$HOME/.cache/roentgen/venv}"
TIME=60
RUNS=-1
KEEP=""
TARGETS=()
while (($#)); do
    case "$1" in
        --time) TIME="$2"; shift 2 ;;
        --runs) RUNS="$2"; shift 2 ;;
        --work) WORK="$2"; shift 2 ;;
        --keep) KEEP="$2"; KEEP_NAME="$3"; shift 3 ;;
        -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
        model|png|dicom) TARGETS+=("$1"); shift ;;
        *) echo "fuzz.sh: unknown argument '$1'" >&2; exit 2 ;;
    esac
done
((${#TARGETS[@]})) || TARGETS=(model png dicom)

module_of() { case "$1" in model) echo RoentgenFormat ;; *) echo RoentgenImage ;; esac; }
harness_of() { case "$1" in model) echo FuzzModel ;; png) echo FuzzPNG ;; dicom) echo FuzzDICOM ;; esac; }
# Models: the fixtures' metadata ends within 27 KB (DATA is last), so 32 KB keeps it whole.
max_len_of() { case "$1" in model) echo 32768 ;; *) echo 65536 ;; esac; }

# Swift's own crash backtracer reads memory that AddressSanitizer then reports instead of the trap.
export SWIFT_BACKTRACE=enable=no
SAN=(-sanitize=fuzzer,address)
SWIFTC=(swiftc "${SAN[@]}" -O -g -parse-as-library -use-ld=lld)
CC=(clang -fsanitize=fuzzer-no-link,address -O1 -g)

# The C targets MODULE depends on, transitively, from `swift package dump-package`:
#   c NAME DIR | sys NAME DIR PKGCONFIG | lib NAME | cflag FLAG
c_dependencies() {
    # Its own scratch path: the default one is locked while anyone builds in the checkout.
    (cd "$ROOT" && swift package --scratch-path "$BUILD/package" dump-package) | python3 -c '
import json, os, sys
targets = {t["name"]: t for t in json.load(sys.stdin)["targets"]}
seen = set()
def visit(name, top):
    t = targets[name]
    d = os.path.join("Sources", name) if t.get("path") is None else t["path"]
    if not top:
        if any(f.endswith(".swift") for _, _, fs in os.walk(d) for f in fs):
            sys.exit(f"fuzz.sh: {name} is a Swift dependency; only C dependencies are built")
        if t["type"] == "system":
            print("sys", name, d, t.get("pkgConfig") or "-")
        else:
            print("c", name, d)
    for s in t.get("settings", []):
        kind = s["kind"]
        if "linkedLibrary" in kind: print("lib", kind["linkedLibrary"]["_0"])
        elif s["tool"] == "c" and "define" in kind: print("cflag", "-D" + kind["define"]["_0"])
        elif s["tool"] == "c" and "headerSearchPath" in kind: print("cflag", "-I" + os.path.join(d, kind["headerSearchPath"]["_0"]))
    for dep in t["dependencies"]:
        ref = dep.get("byName") or dep.get("target")
        if ref and ref[0] in targets and ref[0] not in seen:
            seen.add(ref[0])
            visit(ref[0], False)
visit(sys.argv[1], True)
' "$1"
}

# Compiles MODULE (and its C dependencies) into $BUILD/MODULE/, unless nothing it is built from changed.
# Sets MODULE_ARGS: what a harness needs to import and link it.
build_module() {
    local module="$1" out="$BUILD/$1" deps sources stamp
    deps="$(c_dependencies "$module")"
    mapfile -t sources < <(find "$ROOT/Sources/$module" -name '*.swift' | sort)
    local imports=(-I "$out") links=(-L "$out" -l"$module") cflags=() cfiles=() cdirs=() line kind name dir extra
    while read -r kind name dir extra; do
        case "$kind" in
            c)
                cdirs+=("$ROOT/$dir")
                mapfile -t -O "${#cfiles[@]}" cfiles < <(find "$ROOT/$dir" -name '*.c' | sort)
                if [ -f "$ROOT/$dir/include/module.modulemap" ]; then
                    imports+=(-I "$ROOT/$dir/include")
                else  # SwiftPM's generated module map: the include directory as an umbrella
                    mkdir -p "$out/modules/$name"
                    printf 'module %s {\n    umbrella "%s"\n    export *\n}\n' "$name" "$ROOT/$dir/include" \
                        > "$out/modules/$name/module.modulemap"
                    imports+=(-I "$out/modules/$name")
                fi
                cflags+=(-I "$ROOT/$dir/include") ;;
            sys)
                cdirs+=("$ROOT/$dir")
                imports+=(-I "$ROOT/$dir")
                if [ "$extra" != - ]; then
                    for line in $(pkg-config --cflags "$extra"); do imports+=(-Xcc "$line"); cflags+=("$line"); done
                    for line in $(pkg-config --libs "$extra"); do links+=("$line"); done
                fi ;;
            lib) links+=(-l"$name") ;;
            cflag) cflags+=("$name"); imports+=(-Xcc "$name") ;;
        esac
    done <<< "$deps"
    stamp="$( (echo "${SWIFTC[*]} ${CC[*]} $deps"; printf '%s\n' "${sources[@]}"; cat "${sources[@]}"
              [ ${#cdirs[@]} -eq 0 ] || find "${cdirs[@]}" -type f -print0 | sort -z | xargs -0r cat) | sha256sum)"
    if [ ! -f "$out/stamp" ] || [ "$(cat "$out/stamp")" != "$stamp" ]; then
        echo "fuzz.sh: compiling $module (${#sources[@]} Swift files, ${#cfiles[@]} C files)" >&2
        rm -rf "$out/obj" && mkdir -p "$out/obj"
        local c
        for c in "${cfiles[@]}"; do
            "${CC[@]}" "${cflags[@]}" -c "$c" -o "$out/obj/$(basename "$(dirname "$c")")-$(basename "$c" .c).o"
        done
        "${SWIFTC[@]}" -emit-library -static -emit-module -module-name "$module" \
            -emit-module-path "$out/$module.swiftmodule" "${imports[@]}" "${sources[@]}" -o "$out/lib$module.a"
        echo "$stamp" > "$out/stamp"
    fi
    MODULE_ARGS=("${imports[@]}" "${links[@]}")
    [ ${#cfiles[@]} -eq 0 ] || MODULE_ARGS+=("$out"/obj/*.o)
}

build_target() {
    local target="$1" module harness bin
    module="$(module_of "$target")"
    harness="$ROOT/Fuzz/$(harness_of "$target").swift"
    bin="$BUILD/bin/fuzz-$target"
    build_module "$module"
    mkdir -p "$BUILD/bin"
    if [ ! -x "$bin" ] || [ "$harness" -nt "$bin" ] || [ "$BUILD/$module/stamp" -nt "$bin" ]; then
        "${SWIFTC[@]}" "$harness" "${MODULE_ARGS[@]}" -o "$bin"
    fi
}

# Seeds: copied afresh every run (fixtures change); the corpus next to them only grows.
seed_target() {
    local target="$1" seeds="$WORK/$1/seeds" py="python3"
    rm -rf "$seeds" && mkdir -p "$seeds" "$WORK/$1/corpus" "$WORK/$1/crashes"
    case "$target" in
        model)
            cp "$ROOT"/fixtures/bad/*.rtg "$ROOT"/fixtures/models/*.rtg "$seeds"/
            # The valid model fixtures/bad is derived from: small, with every op the corpus covers.
            [ -x "$VENV/bin/python" ] && py="$VENV/bin/python"
            "$py" -c 'import sys; from roentgen_tools.fileformat import badfiles, serialize
sys.stdout.buffer.write(serialize(badfiles.base_model()))' > "$seeds/base-model.rtg" ;;
        png)
            find "$ROOT/fixtures" -name '*.png' -print0 | while IFS= read -r -d '' f; do
                cp "$f" "$seeds/$(echo "$f" | sha256sum | cut -c1-16).png"
            done ;;
        dicom)
            [ -x "$VENV/bin/python" ] && py="$VENV/bin/python"
            "$py" -c 'import pydicom.data; print("\n".join(pydicom.data.get_testdata_files()))' | while read -r f; do
                [ -f "$f" ] || continue  # the list names the dicomdirtests folder too
                cp "$f" "$seeds/$(echo "$f" | sha256sum | cut -c1-16)-$(basename "$f")"
            done
            # A file above max_len reaches the fuzzer truncated, without its pixels: add a 16 x 16
            # crop of each such native image (the palette, RGB and overlay examples are all large).
            "$py" - "$seeds" "$(max_len_of dicom)" <<'PY'
import os, sys, pydicom, pydicom.data
seeds, max_len = sys.argv[1], int(sys.argv[2])
for f in pydicom.data.get_testdata_files():
    if not os.path.isfile(f) or os.path.getsize(f) <= max_len:
        continue
    try:
        ds = pydicom.dcmread(f)
        if ds.file_meta.TransferSyntaxUID.is_compressed or "PixelData" not in ds:
            continue
        frame = ds.pixel_array[0] if int(ds.get("NumberOfFrames", 1)) > 1 else ds.pixel_array
        crop = frame[:16, :16]
        ds.Rows, ds.Columns = crop.shape[:2]
        if "NumberOfFrames" in ds:
            ds.NumberOfFrames = 1
        if ds.get("PlanarConfiguration", 0) == 1:
            crop = crop.transpose(2, 0, 1)
        order = ">" if ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.2" else "<"
        data = crop.astype(crop.dtype.newbyteorder(order)).tobytes()
        ds.PixelData = data + b"\0" * (len(data) % 2)
        for tag in [t for t in ds.keys() if t.group in range(0x6000, 0x6020, 2)]:
            del ds[tag]  # overlays
        ds.save_as(os.path.join(seeds, "crop-" + os.path.basename(f)))
    except Exception as e:  # a file pydicom cannot decode is a seed as it is
        print(f"fuzz.sh: no crop of {os.path.basename(f)}: {e}", file=sys.stderr)
PY
            ;;
    esac
    [ -n "$(ls "$seeds")" ] || { echo "fuzz.sh: no seeds for $target" >&2; exit 1; }
}

artifacts() { find "$1/crashes" -name 'crash-*' -o -name 'timeout-*' -o -name 'oom-*' -o -name 'leak-*' | wc -l; }

run_target() {
    local target="$1" dir="$WORK/$1" log before after crashes
    log="$dir/last.log"
    before="$(artifacts "$dir")"
    # timeout: a hard stop above libFuzzer's own, for a hang in corpus loading or shutdown.
    timeout $((TIME + 300)) "$BUILD/bin/fuzz-$target" "$dir/corpus" "$dir/seeds" \
        -dict="$ROOT/Fuzz/dict/$target.dict" -max_len="$(max_len_of "$target")" \
        -max_total_time="$TIME" -runs="$RUNS" -timeout=10 -rss_limit_mb=3072 \
        -artifact_prefix="$dir/crashes/" -print_final_stats=1 -print_pcs=0 > "$log" 2>&1 || true
    after="$(artifacts "$dir")"
    crashes=$((after - before))
    local execs cov ft
    execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)"
    cov="$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)"
    ft="$(grep -o 'ft: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)"
    if [ -z "$execs" ]; then  # libFuzzer died without its final stats: count that as a crash too
        execs="$(grep -o '^#[0-9]*' "$log" | tail -1 | tr -d '#')"
        [ "$crashes" -gt 0 ] || crashes=1
    fi
    printf '%-6s executions %-10s cov %-6s ft %-7s crashes %s\n' "$target" "${execs:-0}" "${cov:-0}" "${ft:-0}" "$crashes"
    if [ "$crashes" -gt 0 ]; then
        grep -m3 -E 'ERROR: |Fatal error|SUMMARY' "$log" | sed 's/^/    /' || true
        echo "    log: $log; inputs: $dir/crashes/" >&2
        FAILED=1
    fi
}

# The bytes the reader saw for INPUT: the model target re-seals file_size and the SHA-256, the PNG
# target every chunk CRC, so a regression file must hold the re-sealed bytes.
sealed() {
    python3 - "$1" "$2" <<'PY'
import hashlib, struct, sys, zlib
target, path = sys.argv[1], sys.argv[2]
b = bytearray(open(path, "rb").read())
if target == "model" and len(b) >= 128:
    b[16:24] = struct.pack("<Q", len(b))
    b[40:72] = hashlib.sha256(bytes(b[:40]) + bytes(b[72:])).digest()
elif target == "png":
    at = 8
    while at + 12 <= len(b):
        n = int.from_bytes(b[at:at + 4], "big")
        if n > len(b) - at - 12:
            break
        b[at + 8 + n:at + 12 + n] = zlib.crc32(bytes(b[at + 4:at + 8 + n])).to_bytes(4, "big")
        at += 12 + n
sys.stdout.buffer.write(bytes(b))
PY
}

# --keep: minimise with the binary that crashed (before the fix is built), store it re-sealed.
if [ -n "$KEEP" ]; then
    [ ${#TARGETS[@]} -eq 1 ] || { echo "fuzz.sh: --keep needs exactly one target" >&2; exit 2; }
    t="${TARGETS[0]}" dir="$WORK/${TARGETS[0]}/minimise"
    mkdir -p "$dir" "$ROOT/fixtures/fuzz-regressions/$t"
    "$BUILD/bin/fuzz-$t" -minimize_crash=1 -max_total_time=120 -exact_artifact_path="$dir/min" \
        -max_len="$(max_len_of "$t")" "$KEEP" > "$dir/log" 2>&1 || true
    [ -s "$dir/min" ] || cp "$KEEP" "$dir/min"
    sealed "$t" "$dir/min" > "$ROOT/fixtures/fuzz-regressions/$t/$KEEP_NAME"
    echo "fixtures/fuzz-regressions/$t/$KEEP_NAME: $(wc -c < "$dir/min") bytes (from $(wc -c < "$KEEP"))"
    exit 0
fi

FAILED=0
for t in "${TARGETS[@]}"; do build_target "$t"; done
for t in "${TARGETS[@]}"; do
    seed_target "$t"
    run_target "$t"
done
exit "$FAILED"
