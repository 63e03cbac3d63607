#!/usr/bin/env python3
"""Soak test of `roentgen classify` (docs/FUZZING.md): a folder of many images, PNG and DICOM, some
broken, classified in one run while the process's RSS is sampled from /proc/PID/status.

    scripts/soak.py [--count 10000] [--passes 1] [--out /tmp/roentgen-soak] [--bin .build/release/roentgen]

The folder is built deterministically (same files, same bytes for the same --count and --seed), outside
the repository; --passes N names it N times in one classify run (a leak grows with the passes). It passes
when every file gets exactly one result or error line per pass, each file's outcome is the expected one
(a broken file an error, a generated image a label), and RSS stays flat: the peak of the second half of
the run is at most 10 % (and 16 MiB) above the peak of the first half.
Runs under the tools' venv (pydicom, numpy, pypng); re-executes itself there when started elsewhere.
"""
import argparse
import io
import json
import os
import random
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV_PYTHON = Path(os.environ.get("ROENTGEN_VENV", Path.home() / ".cache/roentgen/venv")) / "bin" / "python"

try:
    import numpy as np
    import png
    import pydicom
    import pydicom.data
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import (DeflatedExplicitVRLittleEndian, ExplicitVRBigEndian, ExplicitVRLittleEndian,
                             ImplicitVRLittleEndian, RLELossless)
except ImportError:
    if VENV_PYTHON.exists() and Path(sys.executable) != VENV_PYTHON:
        os.execv(VENV_PYTHON, [str(VENV_PYTHON), *sys.argv])
    raise

CR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.1"


# MARK: - the folder

def smooth_image(rng, height, width, channels, maximum):
    """A blurry radiograph-like picture: low-frequency noise plus a little fine noise."""
    coarse = rng.random((height // 8 + 2, width // 8 + 2, channels))
    ys = np.linspace(0, coarse.shape[0] - 1.001, height)
    xs = np.linspace(0, coarse.shape[1] - 1.001, width)
    y0, x0 = ys.astype(int), xs.astype(int)
    fy, fx = (ys - y0)[:, None, None], (xs - x0)[None, :, None]
    img = (coarse[y0][:, x0] * (1 - fy) * (1 - fx) + coarse[y0 + 1][:, x0] * fy * (1 - fx)
           + coarse[y0][:, x0 + 1] * (1 - fy) * fx + coarse[y0 + 1][:, x0 + 1] * fy * fx)
    img = np.clip(img + 0.03 * rng.standard_normal(img.shape), 0, 1)
    return np.round(img * maximum).astype(np.uint16 if maximum > 255 else np.uint8)


def png_bytes(rng, pyrng):
    height, width = pyrng.randint(16, 384), pyrng.randint(16, 384)
    channels = pyrng.choice([1, 1, 3])
    depth = pyrng.choice([8, 16]) if channels == 1 else 8
    img = smooth_image(rng, height, width, channels, (1 << depth) - 1)
    out = io.BytesIO()
    png.Writer(width, height, greyscale=channels == 1, bitdepth=depth, interlace=pyrng.random() < 0.2) \
        .write(out, img.reshape(height, width * channels).tolist())
    return out.getvalue()


def dicom_bytes(index, rng, pyrng):
    syntax = pyrng.choice([ImplicitVRLittleEndian, ExplicitVRLittleEndian, ExplicitVRBigEndian,
                           DeflatedExplicitVRLittleEndian, RLELossless])
    height, width = pyrng.randint(16, 320), pyrng.randint(16, 320)
    photometric = pyrng.choice(["MONOCHROME2", "MONOCHROME2", "MONOCHROME1", "RGB"])
    channels = 3 if photometric == "RGB" else 1
    bits = 8 if channels == 3 else pyrng.choice([8, 16])
    stored = bits if bits == 8 else pyrng.choice([12, 16])
    img = smooth_image(rng, height, width, channels, (1 << stored) - 1)

    uid = f"2.25.{1000 + index}"
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CR_IMAGE_STORAGE
    meta.MediaStorageSOPInstanceUID = uid
    meta.TransferSyntaxUID = syntax
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID, ds.StudyInstanceUID = CR_IMAGE_STORAGE, uid, f"2.25.{7 + index // 100}"
    ds.Modality, ds.BodyPartExamined, ds.ViewPosition = "CR", "CHEST", pyrng.choice(["PA", "AP", "LL"])
    ds.Rows, ds.Columns, ds.SamplesPerPixel, ds.PhotometricInterpretation = height, width, channels, photometric
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = bits, stored, stored - 1, 0
    if channels == 3:
        ds.PlanarConfiguration = 0
    elif pyrng.random() < 0.5:
        ds.WindowCenter, ds.WindowWidth = (1 << stored) // 2, (1 << stored) // 2
        if pyrng.random() < 0.5:
            ds.RescaleSlope, ds.RescaleIntercept = 1, -pyrng.randint(0, 100)
    if syntax == RLELossless:
        ds.PixelData = img.tobytes()
        ds["PixelData"].VR = "OB" if bits == 8 else "OW"
        ds.compress(RLELossless, img if channels == 3 else img[:, :, 0])
    else:
        data = img.astype(">u2" if syntax == ExplicitVRBigEndian and bits == 16 else img.dtype).tobytes()
        ds.PixelData = data + (b"\0" if len(data) % 2 else b"")
        ds["PixelData"].VR = "OB" if bits == 8 else "OW"
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def broken(data, pyrng):
    """A damaged copy: truncated, a lying length, 64 garbage bytes, or nothing at all."""
    how = pyrng.choice(["truncate", "truncate", "lie", "lie", "garbage", "empty"])
    if how == "truncate":
        return data[:pyrng.randint(1, max(1, len(data) - 1))], how
    if how == "lie":
        b = bytearray(data)
        if b.startswith(b"\x89PNG"):
            b[8:12] = (0x7FFF0000 + pyrng.randint(0, 0xFFFF)).to_bytes(4, "big")  # IHDR length
        else:
            at = bytes(b).rfind(b"\xe0\x7f\x10\x00")  # Pixel Data: its length claims far more than is there
            if at < 0:
                return data[: len(data) // 2], "truncate"
            length_at = at + (8 if b[at + 4:at + 6] in (b"OB", b"OW") else 4)
            b[length_at:length_at + 4] = (len(b) * 4 + pyrng.randint(0, 999)).to_bytes(4, "little")
        return bytes(b), how
    if how == "garbage":
        b = bytearray(data)
        start = pyrng.randint(0, max(0, len(b) - 64))
        b[start:start + 64] = bytes(pyrng.randrange(256) for _ in range(64))
        return bytes(b), how
    return b"", how


def build(out, count, seed):
    """Writes `count` files to `out` and returns {name: expected outcome}: "ok", "error" or "any"."""
    pyrng = random.Random(seed)
    rng = np.random.default_rng(seed)
    fixture_pngs = sorted(p for p in (ROOT / "fixtures").rglob("*.png"))
    test_files = sorted(Path(f) for f in pydicom.data.get_testdata_files()
                        if Path(f).is_file() and Path(f).stat().st_size < 1 << 20 and "DICOMDIR" not in Path(f).name)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    expected = {}
    for i in range(count):
        r = pyrng.random()
        if r < 0.25:
            kind, ext, data, outcome = "fixture", "png", fixture_pngs[pyrng.randrange(len(fixture_pngs))].read_bytes(), "ok"
        elif r < 0.47:
            kind, ext, data, outcome = "gen", "png", png_bytes(rng, pyrng), "ok"
        elif r < 0.92:
            kind, ext, data, outcome = "gen", "dcm", dicom_bytes(i, rng, pyrng), "ok"
        elif r < 0.95:
            # pydicom's own test files: JPEG, no pixels, odd encodings; some decode, some fail by design
            kind, ext, data, outcome = "pydicom", "dcm", test_files[pyrng.randrange(len(test_files))].read_bytes(), "any"
        else:
            source = png_bytes(rng, pyrng) if pyrng.random() < 0.5 else dicom_bytes(i, rng, pyrng)
            ext = "png" if source.startswith(b"\x89PNG") else "dcm"
            data, kind = broken(source, pyrng)
            # 64 garbage bytes that land in DICOM pixel values are just noise: nothing to detect
            outcome = "any" if kind == "garbage" and ext == "dcm" else "error"
        name = f"{i:05d}-{kind}.{ext}"
        (out / name).write_bytes(data)
        expected[name] = outcome
    return expected


# MARK: - the run

def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except FileNotFoundError:
        pass
    return None


def soak(binary, model, folder, passes, interval):
    proc = subprocess.Popen([str(binary), "classify", str(model), *[str(folder)] * passes, "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
    reader.start()
    samples = []  # (seconds, lines so far, RSS KiB)
    start = time.monotonic()
    while proc.poll() is None:
        rss = rss_kib(proc.pid)
        if rss is not None:
            samples.append((time.monotonic() - start, len(lines), rss))
        time.sleep(interval)
    reader.join()
    return proc.returncode, proc.stderr.read(), lines, samples, time.monotonic() - start


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=10000)
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--passes", type=int, default=1, help="classify the folder this many times in one run")
    ap.add_argument("--out", type=Path, default=Path("/tmp/roentgen-soak"))
    ap.add_argument("--bin", type=Path, default=ROOT / ".build/release/roentgen")
    ap.add_argument("--model", type=Path, default=ROOT / "fixtures/models/cnn-int8.rtg")
    ap.add_argument("--interval", type=float, default=0.1, help="seconds between RSS samples")
    args = ap.parse_args()
    if args.out.resolve().is_relative_to(ROOT):
        sys.exit("soak.py: --out must be outside the repository")

    t0 = time.monotonic()
    expected = build(args.out, args.count, args.seed)
    print(f"built {len(expected)} files in {args.out} ({time.monotonic() - t0:.0f} s): "
          + ", ".join(f"{sum(v == o for v in expected.values())} {o}" for o in ("ok", "error", "any")))

    code, stderr, lines, samples, seconds = soak(args.bin, args.model, args.out, args.passes, args.interval)
    seen, wrong, unparsed = {}, [], 0
    for line in lines:
        try:
            r = json.loads(line)
        except json.JSONDecodeError:
            unparsed += 1
            continue
        name = Path(r["path"]).name
        seen[name] = seen.get(name, 0) + 1
        outcome = "error" if "error" in r else "ok"
        if expected.get(name, outcome) not in (outcome, "any"):
            wrong.append(f"{name}: expected {expected[name]}, got {r.get('error', r.get('label'))}")
    missing = sorted(set(expected) - set(seen))
    repeated = sorted(n for n, k in seen.items() if k != args.passes)
    errors = sum(1 for line in lines if '"error"' in line)

    mib = [s[2] / 1024 for s in samples]
    half = len(samples) // 2
    def at(fraction):  # RSS when that share of the files had their line
        target = fraction * len(lines)
        return next((s[2] / 1024 for s in samples if s[1] >= target), mib[-1])
    first_peak, second_peak = max(mib[:half]), max(mib[half:])
    flat = second_peak <= max(first_peak * 1.10, first_peak + 16)
    print(f"classify: exit {code}, {seconds:.0f} s, {len(lines)} lines for {len(expected)} files x {args.passes} "
          f"({errors} errors), {len(samples)} RSS samples")
    print(f"RSS MiB: start {at(0.01):.1f} (1 % of lines), middle {at(0.5):.1f}, end {at(0.99):.1f} (99 %), "
          f"last sample {mib[-1]:.1f}; peak first half {first_peak:.1f}, second half {second_peak:.1f}")
    print(f"lost lines: {len(missing)}, not {args.passes} per file: {len(repeated)}, unparsed: {unparsed}, "
          f"wrong outcome: {len(wrong)}")
    for problem in (missing[:5] + repeated[:5] + wrong[:10]):
        print("  ", problem)
    if stderr.strip():
        print("stderr:", stderr.strip()[:2000])
    ok = not missing and not repeated and not unparsed and not wrong and flat and code in (0, 1)
    print("PASS" if ok else "FAIL" + ("" if flat else ": RSS grows"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
