#!/usr/bin/env python3
"""Roentgen's DICOM rendering against DCMTK's, on every test file pydicom ships (docs/DICOM.md
"Compared with DCMTK").

The files: those of tools/tests/test_dicom_pixels.py (pydicom's test files, the dicomdirtests tree
included, and pydicom-data's when installed), then the synthetic files of
tools/tests/test_dicom_tools.py that Roentgen decodes (VOI and Modality LUT Sequences, SIGMOID,
LINEAR_EXACT, YBR_FULL, ...: what pydicom's files lack). The first frame of each is rendered to
[0, 1] grey (or RGB) values twice:

  Roentgen  `roentgen preprocess MODEL FILE --npy OUT.npy [--window=C,W | --full-range]`, MODEL an
            identity model made for the file: an f32 .rtg whose input is the image's own size
            (Rows x Columns), 1 channel for monochrome, 3 for colour and palette, mean 0, std 1
            (roentgen-convert of a GlobalAveragePool -> Gemm ONNX graph, once per shape). With no
            resize and mean 0 / std 1, SPEC INPUT steps 4 and 5 are the identity: the tensor is
            the rendering itself (docs/DICOM.md step 6 / 7; tools/tests/test_dcmtk.py checks it
            equals `roentgen dicom-dump --image-npy` bit for bit).
  DCMTK     `dcm2pnm` (native, deflated, RLE, and JPEG 2000, which it cannot decode), `dcmj2pnm`
            (JPEG), `dcml2pnm` (JPEG-LS), with `-O` (no overlays: Roentgen does not draw them) and
            `+opw` (16-bit ASCII PGM/PPM, 0..65535, divided by 65535 here).

Three renderings per monochrome file, each with the DCMTK options that ask for the same thing:

  file    Roentgen's default (the file's first VOI LUT, else its first window with the file's VOI
          LUT Function, else min-max) against `+Wl 1`, `+Wi 1` or `+Wm`.
  window  `--window=C,W` against `+Ww C W +Wfl`, C,W chosen per file from its modality values (C
          the middle of their range, W half of it: both clipped ends and the ramp are used).
  full    `--full-range` (min-max of the frame) against `+Wm +Wfl`.
  (`+Wfl`: Roentgen's overrides are LINEAR; DCMTK would keep a SIGMOID of the file.) DCMTK's
  default, `-W` (no VOI), is not comparable: it maps the whole range the modality values could
  take (0..65535 for 16 bits stored), not the range they take.

Colour and palette images have no VOI step: one rendering, against DCMTK's default. A difference
is |Roentgen - DCMTK| in [0, 1] units, reported in 8-bit levels (x 255), max and mean over all
samples. DCMTK writes 16-bit output by truncation, so renderings computed alike differ by less
than 1/65535 (0.004 levels).

  scripts/dcmtk_compare.py [--markdown FILE] [--no-errors] [--no-synthetic] [--files NAME,...]
                           [--bin ROENTGEN]

Runs in the tools venv (pydicom, numpy, onnx, roentgen_tools); needs DCMTK (Debian `dcmtk`, which
scripts/setup.sh installs) and a release build of roentgen (ROENTGEN_BIN, default
.build/release/roentgen).
"""
from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import shutil
import subprocess
import sys
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools" / "tests"))

import pydicom  # noqa: E402

from test_dicom_pixels import FILES, JPEG, JPEG2000  # noqa: E402  (the file list and syntax sets)

JPEG_FAMILY = JPEG | {"1.2.840.10008.1.2.4.57", "1.2.840.10008.1.2.4.70"}
JPEG_LS = {"1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81"}
MONOCHROME = ("MONOCHROME1", "MONOCHROME2")
DCMTK_TOOLS = ("dcm2pnm", "dcmj2pnm", "dcml2pnm")
LEVEL = 255.0  # differences are reported in 8-bit levels


def default_bin() -> Path:
    """$ROENTGEN_BIN (relative to the repository), else .build/release/roentgen, as the tests find it."""
    p = Path(os.environ.get("ROENTGEN_BIN", ".build/release/roentgen"))
    return p if p.is_absolute() else REPO / p


def missing_dcmtk() -> list[str]:
    return [t for t in DCMTK_TOOLS if shutil.which(t) is None]


def dcmtk_version() -> str:
    """e.g. '3.6.7' (from `dcm2pnm --version`), plus the Debian package version when known."""
    out = subprocess.run(["dcm2pnm", "--version"], capture_output=True, text=True).stdout
    m = re.search(r"dcm2pnm v(\S+)", out)
    version = m.group(1) if m else "unknown"
    deb = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", "dcmtk"], capture_output=True, text=True)
    return f"{version} (Debian dcmtk {deb.stdout})" if deb.returncode == 0 and deb.stdout else version


# ---------------------------------------------------------------------------------------------
# the file's header, as pydicom reads it


@dataclass
class Header:
    syntax: str = ""
    photometric: str = "-"
    bits: str = "-/-"
    rows: int = 0
    columns: int = 0
    has_voi_lut: bool = False
    window: tuple | None = None  # first (center, width) of the file, if any
    voi_function: str = ""
    slope: float = 1.0  # Rescale Slope / Intercept (defaults 1 / 0)
    intercept: float = 0.0

    @property
    def integral_rescale(self) -> bool:
        """Whether Rescale Slope and Intercept are whole numbers (so are the modality values)."""
        return float(self.slope).is_integer() and float(self.intercept).is_integer()

    @property
    def monochrome(self) -> bool:
        return self.photometric in MONOCHROME


def read_header(path) -> Header:
    h = Header()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            ds = pydicom.dcmread(path, force=True, stop_before_pixels=True)
        except Exception:  # noqa: BLE001  (reported by both renderers)
            return h
        meta = getattr(ds, "file_meta", None)
        h.syntax = str(meta.get("TransferSyntaxUID", "")) if meta is not None else ""
        h.photometric = str(ds.get("PhotometricInterpretation", "-"))
        h.bits = f"{ds.get('BitsAllocated', '-')}/{ds.get('BitsStored', '-')}"
        if ds.get("PixelRepresentation") == 1:
            h.bits += " signed"
        for name in ("rows", "columns"):
            try:
                setattr(h, name, int(ds.get(name.capitalize(), 0) or 0))
            except (TypeError, ValueError):
                pass
        h.has_voi_lut = bool(ds.get("VOILUTSequence"))
        try:
            c, w = ds.get("WindowCenter"), ds.get("WindowWidth")
            if c is not None and w is not None:
                first = lambda v: float(v[0]) if isinstance(v, (list, pydicom.multival.MultiValue)) else float(v)  # noqa: E731
                h.window = (first(c), first(w))
        except (TypeError, ValueError, IndexError):
            pass
        f = ds.get("VOILUTFunction")
        h.voi_function = str(f[0] if isinstance(f, pydicom.multival.MultiValue) else f or "")
        try:
            h.slope = float(ds.get("RescaleSlope", 1) or 1)
            h.intercept = float(ds.get("RescaleIntercept", 0) or 0)
        except (TypeError, ValueError):
            pass
    return h


# ---------------------------------------------------------------------------------------------
# Roentgen


class IdentityModels:
    """f32 .rtg files whose input is (channels, height, width) with mean 0 and std 1: their
    `preprocess` tensor is the rendered image itself. One per shape, made once, in `folder`."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.made: dict[tuple, Path] = {}

    def get(self, channels: int, height: int, width: int) -> Path:
        key = (channels, max(height, 1), max(width, 1))
        if key not in self.made:
            path = self.folder / f"identity-{key[0]}x{key[1]}x{key[2]}.rtg"
            if not path.exists():
                self._make(path, *key)
            self.made[key] = path
        return self.made[key]

    @staticmethod
    def _make(path: Path, channels: int, height: int, width: int):
        import onnx
        from onnx import TensorProto, helper, numpy_helper

        from roentgen_tools import convert

        graph = helper.make_graph(
            [helper.make_node("GlobalAveragePool", ["input"], ["pooled"]),
             helper.make_node("Flatten", ["pooled"], ["flat"], axis=1),
             helper.make_node("Gemm", ["flat", "weight", "bias"], ["logits"], transB=1)],
            "identity",
            [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, channels, height, width])],
            [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 2])],
            [numpy_helper.from_array(np.ones((2, channels), np.float32), "weight"),
             numpy_helper.from_array(np.zeros(2, np.float32), "bias")])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
        onnx_path = path.with_suffix(".onnx")
        onnx.save(model, onnx_path)
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            status = convert.main([str(onnx_path), "-o", str(path), "--precision", "f32", "-q",
                                   "--created", "2026-01-01T00:00:00Z"])
        if status != 0:
            raise RuntimeError(f"roentgen-convert failed for {channels}x{height}x{width}: {err.getvalue().strip()}")


def _one_line(stderr: str, path) -> str:
    lines = [ln for ln in stderr.strip().splitlines() if ln.strip()]
    text = lines[0] if lines else "failed without a message"
    return text.split(f"{path}: ", 1)[-1]


def roentgen_render(binary: Path, model: Path, path, tmp: Path, option: list[str]):
    """(image [rows, columns] or [rows, columns, 3] in [0, 1], None) or (None, error line)."""
    out = tmp / "roentgen.npy"
    out.unlink(missing_ok=True)
    proc = subprocess.run([str(binary), "preprocess", str(model), str(path), "--npy", str(out), *option],
                          capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        return None, _one_line(proc.stderr, path)
    t = np.load(out)[0]  # [1, H, W, C] -> [H, W, C]
    return (t[:, :, 0] if t.shape[2] == 1 else t), None


def modality_range(binary: Path, path, tmp: Path):
    """(min, max) of the first frame's Modality LUT output (`roentgen dicom-dump`), or None."""
    out = tmp / "modality.npy"
    proc = subprocess.run([str(binary), "dicom-dump", str(path), "--npy", str(out)],
                          capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        return None
    v = np.load(out)
    return (float(v.min()), float(v.max())) if v.size else None


# ---------------------------------------------------------------------------------------------
# DCMTK


def dcmtk_program(syntax: str) -> str:
    if syntax in JPEG_FAMILY:
        return "dcmj2pnm"
    if syntax in JPEG_LS:
        return "dcml2pnm"
    return "dcm2pnm"


def read_pnm_ascii(text: str) -> np.ndarray:
    """A P2 (grey) or P3 (colour) ASCII PNM -> float64 array in [0, 1]."""
    body = re.sub(r"#[^\n]*", " ", text).split()
    magic, width, height, maxval = body[0], int(body[1]), int(body[2]), int(body[3])
    channels = {"P2": 1, "P3": 3}[magic]
    values = np.array(body[4:4 + width * height * channels], dtype=np.float64)
    if values.size != width * height * channels:
        raise ValueError(f"PNM holds {values.size} samples, its header says {width * height * channels}")
    image = values.reshape(height, width, channels) / maxval
    return image[:, :, 0] if channels == 1 else image


def dcmtk_render(path, syntax: str, tmp: Path, option: list[str]):
    """(image in [0, 1], None) or (None, DCMTK's first error line)."""
    out = tmp / "dcmtk.pnm"
    out.unlink(missing_ok=True)
    program = dcmtk_program(syntax)
    proc = subprocess.run([program, "-O", "+opw", *option, str(path), str(out)],
                          capture_output=True, text=True, timeout=120)
    # a window it cannot select is only a warning (it then renders without one): a failure here
    lines = proc.stderr.splitlines()
    ignored = any(ln.startswith("W: cannot select VOI") for ln in lines)
    if proc.returncode != 0 or not out.exists() or ignored:
        errors = [ln[3:] for ln in lines if ln.startswith(("F:", "E:"))][:1]
        if ignored:
            errors += [ln[3:].replace(" ... ignoring", "") for ln in lines if ln.startswith("W:") and "VOI" in ln]
        return None, f"{program}: " + ("; ".join(errors) if errors else (proc.stderr.strip() or f"exit {proc.returncode}"))
    return read_pnm_ascii(out.read_text()), None


# ---------------------------------------------------------------------------------------------
# the comparison


@dataclass
class Result:
    mode: str  # file | window | full
    roentgen: str  # the Roentgen option
    dcmtk: str  # the DCMTK option
    width: float | None = None  # the window width in modality units (None: a VOI LUT, or colour)
    max_levels: float | None = None
    mean_levels: float | None = None
    error: str = ""  # what failed, if one side did

    @property
    def compared(self) -> bool:
        return self.max_levels is not None

    def cell(self) -> str:
        if self.compared:
            return f"{self.max_levels:.3f} / {self.mean_levels:.3f}"
        return self.error


@dataclass
class FileReport:
    path: Path
    header: Header
    results: list[Result] = field(default_factory=list)
    roentgen_error: str = ""
    dcmtk_error: str = ""
    synthetic: bool = False  # one of test_dicom_tools.py's files, not pydicom's
    mismatch: str = ""  # both rendered, but not the same shape

    @property
    def name(self) -> str:
        p = self.path
        return f"{p.parent.name}/{p.name}" if p.parent.name != "test_files" else p.name


def window_for(rng) -> tuple[str, str]:
    """The `window` mode's (C, W) for modality values in [lo, hi]: the middle, half the range."""
    lo, hi = rng
    center = round((lo + hi) / 2)
    width = max(1, round((hi - lo) / 2))
    return str(center), str(width)


def file_option(h: Header) -> tuple[list[str], str]:
    """The DCMTK option that asks for Roentgen's default rendering of a monochrome file: its first
    VOI LUT, else its first window (with the file's VOI LUT Function), else the min-max window."""
    if h.has_voi_lut:
        return ["+Wl", "1"], "+Wl 1"
    if h.window is not None:
        return ["+Wi", "1"], "+Wi 1"
    return ["+Wm"], "+Wm"


def compare_file(path, binary: Path, models: IdentityModels, tmp: Path) -> FileReport:
    """Render `path` both ways in every mode that applies (module docstring) and compare."""
    h = read_header(path)
    report = FileReport(Path(path), h)
    colour = not h.monochrome
    model = models.get(3 if colour else 1, h.rows, h.columns)
    if colour:
        plan = [("file", [], "(default)", [], "(default)", None)]
    else:
        rng = modality_range(binary, path, tmp)
        dopt, dname = file_option(h)
        width = h.window[1] if dname == "+Wi 1" else (rng[1] - rng[0] + 1 if rng and dname == "+Wm" else None)
        plan = [("file", [], "(file)", dopt, dname, width)]
        if rng is not None:
            c, w = window_for(rng)
            plan.append(("window", [f"--window={c},{w}"], f"--window {c},{w}", ["+Ww", c, w, "+Wfl"],
                         f"+Ww {c} {w} +Wfl", float(w)))
        # +Wfl: Roentgen's overrides are LINEAR whatever the file's VOI LUT Function; DCMTK would keep it
        plan.append(("full", ["--full-range"], "--full-range", ["+Wm", "+Wfl"], "+Wm +Wfl",
                     rng[1] - rng[0] + 1 if rng else None))
    for mode, ropt, rname, dopt, dname, width in plan:
        ours, rerr = roentgen_render(binary, model, path, tmp, ropt)
        theirs, derr = dcmtk_render(path, h.syntax, tmp, dopt)
        r = Result(mode, rname, dname, width)
        if rerr or derr:
            report.roentgen_error = report.roentgen_error or (rerr or "")
            report.dcmtk_error = report.dcmtk_error or (derr or "")
            r.error = "; ".join(x for x in (f"Roentgen: {rerr}" if rerr else "", f"DCMTK: {derr}" if derr else "") if x)
        elif ours.shape != theirs.shape:
            r.error = f"shapes differ: Roentgen {ours.shape}, DCMTK {theirs.shape}"
            report.mismatch = r.error
        else:
            d = np.abs(ours.astype(np.float64) - theirs) * LEVEL
            r.max_levels, r.mean_levels = float(d.max()), float(d.mean())
        report.results.append(r)
    return report


def synthetic_files(folder: Path) -> list[Path]:
    """The decodable synthetic files of tools/tests/test_dicom_tools.py (VOI and Modality LUT
    Sequences, LINEAR_EXACT, SIGMOID, a width-1 window, MONOCHROME1 with High Bit 15, YBR_FULL,
    planar 16-bit RGB, 16-bit palette, 32-bit big endian, ...: what pydicom's files lack), written
    to `folder` as that test writes them. Empty if the test module cannot be imported."""
    try:
        from test_dicom_tools import SYNTHETIC
    except Exception as e:  # noqa: BLE001
        print(f"dcmtk_compare: no synthetic files ({type(e).__name__}: {e})", file=sys.stderr)
        return []
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, (ds, how, refusal) in SYNTHETIC.items():
        if refusal is None:
            path = folder / name
            pydicom.dcmwrite(path, ds, **(how or dict(enforce_file_format=True)))
            paths.append(path)
    return paths


def compare_all(files, binary: Path, synthetic: bool = True, log=None) -> list[FileReport]:
    """Every file of `files`, then (with `synthetic`) the synthetic files; one FileReport each."""
    reports = []
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        models = IdentityModels(tmp)
        todo = list(files) + (synthetic_files(tmp / "synthetic") if synthetic else [])
        for i, f in enumerate(todo):
            if log:
                log(f"[{i + 1}/{len(todo)}] {f.name}")
            report = compare_file(f, binary, models, tmp)
            report.synthetic = f.parent == tmp / "synthetic"
            reports.append(report)
    return reports


# ---------------------------------------------------------------------------------------------
# the table


def outcome(report: FileReport) -> str:
    if report.results and all(r.compared for r in report.results):
        return "compared"
    if report.mismatch:
        return "shapes differ"
    if report.roentgen_error and report.dcmtk_error:
        return "both fail"
    return "only DCMTK decodes" if report.roentgen_error else "only Roentgen decodes"


def _short(text: str, n: int) -> str:
    text = text.replace("|", "/")
    return text if len(text) <= n else text[:n - 3] + "..."


def window_used(report: FileReport) -> str:
    h = report.header
    if h.photometric == "-":
        return "-"
    if not h.monochrome:
        return "none (colour)"
    if h.has_voi_lut:
        return "VOI LUT (+Wl 1)"
    if h.window is not None and report.results and report.results[0].dcmtk == "+Wi 1":
        fn = f" {h.voi_function}" if h.voi_function else ""
        return f"{h.window[0]:g} / {h.window[1]:g}{fn} (+Wi 1)"
    return "min-max (+Wm)"


def error_cell(report: FileReport) -> str:
    parts = [report.mismatch] if report.mismatch else []
    if report.roentgen_error:
        parts.append(f"Roentgen: {_short(report.roentgen_error, 120)}")
    if report.dcmtk_error:
        why = " (DCMTK has no JPEG 2000 decoder)" if report.header.syntax in JPEG2000 else ""
        parts.append(f"DCMTK: {_short(report.dcmtk_error, 90)}{why}")
    return "; ".join(parts)


def _worst(reports: list[FileReport], mode: str) -> str:
    rs = [r for rep in reports for r in rep.results if r.mode == mode and r.compared]
    if not rs:
        return "-"
    return f"{max(r.max_levels for r in rs):.3f} / {max(r.mean_levels for r in rs):.3f}"


HEAD = ["| file | transfer syntax | photometric | bits | file's window (DCMTK option) | "
        "file's window | --window C,W (+Ww C W +Wfl) | --full-range (+Wm +Wfl) |",
        "|---|---|---|---|---|---|---|---|"]


def _row(name: str, h: Header, used: str, cells: list[str]) -> str:
    return "| " + " | ".join([name, h.syntax or "(none)", h.photometric, h.bits, used, *cells]) + " |"


def file_row(report: FileReport, name: str | None = None) -> str:
    name = name or (f"synthetic: {report.path.name}" if report.synthetic else report.name)
    if outcome(report) != "compared":
        return _row(name, report.header, window_used(report), [error_cell(report), "", ""])
    by = {r.mode: r for r in report.results}
    window = f"{by['window'].cell()} ({by['window'].roentgen.split()[1]})" if "window" in by else "-"
    full = by["full"].cell() if "full" in by else "-"
    return _row(name, report.header, window_used(report), [by["file"].cell(), window, full])


# 1/65535 (DCMTK truncates to 16 bits) + 1e-6 (Roentgen's values are float32), in 8-bit levels
BUCKETS = [((1 / 65535 + 1e-6) * LEVEL, "equal up to DCMTK's 16-bit truncation (<= 1/65535)"),
           (0.5 + 1e-6, "within 0.5 levels"), (2.0, "within 2 levels"), (float("inf"), "more than 2 levels")]


def _label(rep: FileReport) -> str:
    if rep.synthetic:
        return f"synthetic: {rep.path.name}"
    return f"dicomdirtests/{rep.path.name}" if "dicomdirtests" in rep.path.parts else rep.name


def summary_table(reports: list[FileReport]) -> str:
    """Files by outcome: the compared ones by their worst rendering, then those one or neither side renders."""
    rows = {}
    for rep in reports:
        out = outcome(rep)
        if out == "compared":
            worst = max(r.max_levels for r in rep.results)
            out = next(text for limit, text in BUCKETS if worst <= limit)
        rows.setdefault(out, []).append(_label(rep))
    order = [text for _, text in BUCKETS] + ["only Roentgen decodes", "only DCMTK decodes", "shapes differ", "both fail"]
    lines = ["| outcome (worst rendering of the file) | files | which |", "|---|---|---|"]
    for out in order:
        if out in rows:
            names = rows[out]
            shown = ", ".join(names) if len(names) <= 12 or out != BUCKETS[0][1] and out != "both fail" else \
                ", ".join(names[:8]) + f", ... ({len(names) - 8} more)"
            lines.append(f"| {out} | {len(names)} | {shown} |")
    return "\n".join(lines)


def markdown(reports: list[FileReport], version: str, errors: bool = True) -> str:
    """A summary line, then one row per file: pydicom's files (the dicomdirtests tree grouped by
    header and outcome, with the worst values of the group), then the synthetic ones. Cells are
    max / mean |Roentgen - DCMTK| in 8-bit levels, or what failed. `errors` False leaves out the
    files neither side renders."""
    rows, groups, synthetic_rows = [], {}, []
    for rep in reports:
        if not errors and outcome(rep) == "both fail":
            continue
        if rep.synthetic:
            synthetic_rows.append(file_row(rep))
        elif "dicomdirtests" in rep.path.parts:
            h = rep.header
            detail = "" if outcome(rep) == "compared" else error_cell(rep)
            groups.setdefault((h.syntax, h.photometric, h.bits, outcome(rep), detail), []).append(rep)
        else:
            rows.append(file_row(rep))
    for (_, _, _, out, detail), reps in groups.items():
        names = sorted(r.path.name for r in reps)
        shown = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
        label = f"dicomdirtests: {len(reps)} files ({shown})"
        if out != "compared":
            rows.append(_row(label, reps[0].header, window_used(reps[0]), [detail, "", ""]))
            continue
        used = {window_used(r) for r in reps}
        rows.append(_row(label + (", worst" if len(reps) > 1 else ""), reps[0].header,
                         used.pop() if len(used) == 1 else "each file's own (+Wi 1)",
                         [_worst(reps, "file"), _worst(reps, "window"), _worst(reps, "full")]))
    counts = {}
    for rep in reports:
        counts[outcome(rep)] = counts.get(outcome(rep), 0) + 1
    compared = [r for rep in reports for r in rep.results if r.compared]
    n_syn = sum(1 for rep in reports if rep.synthetic)
    summary = (f"DCMTK {version}. {len(reports)} files ({len(reports) - n_syn} from pydicom, {n_syn} synthetic): "
               + ", ".join(f"{n} {k}" for k, n in sorted(counts.items(), key=lambda kv: -kv[1]))
               + f"; {len(compared)} renderings compared. Cells: max / mean |Roentgen - DCMTK| in 8-bit levels "
               "(x 255 of the [0, 1] values), or what failed.")
    return "\n".join([summary, "", summary_table(reports), "", *HEAD, *rows, *synthetic_rows])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--markdown", metavar="FILE", help="also write the table to FILE")
    ap.add_argument("--files", metavar="NAME,...", help="only these pydicom test files (e.g. CT_small.dcm,"
                    "dicomdirtests/77654033/CR1/6154), and no synthetic ones")
    ap.add_argument("--no-synthetic", action="store_true", help="leave out the synthetic files of "
                    "tools/tests/test_dicom_tools.py")
    ap.add_argument("--no-errors", action="store_true", help="leave out the rows of files neither side renders")
    ap.add_argument("--bin", type=Path, default=default_bin(),
                    help="the roentgen binary (default: $ROENTGEN_BIN or .build/release/roentgen)")
    ap.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    args = ap.parse_args(argv)
    if missing := missing_dcmtk():
        print(f"dcmtk_compare: {', '.join(missing)} not found: install DCMTK (apt-get install dcmtk, "
              "or source scripts/setup.sh)", file=sys.stderr)
        return 1
    if not args.bin.is_file():
        print(f"dcmtk_compare: no roentgen binary at {args.bin} (swift build -c release, or set ROENTGEN_BIN)",
              file=sys.stderr)
        return 1
    files = FILES
    if args.files:
        files = [f for f in FILES if matches(f, args.files.split(","))]
        found = {n for f in files for n in args.files.split(",") if matches(f, [n])}
        if unknown := set(args.files.split(",")) - found:
            print(f"dcmtk_compare: not a pydicom test file: {', '.join(sorted(unknown))}", file=sys.stderr)
            return 1
    log = None if args.quiet else (lambda s: print(s, file=sys.stderr, flush=True))
    reports = compare_all(files, args.bin, synthetic=not (args.files or args.no_synthetic), log=log)
    table = markdown(reports, dcmtk_version(), errors=not args.no_errors)
    print(table)
    if args.markdown:
        Path(args.markdown).write_text(table + "\n")
    return 0


def matches(path: Path, names) -> bool:
    """Whether `path` ends with one of `names` (a file name, or a tail such as dicomdirtests/.../6154)."""
    text = path.as_posix()
    return any(text.endswith("/" + n) for n in names)


if __name__ == "__main__":
    sys.exit(main())
