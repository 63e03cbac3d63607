"""Labelled radiograph collections -> (path, label) samples, and the paper's data recipe.

Three layouts (``detect`` picks one):

* **IRMA / ImageCLEF 2009 medical annotation**: a CSV beside the image folder with one IRMA code
  per image (``image_id;irma_code`` - ``;`` or ``,`` separated, with or without a header; extra
  columns such as ``05_class`` are ignored). The image is ``<image dir>/<image_id>``,
  ``<image_id>.png`` or ``<image_id>.dcm``. The hierarchical code ``TTTT-DDD-AAA-BBB``
  (technical, directional, anatomical, biological axes) is flattened into one class: the code
  string itself (optionally only some axes, ``axes="DAB"``).
* **path,label CSV**: header ``path,label``, paths relative to the CSV (what
  ``roentgen-data drr`` writes as ``labels.csv``).
* **folder per class**: ``ROOT/<label>/``, every PNG and DICOM file under it as
  ``image.list_images`` finds them (DICOM by content, so with or without extension; a DICOMDIR as
  the index of its folder tree).

Images are PNG or DICOM files, told apart by content (``image.read_input``).

Bad rows (missing file, unknown code, empty label, and - when the images are loaded -
unreadable images) are reported with their CSV line and skipped; they are never fatal.

The paper's recipe: drop classes with fewer than ``min_count`` (50) images, then split 90 % /
10 % stratified by class with a fixed seed (``stratified_split``).
"""
from __future__ import annotations

import csv
import os
import re
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..data import image

IRMA_RE = re.compile(r"^([0-9a-z]{4})-([0-9a-z]{3})-([0-9a-z]{3})-([0-9a-z]{3})$")
IRMA_AXES = "TDAB"
ID_COLUMNS = ("image_id", "imageid", "image", "id", "file", "filename", "path")
CODE_COLUMNS = ("irma_code", "irmacode", "irma", "code")
IMAGE_EXTS = (".png", ".dcm")


class DatasetError(ValueError):
    pass


@dataclass(frozen=True)
class Sample:
    path: str
    label: str
    where: str = ""   # "file:line" of the row it came from (for messages)


@dataclass
class Problem:
    where: str
    message: str

    def __str__(self):
        return f"{self.where}: {self.message}"


def flatten_irma(code: str, axes: str = IRMA_AXES) -> str | None:
    """'1121-120-200-700' -> one class label (the code restricted to `axes`), None if the code is
    not a valid IRMA code."""
    m = IRMA_RE.match(code.strip().lower())
    if not m:
        return None
    parts = dict(zip(IRMA_AXES, m.groups()))
    return "-".join(parts[a] for a in axes)


def _sniff_rows(path: Path):
    text = path.read_text(encoding="utf-8-sig")
    first = text.splitlines()[0] if text.strip() else ""
    delim = ";" if first.count(";") > first.count(",") else ("\t" if "\t" in first and "," not in first else ",")
    rows = list(csv.reader(text.splitlines(), delimiter=delim))
    return rows


def read_irma(csv_path, image_dir=None, axes: str = IRMA_AXES):
    """Returns (samples, problems). image_dir defaults to the CSV's folder (or a subfolder named
    like the CSV stem, or 'images', if present)."""
    csv_path = Path(csv_path)
    if image_dir is None:
        cands = [csv_path.parent / csv_path.stem, csv_path.parent / "images", csv_path.parent]
        image_dir = next((c for c in cands if c.is_dir()), csv_path.parent)
    image_dir = Path(image_dir)
    rows = _sniff_rows(csv_path)
    samples, problems = [], []
    if not rows:
        return samples, [Problem(str(csv_path), "empty CSV")]
    header = [h.strip().lower() for h in rows[0]]
    id_col = next((header.index(c) for c in ID_COLUMNS if c in header), None)
    code_col = next((header.index(c) for c in CODE_COLUMNS if c in header), None)
    start = 1
    if id_col is None or code_col is None:
        if len(rows[0]) >= 2 and flatten_irma(rows[0][1]) is not None:  # no header
            id_col, code_col, start = 0, 1, 0
        else:
            raise DatasetError(f"{csv_path}: header {rows[0]} names no image id column ({', '.join(ID_COLUMNS)}) "
                               f"and IRMA code column ({', '.join(CODE_COLUMNS)})")
    for i, row in enumerate(rows[start:], start=start + 1):
        where = f"{csv_path}:{i}"
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) <= max(id_col, code_col):
            problems.append(Problem(where, f"too few columns ({len(row)})"))
            continue
        ident, code = row[id_col].strip(), row[code_col].strip()
        label = flatten_irma(code, axes)
        if label is None:
            problems.append(Problem(where, f"unknown IRMA code {code!r}"))
            continue
        p = _find_image(image_dir, ident)
        if p is None:
            problems.append(Problem(where, f"missing image file for id {ident!r} in {image_dir}"))
            continue
        samples.append(Sample(os.fspath(p), label, where))
    return samples, problems


def _find_image(d: Path, ident: str):
    if not ident:
        return None
    p = d / ident
    if p.is_file():
        return p
    for ext in IMAGE_EXTS:
        q = d / (ident + ext)
        if q.is_file():
            return q
    return None


def read_csv(csv_path):
    """path,label CSV (header required, paths relative to the CSV's folder)."""
    csv_path = Path(csv_path)
    rows = _sniff_rows(csv_path)
    samples, problems = [], []
    if not rows:
        return samples, [Problem(str(csv_path), "empty CSV")]
    header = [h.strip().lower() for h in rows[0]]
    if "path" not in header or "label" not in header:
        raise DatasetError(f"{csv_path}: header must have 'path' and 'label' columns, got {rows[0]}")
    pc, lc = header.index("path"), header.index("label")
    for i, row in enumerate(rows[1:], start=2):
        where = f"{csv_path}:{i}"
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) <= max(pc, lc):
            problems.append(Problem(where, f"too few columns ({len(row)})"))
            continue
        rel, label = row[pc].strip(), row[lc].strip()
        if not label:
            problems.append(Problem(where, "empty label"))
            continue
        p = Path(rel) if os.path.isabs(rel) else csv_path.parent / rel
        if not p.is_file():
            problems.append(Problem(where, f"missing image file {rel!r}"))
            continue
        samples.append(Sample(os.fspath(p), label, where))
    return samples, problems


def read_folders(root):
    """The images under ROOT/<label>/, sorted; a DICOMDIR that cannot be read or references a
    missing file is a problem (the rest of its folder is still read)."""
    root = Path(root)
    samples, problems = [], []
    for d in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        files, found_problems = image.list_images(d)
        samples += [Sample(f, d.name, f) for f in files]
        problems += [Problem(path, message) for path, message in found_problems]
    return samples, problems


def _is_irma_csv(path: Path) -> bool:
    try:
        rows = _sniff_rows(path)
    except (OSError, UnicodeDecodeError):
        return False
    if not rows:
        return False
    header = [h.strip().lower() for h in rows[0]]
    if any(c in header for c in CODE_COLUMNS):
        return True
    return len(rows[0]) >= 2 and flatten_irma(rows[0][1]) is not None


def detect(data, fmt: str = "auto"):
    """-> (format, csv path or folder)."""
    p = Path(data)
    if fmt != "auto":
        if fmt in ("irma", "csv") and p.is_dir():
            c = _dir_csv(p, fmt)
            if c is None:
                raise DatasetError(f"{data}: no {'IRMA' if fmt == 'irma' else 'path,label'} CSV in this folder")
            return fmt, c
        return fmt, p
    if p.is_file():
        return ("irma" if _is_irma_csv(p) else "csv"), p
    if not p.is_dir():
        raise DatasetError(f"{data}: no such file or folder")
    if (p / "labels.csv").is_file():
        return "csv", p / "labels.csv"
    c = _dir_csv(p, "irma")
    if c is not None:
        return "irma", c
    return "folder", p


def _dir_csv(p: Path, fmt):
    if fmt == "csv" and (p / "labels.csv").is_file():
        return p / "labels.csv"
    for c in sorted(p.glob("*.csv")):
        if (fmt == "irma") == _is_irma_csv(c):
            return c
    return None


def load(data, fmt: str = "auto", image_dir=None, irma_axes: str = IRMA_AXES, log=None):
    """-> samples; problems are printed (to stderr by default) and skipped."""
    log = log or (lambda m: print(m, file=sys.stderr))
    kind, where = detect(data, fmt)
    if kind == "irma":
        samples, problems = read_irma(where, image_dir, irma_axes)
    elif kind == "csv":
        samples, problems = read_csv(where)
    elif kind == "folder":
        samples, problems = read_folders(where)
    else:
        raise DatasetError(f"unknown data format {fmt!r}")
    for pr in problems:
        log(f"skipped {pr}")
    if not samples:
        raise DatasetError(f"{data}: no usable images ({len(problems)} rows skipped)")
    return samples


def drop_rare(samples, min_count: int):
    """Keeps the classes with at least min_count images. -> (kept samples, {dropped label: n})."""
    n = Counter(s.label for s in samples)
    dropped = {k: v for k, v in sorted(n.items()) if v < min_count}
    return [s for s in samples if s.label not in dropped], dropped


def class_names(samples):
    return sorted({s.label for s in samples})


def stratified_split(samples, val_fraction: float = 0.1, seed: int = 0):
    """Per class (sorted by path, then shuffled with a fixed seed) round(n * val_fraction) images
    - at least 1 when the class has 2 or more - go to validation. Deterministic for a seed."""
    rng = np.random.default_rng(seed)
    by = {}
    for s in samples:
        by.setdefault(s.label, []).append(s)
    train, val = [], []
    for label in sorted(by):
        items = sorted(by[label], key=lambda s: s.path)
        order = rng.permutation(len(items))
        k = int(round(len(items) * val_fraction))
        if val_fraction > 0 and k == 0 and len(items) >= 2:
            k = 1
        val += [items[i] for i in order[:k]]
        train += [items[i] for i in order[k:]]
    return train, val


def load_arrays(samples, size: int = 128, channels: int = 1, log=None, progress=False):
    """Decodes and preprocesses every image exactly as the runtime does (SPEC "INPUT", mean 0,
    std 1) -> (float32 [N, size, size, channels] NHWC, kept samples). Unreadable images are
    reported with their row and skipped."""
    log = log or (lambda m: print(m, file=sys.stderr))
    xs, kept = [], []
    it = samples
    if progress:
        from tqdm import tqdm
        it = tqdm(samples, desc="loading images", unit="img", leave=False)
    for s in it:
        try:
            x = image.to_tensor(s.path, size, size, channels)
        except (image.ImageError, OSError, ValueError) as e:
            log(f"skipped {s.where or s.path}: unreadable image {s.path}: {e}")
            continue
        xs.append(x.reshape(size, size, channels))
        kept.append(s)
    if not xs:
        return np.zeros((0, size, size, channels), np.float32), kept
    return np.stack(xs).astype(np.float32), kept
