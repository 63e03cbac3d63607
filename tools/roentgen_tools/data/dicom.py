"""DICOM file -> the [0, 1] picture that joins the PNG path at SPEC INPUT step 3 (docs/DICOM.md).

pydicom parses the file and decodes the first frame's sample words; numpy does steps 2-7 in the
arithmetic and order of the Swift reader (Sources/RoentgenImage/DICOM/PixelPipeline.swift): the
rescale in binary64 rounded once to binary32, every VOI operation on np.float32 arrays and scalars
(so numpy never widens to float64). So roentgen-reference, calibration and training see the tensor
`roentgen classify` sees, bit for bit (tests/test_dicom_tools.py; a SIGMOID window within 2 ulp).
What the Swift reader refuses is refused here, with its one-line message where the check is ours.

Element values are read from their bytes as the Swift reader reads them (US words in the data set's
byte order, text as UTF-8 with DICOM's padding trimmed), not through pydicom's value conversion:
right after dcmread every element but a sequence is still a RawDataElement.
"""
from __future__ import annotations

import io
import math
import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from pydicom.datadict import dictionary_description
from pydicom.pixels import pixel_array
from pydicom.sequence import Sequence
from pydicom.uid import (UID, DeflatedExplicitVRLittleEndian, ExplicitVRBigEndian, ExplicitVRLittleEndian,
                         ImplicitVRLittleEndian, RLELossless)

from . import image  # the module, not ImageError: image.py imports this one

F32 = np.float32

# What to do instead of the file's VOI LUT (DICOMReader.Window): FROM_FILE, FULL_RANGE, or a
# (center, width) pair of np.float32 for a LINEAR window.
FROM_FILE = None
FULL_RANGE = "full-range"

# The transfer syntaxes the Swift reader decodes (TransferSyntax.swift). Any other one is refused
# by name, even where a pydicom plugin could decode it: the tools must not train on, or calibrate
# with, files the runtime cannot read.
DECODED_SYNTAXES = frozenset({ImplicitVRLittleEndian, ExplicitVRLittleEndian, ExplicitVRBigEndian,
                              DeflatedExplicitVRLittleEndian, RLELossless})
PHOTOMETRICS = ("MONOCHROME1", "MONOCHROME2", "RGB", "YBR_FULL", "PALETTE COLOR")
# What the Swift reader decodes and this one does not yet: refused by name, never decoded differently.
RUNTIME_ONLY_PHOTOMETRICS = ("YBR_FULL_422", "YBR_RCT", "YBR_ICT")
RUNTIME_ONLY = "is not supported by the tools' reader yet (the runtime decodes it)"
MAX_PIXELS = 1 << 28  # as for PNG: a header cannot make us allocate more

# DataSetParser.allVRs: two bytes that spell one of these tell explicit from implicit VR.
_VRS = frozenset(b"AE AS AT CS DA DS DT FD FL IS LO LT OB OD OF OL OV OW PN SH SL SQ SS ST SV TM UC UI UL UN "
                 b"UR US UT UV".split())
_DECIMAL = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")  # what Swift's Double(text) takes
_INTEGER = re.compile(r"[+-]?[0-9]+")
_UNDEFINED_LENGTH = 0xFFFFFFFF

PIXEL_DATA = 0x7FE00010
SOP_CLASS_UID = 0x00080016
SAMPLES_PER_PIXEL, PHOTOMETRIC, PLANAR, FRAMES = 0x00280002, 0x00280004, 0x00280006, 0x00280008
ROWS, COLUMNS = 0x00280010, 0x00280011
BITS_ALLOCATED, BITS_STORED, HIGH_BIT, REPRESENTATION = 0x00280100, 0x00280101, 0x00280102, 0x00280103
WINDOW_CENTER, WINDOW_WIDTH, RESCALE_INTERCEPT, RESCALE_SLOPE = 0x00281050, 0x00281051, 0x00281052, 0x00281053
VOI_LUT_FUNCTION = 0x00281056
PALETTE_TABLES = ((0x00281101, 0x00281201), (0x00281102, 0x00281202), (0x00281103, 0x00281203))  # R, G, B
LUT_DESCRIPTOR, LUT_DATA = 0x00283002, 0x00283006
MODALITY_LUT_SEQUENCE, VOI_LUT_SEQUENCE = 0x00283000, 0x00283010
# The `dicom` object of `roentgen classify --json`, in its key order (the transfer syntax last).
HEADER_FIELDS = (("sop_instance_uid", 0x00080018), ("study_instance_uid", 0x0020000D), ("modality", 0x00080060),
                 ("body_part_examined", 0x00180015), ("view_position", 0x00185101))


@dataclass(frozen=True)
class DicomImage:
    values: np.ndarray  # float32 [rows, columns, 1 | 3] in [0, 1]: SPEC INPUT step 3's input
    header: dict        # HEADER_FIELDS (None where missing) and transfer_syntax_uid


class _Refused(Exception):
    """A reason the Swift reader gives in the same words; `read` puts the path in front."""


def looks_like_dicom(prefix) -> bool:
    """DICOMReader.looksLikeDICOM: "DICM" at offset 128, or a first element of group 0002 or 0008
    (little endian) with a VR or a plausible implicit length, or group 0008 big endian with a VR.
    132 bytes are enough to decide."""
    b = bytes(prefix[:132])
    if len(b) >= 132 and b[128:132] == b"DICM":
        return True
    if len(b) < 8:
        return False
    if int.from_bytes(b[0:2], "little") in (0x0002, 0x0008):
        if b[4:6] in _VRS:
            return True
        length = int.from_bytes(b[4:8], "little")
        return length < 0x10000 or length == _UNDEFINED_LENGTH
    return int.from_bytes(b[0:2], "big") == 0x0008 and b[4:6] in _VRS


def window_option(window: str | None, full_range: bool):
    """`--window C,W` / `--full-range` as `roentgen classify` parses them (DICOMWindowOption).
    Raises ValueError with the Swift message."""
    if full_range and window is not None:
        raise ValueError("--window and --full-range exclude each other")
    if full_range:
        return FULL_RANGE
    if window is None:
        return FROM_FILE
    parts = [p.strip() for p in window.split(",") if p]
    # Through binary64 to binary32 is Swift's one rounding (strtof) for every decimal below 2^49
    # with at most 8 digits after the point.
    values = [F32(float(p)) if _DECIMAL.fullmatch(p) else None for p in parts]
    if len(values) != 2 or None in values or not all(np.isfinite(values)) or not values[1] >= 1:
        raise ValueError("--window must be CENTER,WIDTH with a width >= 1, e.g. --window 2048,4096")
    return values[0], values[1]


def read(data: bytes, path, window=FROM_FILE) -> DicomImage:
    """A DICOM file's bytes -> its first frame through docs/DICOM.md steps 1-7. `path` names the
    file in errors (image.ImageError, one line)."""
    if not looks_like_dicom(data):
        raise image.ImageError(f'{path}: not a DICOM file: no "DICM" at offset 128 and no data set at offset 0')
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns about every oddity; what we refuse is an error
        try:
            ds = _pydicom(path, "not a readable DICOM file", pydicom.dcmread, io.BytesIO(data), force=True)
            syntax = _syntax(ds)
            if syntax not in DECODED_SYNTAXES:
                name = UID(syntax).name if UID(syntax).is_transfer_syntax else "unknown"
                raise _Refused(f"transfer syntax {syntax} ({name}) is not supported")
            elements = _Elements(ds, path, "little" if ds.original_encoding[1] else "big")
            header = {key: elements.string(tag) for key, tag in HEADER_FIELDS}
            header["transfer_syntax_uid"] = syntax
            return DicomImage(_pixels(ds, elements, syntax, window), header)
        except _Refused as e:
            raise image.ImageError(f"{path}: {e}") from None


def referenced_files(dicomdir) -> list[str]:
    """The Referenced File IDs (0004,1500) of a DICOMDIR's IMAGE records, in record order, as
    "/"-joined paths relative to its folder, the components as written (see `resolve`); as
    DICOMDirectory.referencedFiles in Swift. Raises ImageError for a DICOMDIR that cannot be read,
    or a reference that climbs out of its folder."""
    path = Path(dicomdir)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise image.ImageError(f"{dicomdir}: cannot read it ({e.strerror})") from None
    if not looks_like_dicom(data):
        raise image.ImageError(f'{dicomdir}: not a DICOM file: no "DICM" at offset 128 and no data set at offset 0')
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = _pydicom(dicomdir, "not a readable DICOMDIR", pydicom.dcmread, io.BytesIO(data), force=True)
        if "DirectoryRecordSequence" not in ds:
            raise image.ImageError(f"{dicomdir}: {_name(0x00041220)}: missing (not a DICOMDIR)")
        file_ids = _pydicom(dicomdir, "not a readable DICOMDIR", lambda: [
            r.ReferencedFileID for r in ds.DirectoryRecordSequence
            if str(r.get("DirectoryRecordType", "")).upper() == "IMAGE" and r.get("ReferencedFileID")])
    found = []
    for file_id in file_ids:
        parts = [file_id] if isinstance(file_id, str) else list(file_id)
        if any(p in ("", ".", "..") or "/" in p for p in parts):  # PS3.10 8.2: relative to its folder
            raise image.ImageError(f"{dicomdir}: {_name(0x00041500)} '{'/'.join(parts)}' is not a path inside "
                                   "its folder")
        found.append("/".join(parts))
    return found


def resolve(relative: str, folder) -> str | None:
    """`relative` ("/"-separated) inside `folder`, each component matched exactly or else ignoring
    case (File IDs are upper case, copied media often are not); None when one is missing."""
    path = os.fspath(folder)
    for part in relative.split("/"):
        if not os.path.exists(os.path.join(path, part)):
            try:
                names = sorted(os.listdir(path))
            except OSError:
                return None
            part = next((n for n in names if n.upper() == part.upper()), None)
            if part is None:
                return None
        path = os.path.join(path, part)
    return path


def _pydicom(path, what, call, *args, **kwargs):
    """Calls pydicom; what it raises becomes one line naming the file."""
    try:
        return call(*args, **kwargs)
    except Exception as e:  # noqa: BLE001 - pydicom raises many types (InvalidDicomError, EOFError, struct.error, ...)
        text = str(e).strip().splitlines()
        raise image.ImageError(f"{path}: {what} (pydicom: {type(e).__name__}: {text[0] if text else ''})") from None


def _syntax(ds) -> str:
    """The transfer syntax the data set is in, as the Swift reader names it: the File Meta UID (an
    "explicit" data set whose first element has no VR is implicit, as pydicom reads it), else what
    the first element says."""
    uid = _trimmed(str(ds.file_meta.get("TransferSyntaxUID") or ""))
    implicit, little = ds.original_encoding
    if uid:
        return ImplicitVRLittleEndian if uid == ExplicitVRLittleEndian and implicit else uid
    return ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian if little else ExplicitVRBigEndian


def _trimmed(text: str) -> str:
    """Bytes.trimmed: trailing spaces and NULs, leading spaces."""
    return text.rstrip(" \0").lstrip(" ")


def _name(tag: int) -> str:
    """The form of every Swift message: (7FE0,0010) Pixel Data."""
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X}) {dictionary_description(tag)}"


class _Elements:
    """The typed accessors of the Swift DataSet (DataSet.swift) over a pydicom data set or item."""

    def __init__(self, ds, path, order: str):
        self.ds = ds
        self.path = path
        self.order = order  # "little" | "big": the data set's, also for its items

    def raw(self, tag) -> bytes | None:
        element = self.ds.get_item(tag)
        return None if element is None else element.value or b""

    def uint16(self, tag, index: int = 0) -> int | None:
        b = self.raw(tag)
        if b is None:
            return None
        if len(b) < 2 * (index + 1):
            raise _Refused(f"{_name(tag)}: {len(b)} bytes, a 2-byte value is needed")
        return int.from_bytes(b[2 * index:2 * index + 2], self.order)

    def string(self, tag, first_value: bool = False) -> str | None:
        b = self.raw(tag)
        if b is None:
            return None
        text = b.decode("utf-8", "replace")
        return _trimmed(text.split("\\", 1)[0] if first_value else text)

    def numbers(self, tag) -> list[float] | None:
        """Every value of a DS or IS element, as binary64."""
        text = self.string(tag)
        if not text:
            return None
        values = []
        for part in map(_trimmed, text.split("\\")):
            if not _DECIMAL.fullmatch(part) or not math.isfinite(float(part)):
                raise _Refused(f"{_name(tag)}: '{part}' is not a number")
            values.append(float(part))
        return values

    def number(self, tag) -> float | None:
        values = self.numbers(tag)
        return None if values is None else values[0]

    def first_item(self, sequence) -> _Elements | None:
        if self.ds.get_item(sequence) is None:
            return None
        # pydicom parses an implicit VR sequence only now
        items = _pydicom(self.path, "not a readable DICOM file", lambda: self.ds[sequence].value)
        if not isinstance(items, Sequence) or not items:
            return None
        return _Elements(items[0], self.path, self.order)


@dataclass(frozen=True)
class _PixelModule:
    """PixelModule (PS3.3 C.7.6.3), validated in the Swift order."""
    rows: int
    columns: int
    samples: int
    bits_allocated: int
    bits_stored: int
    high_bit: int
    signed: bool
    planar: bool
    photometric: str
    frames: int

    @property
    def monochrome(self) -> bool:
        return self.photometric in ("MONOCHROME1", "MONOCHROME2")

    @staticmethod
    def read(el: _Elements) -> _PixelModule:
        if el.raw(PIXEL_DATA) is None:
            sop = el.string(SOP_CLASS_UID)
            raise _Refused(f"{_name(PIXEL_DATA)}: missing" + (f" (SOP Class UID {sop})" if sop is not None else ""))

        def required(tag):
            v = el.uint16(tag)
            if v is None:
                raise _Refused(f"{_name(tag)}: missing")
            return v

        rows, columns = required(ROWS), required(COLUMNS)
        if rows == 0 or columns == 0:
            raise _Refused(f"{_name(ROWS)}, {_name(COLUMNS)}: {rows} x {columns} is empty")
        samples = required(SAMPLES_PER_PIXEL)
        allocated = required(BITS_ALLOCATED)
        if allocated == 1:
            raise _Refused(f"{_name(BITS_ALLOCATED)}: 1 {RUNTIME_ONLY}")
        if allocated not in (8, 16, 32):
            raise _Refused(f"{_name(BITS_ALLOCATED)}: {allocated} is not supported (1, 8, 16 or 32)")
        stored = _default(el.uint16(BITS_STORED), allocated)
        if not 1 <= stored <= allocated:
            raise _Refused(f"{_name(BITS_STORED)}: {stored} with {allocated} bits allocated")
        high_bit = _default(el.uint16(HIGH_BIT), stored - 1)
        if not stored - 1 <= high_bit < allocated:
            raise _Refused(f"{_name(HIGH_BIT)}: {high_bit} with {stored} bits stored in {allocated}")
        representation = _default(el.uint16(REPRESENTATION), 0)
        if representation > 1:
            raise _Refused(f"{_name(REPRESENTATION)}: {representation} is not 0 or 1")
        planar = el.uint16(PLANAR) == 1
        photometric = _default(el.string(PHOTOMETRIC), "")
        if photometric in RUNTIME_ONLY_PHOTOMETRICS:
            raise _Refused(f"{_name(PHOTOMETRIC)}: '{photometric}' {RUNTIME_ONLY}")
        if photometric not in PHOTOMETRICS:
            raise _Refused(f"{_name(PHOTOMETRIC)}: '{photometric}' is not supported (MONOCHROME1, MONOCHROME2, RGB, "
                           "YBR_FULL, YBR_FULL_422, PALETTE COLOR; YBR_RCT, YBR_ICT in JPEG 2000)")
        if samples != (3 if photometric in ("RGB", "YBR_FULL") else 1):
            raise _Refused(f"{_name(SAMPLES_PER_PIXEL)}: {samples} for {photometric}")
        frames = 1
        text = el.string(FRAMES)
        if text:
            if not _INTEGER.fullmatch(text) or not 1 <= int(text) < 2**63:
                raise _Refused(f"{_name(FRAMES)}: '{text}' is not a positive integer")
            frames = int(text)
        return _PixelModule(rows, columns, samples, allocated, stored, high_bit, representation == 1, planar,
                            photometric, frames)


def _default(value, default):
    return default if value is None else value


def _pixels(ds, el: _Elements, syntax: str, window) -> np.ndarray:
    """Steps 1-7 -> float32 [rows, columns, 1 | 3]."""
    m = _PixelModule.read(el)
    x = _modality(el, m, _stored_values(ds, el, m, syntax))
    if m.monochrome:
        y = _voi(el, m, x, window)
        return (F32(1) - y if m.photometric == "MONOCHROME1" else y)[:, :, None]
    if m.photometric == "RGB":
        return _clamp01(x / F32((1 << m.bits_stored) - 1))
    if m.photometric == "YBR_FULL":
        # PS3.3 C.7.6.3.1.2, with 128 and 255 generalised to 2^(bits-1) and 2^bits - 1
        half, scale = F32(1 << (m.bits_stored - 1)), F32((1 << m.bits_stored) - 1)
        y, cb, cr = x[:, :, 0], x[:, :, 1] - half, x[:, :, 2] - half
        r = y + F32(1.402) * cr
        g = (y - F32(0.344136) * cb) - F32(0.714136) * cr
        b = y + F32(1.772) * cb
        return _clamp01(np.stack([r, g, b], axis=2) / scale)
    # PALETTE COLOR: the stored values (integers, exact in binary32 up to 2^24) index the tables
    index = x[:, :, 0].astype(np.int64)
    tables = [_LookupTable.read(el, d, t, "", m.signed) for d, t in PALETTE_TABLES]
    return np.stack([t.entry(index).astype(F32) / t.max_entry for t in tables], axis=2)


def _stored_values(ds, el: _Elements, m: _PixelModule, syntax: str) -> np.ndarray:
    """Steps 1 and 2: the first frame's stored values, int64 [rows, columns, samples]."""
    pixels = m.rows * m.columns
    too_large = _Refused(f"{_name(ROWS)}, {_name(COLUMNS)}: {m.rows} x {m.columns} is more than {MAX_PIXELS} pixels")
    if syntax == RLELossless:
        if pixels > MAX_PIXELS:
            raise too_large
    else:
        if ds.get_item(PIXEL_DATA).length == _UNDEFINED_LENGTH:
            raise _Refused(f"{_name(PIXEL_DATA)}: encapsulated (undefined length) in {UID(syntax).name}")
        have = len(el.raw(PIXEL_DATA))
        needed = pixels * m.samples * (m.bits_allocated // 8) * m.frames
        if have < needed:
            need = "more than 2^63" if needed >= 2**63 else str(needed)
            raise _Refused(f"{_name(PIXEL_DATA)}: {have} bytes, the header needs {need} ({m.rows} x {m.columns} x "
                           f"{m.samples} samples x {m.bits_allocated // 8} bytes x {m.frames} frames)")
        if pixels > MAX_PIXELS:
            raise too_large
    # pydicom decodes in the File Meta's syntax, which a file may not have: the one it was read in.
    ds.file_meta.TransferSyntaxUID = UID(syntax)
    # The sample words as stored (all Bits Allocated, unsigned): step 2 is ours, High Bit included.
    words = _pydicom(el.path, "pixel data not decodable", pixel_array, ds, index=0, raw=True,
                     rows=m.rows, columns=m.columns, samples_per_pixel=m.samples, bits_allocated=m.bits_allocated,
                     bits_stored=m.bits_allocated, pixel_representation=0, planar_configuration=int(m.planar),
                     photometric_interpretation=m.photometric, number_of_frames=m.frames)
    mask = (1 << m.bits_stored) - 1
    v = (words.astype(np.int64) >> (m.high_bit + 1 - m.bits_stored)) & mask
    if m.signed:
        v = np.where(v & (1 << (m.bits_stored - 1)), v - (mask + 1), v)
    return v.reshape(m.rows, m.columns, m.samples)


def _modality(el: _Elements, m: _PixelModule, stored: np.ndarray) -> np.ndarray:
    """Steps 3-5: monochrome through the Modality LUT, colour and palette as they are (float32)."""
    if not m.monochrome:
        return stored.astype(F32)
    item = el.first_item(MODALITY_LUT_SEQUENCE)
    if item is not None:
        lut = _LookupTable.read(item, LUT_DESCRIPTOR, LUT_DATA, f"{_name(MODALITY_LUT_SEQUENCE)} ", m.signed)
        return lut.entry(stored).astype(F32)
    slope = _default(el.number(RESCALE_SLOPE), 1.0)
    intercept = _default(el.number(RESCALE_INTERCEPT), 0.0)
    # one binary64 multiply and add, rounded once: np.float32(apply_modality_lut(...)) exactly
    return (stored.astype(np.float64) * slope + intercept).astype(F32)


def _voi(el: _Elements, m: _PixelModule, x: np.ndarray, window) -> np.ndarray:
    """Step 6: monochrome modality values [rows, columns, 1] to [0, 1], float32 [rows, columns]."""
    x = x[:, :, 0]
    if window == FULL_RANGE:
        return _full_range(x)
    if window is not FROM_FILE:
        center, width = window
        if not (np.isfinite(center) and np.isfinite(width) and width >= 1):
            raise _Refused(f"window override: width {width} must be >= 1")
        return _linear(x, F32(center), F32(width))
    item = el.first_item(VOI_LUT_SEQUENCE)
    if item is not None:
        lut = _LookupTable.read(item, LUT_DESCRIPTOR, LUT_DATA, f"{_name(VOI_LUT_SEQUENCE)} ", m.signed)
        # modality values index the LUT after rounding down (they are integers unless rescaled)
        down = np.clip(np.floor(x), F32(-9.0e18), F32(9.0e18))
        index = np.where(np.isnan(down), F32(0), down).astype(np.int64)
        return lut.entry(index).astype(F32) / lut.max_entry
    centers = el.numbers(WINDOW_CENTER)
    widths = el.numbers(WINDOW_WIDTH) if centers else None
    if not widths:
        return _full_range(x)
    c, w = F32(centers[0]), F32(widths[0])
    function = _default(el.string(VOI_LUT_FUNCTION, first_value=True), "LINEAR")
    if function in ("LINEAR", ""):
        if not w >= 1:
            raise _Refused(f"{_name(WINDOW_WIDTH)}: {widths[0]} must be >= 1 for LINEAR")
        return _linear(x, c, w)
    if function not in ("LINEAR_EXACT", "SIGMOID"):
        raise _Refused(f"{_name(VOI_LUT_FUNCTION)}: '{function}' is not LINEAR, LINEAR_EXACT or SIGMOID")
    if not w > 0:
        raise _Refused(f"{_name(WINDOW_WIDTH)}: {widths[0]} must be > 0 for {function}")
    if function == "LINEAR_EXACT":
        h = w / F32(2)
        return _window(x, c - h, c + h, _clamp01((x - c) / w + F32(0.5)))
    t = (F32(-4) * (x - c)) / w
    # Swift calls the C library's expf. exp in binary64 rounded once to binary32 is within 1 ulp of
    # glibc's (0.01 % of arguments differ; numpy's float32 exp: 11 %, 2 ulp), so y is within 2 ulp.
    with np.errstate(over="ignore"):
        e = np.exp(t.astype(np.float64)).astype(F32)
    return F32(1) / (F32(1) + e)


def _linear(x, c, w):
    """C.11.2.1.2.1: below (c - 0.5) - (w - 1)/2 -> 0, above (c - 0.5) + (w - 1)/2 -> 1."""
    a, d = c - F32(0.5), w - F32(1)
    h = d / F32(2)
    with np.errstate(divide="ignore", invalid="ignore"):  # d = 0 (width 1): no value lies between
        between = _clamp01((x - a) / d + F32(0.5))
    return _window(x, a - h, a + h, between)


def _window(x, lower, upper, between):
    return np.where(x <= lower, F32(0), np.where(x > upper, F32(1), between)).astype(F32)


def _full_range(x):
    """No window: (x - min) / (max - min) over the frame; a constant frame becomes 0."""
    lo, hi = x.min(), x.max()
    if not hi > lo:
        return np.zeros_like(x)
    return _clamp01((x - lo) / (hi - lo))


def _clamp01(x):
    return np.minimum(np.maximum(x, F32(0)), F32(1))


@dataclass(frozen=True)
class _LookupTable:
    """A Modality, VOI or palette LUT (PS3.3 C.11.1, C.11.2, C.7.6.3.1.5): LookupTable in Swift."""
    first: int
    entries: np.ndarray  # uint16
    max_entry: np.float32  # f32(2^bits - 1)

    @staticmethod
    def read(el: _Elements, descriptor, data, context: str, first_is_signed: bool) -> _LookupTable:
        count, first, bits = el.uint16(descriptor), el.uint16(descriptor, 1), el.uint16(descriptor, 2)
        if count is None:
            raise _Refused(f"{context}{_name(descriptor)}: missing")
        count = count or 65536  # 0 means 2^16 entries
        if first_is_signed and first >= 0x8000:  # the first mapped value is US or SS like the pixels
            first -= 0x10000
        if not 8 <= bits <= 16:
            raise _Refused(f"{context}{_name(descriptor)}: {bits} bits per entry (8..16)")
        raw = el.raw(data)
        if raw is None:
            raise _Refused(f"{context}{_name(data)}: missing")
        if bits == 8 and len(raw) in (count, count + 1):  # one byte per entry (OB, padded to even)
            entries = np.frombuffer(raw, np.uint8, count).astype(np.uint16)
        else:
            if len(raw) < 2 * count:
                raise _Refused(f"{context}{_name(data)}: {len(raw)} bytes, the descriptor needs {2 * count}")
            entries = np.frombuffer(raw, ">u2" if el.order == "big" else "<u2", count).astype(np.uint16)
        return _LookupTable(first, entries, F32((1 << bits) - 1))

    def entry(self, values: np.ndarray) -> np.ndarray:
        """Values below the first mapped one take entry 0, above the last the last entry."""
        return self.entries[np.clip(values - self.first, 0, self.entries.size - 1)]
