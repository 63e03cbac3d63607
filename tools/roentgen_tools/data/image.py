"""Image file -> input tensor, exactly SPEC.md "INPUT" steps 1-5, in binary32 arithmetic.

A PNG or a DICOM file, told apart by content (PACS exports often have no extension) as the Swift
runtime's InputImage does: a PNG through steps 1-2 here, a DICOM file through docs/DICOM.md
(data/dicom.py); both then take the same steps 3-5.

Every step is a separate numpy ufunc on float32 arrays with np.float32 scalars, so each product
and sum is rounded to binary32 exactly as the Swift side does (numpy never fuses multiply-add).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import png

from . import dicom

F32 = np.float32
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class ImageError(ValueError):
    """An image file that cannot be turned into an input tensor; the message (one line) names the file."""


@dataclass(frozen=True)
class InputImage:
    """An image file decoded to SPEC INPUT step 2's x: float32 [H, W, 1 | 3] in [0, 1]."""
    values: np.ndarray
    dicom: dict | None = None  # a DICOM file's header fields: the `dicom` object of `classify --json`

    def tensor(self, height: int, width: int, channels: int, mean=(0.0,), std=(1.0,)) -> np.ndarray:
        """Steps 3-5 -> NHWC float32 [1, height, width, channels] (Preprocess.tensor in Swift)."""
        x = self.values
        # step 3
        if channels == 1 and x.shape[2] == 3:
            r, g, b = x[:, :, 0], x[:, :, 1], x[:, :, 2]
            x = ((F32(0.299) * r + F32(0.587) * g) + F32(0.114) * b)[:, :, None]
        elif channels == 3 and x.shape[2] == 1:
            x = np.repeat(x, 3, axis=2)
        elif channels not in (1, 3):
            raise ValueError(f"model channel count {channels} is not 1 or 3")
        # step 4
        if x.shape[0] != height or x.shape[1] != width:
            x = resize_bilinear(x, height, width)
        # step 5
        mean = _per_channel(mean, channels, "mean")
        std = _per_channel(std, channels, "std")
        x = (x - mean) / std
        return np.ascontiguousarray(x[None].astype(F32, copy=False))


def read_input(path, window=None) -> InputImage:
    """Reads an image file once and decodes it as what its first bytes say it is. `window`
    applies to DICOM files: dicom.FROM_FILE (None), dicom.FULL_RANGE or (center, width)."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise ImageError(f"{path}: no such file") from None
    except OSError as e:
        raise ImageError(f"{path}: cannot read it ({e.strerror})") from None
    if not data:
        raise ImageError(f"{path}: empty file (0 bytes)")
    if data.startswith(PNG_SIGNATURE):
        return InputImage(png_values(path, data))
    if dicom.looks_like_dicom(data):
        d = dicom.read(data, path, window)
        return InputImage(d.values, d.header)
    raise ImageError(f"{path}: neither a PNG nor a DICOM file")


def to_tensor(path, height: int, width: int, channels: int, mean=(0.0,), std=(1.0,),
              window=None) -> np.ndarray:
    """PNG or DICOM file -> NHWC float32 [1, height, width, channels]."""
    return read_input(path, window).tensor(height, width, channels, mean, std)


def is_image_file(path) -> bool:
    """True when the file starts as a PNG or a DICOM file does (InputImage.isImageFile)."""
    try:
        with open(path, "rb") as f:
            prefix = f.read(132)
    except OSError:
        return False
    return prefix.startswith(PNG_SIGNATURE) or dicom.looks_like_dicom(prefix)


def list_images(folder) -> tuple[list[str], list[tuple[str, str]]]:
    """The images under `folder`, sorted, as `roentgen classify` lists them (InputImage.images):
    *.png, *.dcm and any other file whose first bytes are a PNG or DICOM start; a file named
    DICOMDIR is no image but the index of its folder tree, and every IMAGE it references is listed
    too (found ignoring case, so also when its content is not recognisable: reading it says what is
    wrong). Returns (files, problems): an unreadable DICOMDIR, or a file it references that is
    missing, as (DICOMDIR path, message); the rest of the tree is still listed."""
    found, problems = set(), []
    for here, _, files in os.walk(folder):  # strings: the paths start as `folder` is written, as in Swift
        for name in files:
            path = os.path.join(here, name)
            if name.upper() != "DICOMDIR":
                if os.path.isfile(path) and (name.lower().endswith((".png", ".dcm")) or is_image_file(path)):
                    found.add(path)
                continue
            try:
                for relative in dicom.referenced_files(path):
                    resolved = dicom.resolve(relative, here)
                    if resolved is None:
                        problems.append((path, f"references {relative}, which does not exist "
                                               f"({os.path.dirname(path)}/{relative}, case ignored)"))
                    else:
                        found.add(resolved)
            except ImageError as e:
                problems.append((path, str(e).removeprefix(f"{path}: ")))  # (path, message) as Swift reports it
    return sorted(found), problems


def decode_png(path, data: bytes | None = None):
    """Step 1 of the PNG at `path` (or of its bytes, `data`, when they are read already).
    Returns (samples uint16 [H, W, C], bitdepth 8|16, C in 1..4 incl. alpha).

    We use png.Reader.read() (raw samples, no sBIT rescaling, which libpng does not apply
    either) and expand palettes and low-bit gray ourselves, libpng-style."""
    try:
        reader = png.Reader(filename=os.fspath(path)) if data is None else png.Reader(bytes=data)
        width, height, rows, info = reader.read()
        samples = np.array([np.asarray(r, dtype=np.uint16) for r in rows], dtype=np.uint16)
    except FileNotFoundError:
        raise ImageError(f"{path}: no such file") from None
    except Exception as e:  # pypng raises many types (FormatError, ChunkError, zlib.error, ...)
        raise ImageError(f"{path}: not a readable PNG ({type(e).__name__}: {e})") from None
    if width < 1 or height < 1 or samples.size == 0:
        raise ImageError(f"{path}: empty image")
    bitdepth = info["bitdepth"]
    planes = info["planes"]
    samples = samples.reshape(height, width, planes)
    if info.get("palette") is not None and planes == 1 and not info.get("greyscale", False):
        pal = np.asarray([tuple(p)[:3] for p in info["palette"]], dtype=np.uint16)
        idx = samples[:, :, 0]
        if idx.max(initial=0) >= len(pal):
            raise ImageError(f"{path}: palette index {int(idx.max())} out of range ({len(pal)} entries)")
        return pal[idx], 8  # palette -> 8-bit RGB (alpha from tRNS would be dropped anyway)
    if bitdepth < 8:
        # libpng's gray expansion: v * 255 / (2^bits - 1), exact in integers for 1/2/4 bits
        samples = samples * 255 // (2**bitdepth - 1)
        bitdepth = 8
    if bitdepth not in (8, 16):
        raise ImageError(f"{path}: unsupported bit depth {bitdepth}")
    return samples, bitdepth


def png_values(path, data: bytes | None = None) -> np.ndarray:
    """Steps 1-2: float32 [H, W, 1 | 3], alpha dropped (not composited)."""
    samples, bitdepth = decode_png(path, data)
    planes = samples.shape[2]
    if planes in (2, 4):
        samples = samples[:, :, :planes - 1]
    # step 2: one binary32 division per sample
    return samples.astype(F32) / F32(2**bitdepth - 1)


def _per_channel(v, channels, what):
    v = np.atleast_1d(np.asarray(v, dtype=F32))
    if v.size == 1:
        v = np.repeat(v, channels)
    if v.size != channels:
        raise ValueError(f"{what}: {v.size} values for {channels} channels")
    return v.astype(F32)


def _axis_coords(n_in: int, n_out: int):
    """Source indices and fractions of SPEC step 4 for one axis, in binary32."""
    scale = F32(n_in) / F32(n_out)
    s = (np.arange(n_out, dtype=F32) + F32(0.5)) * scale - F32(0.5)
    s = np.maximum(s, F32(0))
    i0 = np.minimum(np.floor(s).astype(np.int64), n_in - 1)
    i1 = np.minimum(i0 + 1, n_in - 1)
    f = (s - i0.astype(F32)).astype(F32)
    return i0, i1, f


def resize_bilinear(p: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """p float32 [H, W, C] -> [out_h, out_w, C], bilinear, half-pixel centres, no antialiasing."""
    in_h, in_w = p.shape[:2]
    y0, y1, fy = _axis_coords(in_h, out_h)
    x0, x1, fx = _axis_coords(in_w, out_w)
    fx = fx[None, :, None]
    fy = fy[:, None, None]
    p00 = p[y0][:, x0]
    p01 = p[y0][:, x1]
    p10 = p[y1][:, x0]
    p11 = p[y1][:, x1]
    top = p00 + fx * (p01 - p00)
    bottom = p10 + fx * (p11 - p10)
    return (top + fy * (bottom - top)).astype(F32, copy=False)


def write_png(path, array: np.ndarray, bitdepth: int = 8, **kw) -> None:
    """Tiny pypng writer for fixtures and tests. array: [H, W] gray or [H, W, C] with C 1..4."""
    a = np.asarray(array)
    if a.ndim == 2:
        a = a[:, :, None]
    h, w, c = a.shape
    greyscale = c in (1, 2)
    alpha = c in (2, 4)
    writer = png.Writer(w, h, greyscale=greyscale, alpha=alpha, bitdepth=bitdepth, **kw)
    with open(path, "wb") as f:
        writer.write(f, a.reshape(h, w * c).astype(np.uint16 if bitdepth > 8 else np.uint8).tolist())
