"""DICOM file -> the [0, 1] picture that joins the PNG path at SPEC INPUT step 3 (docs/DICOM.md).

pydicom parses the file and decodes the first frame's sample words (native and RLE); JPEG frames
are decoded by Pillow's libjpeg-turbo and JPEG 2000 ones by pylibjpeg-openjpeg's OpenJPEG, the
libraries the Swift runtime links, with its settings (Sources/CJPEG, Sources/COpenJPEG); bit-packed
and YBR_FULL_422 native frames are unpacked here. numpy does steps 2-7 in the arithmetic and order
of the Swift reader (Sources/RoentgenImage/DICOM/PixelPipeline.swift): the rescale in binary64
rounded once to binary32, every VOI operation on np.float32 arrays and scalars (so numpy never
widens to float64). So roentgen-reference, calibration and training see the tensor `roentgen
classify` sees, bit for bit (tests/test_dicom_tools.py; a SIGMOID window within 2 ulp). What the
Swift reader refuses is refused here, with its one-line message where the check is ours.

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
from pydicom.uid import (JPEG2000, UID, DeflatedExplicitVRLittleEndian, ExplicitVRBigEndian, ExplicitVRLittleEndian,
                         ImplicitVRLittleEndian, JPEG2000Lossless, JPEGBaseline8Bit, JPEGExtended12Bit, RLELossless)

from . import image  # the module, not ImageError: image.py imports this one

F32 = np.float32

# What to do instead of the file's VOI LUT (DICOMReader.Window): FROM_FILE, FULL_RANGE, or a
# (center, width) pair of np.float32 for a LINEAR window.
FROM_FILE = None
FULL_RANGE = "full-range"

# The transfer syntaxes the Swift reader decodes, with its names for them (TransferSyntax.swift).
# Any other one is refused by name, even where a pydicom plugin could decode it: the tools must not
# train on, or calibrate with, files the runtime cannot read.
SYNTAX_NAMES = {ImplicitVRLittleEndian: "Implicit VR Little Endian", ExplicitVRLittleEndian: "Explicit VR Little Endian",
                ExplicitVRBigEndian: "Explicit VR Big Endian",
                DeflatedExplicitVRLittleEndian: "Deflated Explicit VR Little Endian", RLELossless: "RLE Lossless",
                JPEGBaseline8Bit: "JPEG Baseline (Process 1)", JPEGExtended12Bit: "JPEG Extended (Process 2 & 4)",
                JPEG2000Lossless: "JPEG 2000 Lossless", JPEG2000: "JPEG 2000"}
DECODED_SYNTAXES = frozenset(SYNTAX_NAMES)
NATIVE_SYNTAXES = frozenset({ImplicitVRLittleEndian, ExplicitVRLittleEndian, ExplicitVRBigEndian,
                             DeflatedExplicitVRLittleEndian})
JPEG_SYNTAXES = frozenset({JPEGBaseline8Bit, JPEGExtended12Bit})
JPEG2000_SYNTAXES = frozenset({JPEG2000Lossless, JPEG2000})
# The frame's colour spaces after step 1 (PixelModule.Photometric): YBR_FULL_422 becomes YBR_FULL,
# JPEG 2000's YBR_RCT / YBR_ICT become RGB.
PHOTOMETRICS = ("MONOCHROME1", "MONOCHROME2", "RGB", "YBR_FULL", "PALETTE COLOR")
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
    photometric: str  # one of PHOTOMETRICS: the frame's colour space after step 1
    chroma422: bool   # native YBR_FULL_422: two Y samples share one Cb and one Cr
    frames: int

    @property
    def monochrome(self) -> bool:
        return self.photometric in ("MONOCHROME1", "MONOCHROME2")

    @staticmethod
    def read(el: _Elements, syntax: str) -> _PixelModule:
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
        if allocated not in (1, 8, 16, 32):
            raise _Refused(f"{_name(BITS_ALLOCATED)}: {allocated} is not supported (1, 8, 16 or 32)")
        if allocated == 1 and syntax not in NATIVE_SYNTAXES:
            raise _Refused(f"{_name(BITS_ALLOCATED)}: 1 (bit-packed) is only supported uncompressed, not in "
                           f"{SYNTAX_NAMES[syntax]}")
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
        name = _default(el.string(PHOTOMETRIC), "")
        photometric, chroma422 = name, False
        if name == "YBR_FULL_422":
            # RLE would keep the subsampled layout in its segments; no writer is known to do it.
            if syntax == RLELossless:
                raise _Refused(f"{_name(PHOTOMETRIC)}: 'YBR_FULL_422' in {SYNTAX_NAMES[syntax]} is not supported")
            photometric, chroma422 = "YBR_FULL", syntax in NATIVE_SYNTAXES  # the JPEG decoder upsamples itself
        elif name in ("YBR_RCT", "YBR_ICT"):
            # PS3.3 C.7.6.3.1.2: only in JPEG 2000, whose decoder undoes the component transform.
            if syntax not in JPEG2000_SYNTAXES:
                raise _Refused(f"{_name(PHOTOMETRIC)}: '{name}' is only defined for JPEG 2000, not "
                               f"{SYNTAX_NAMES[syntax]}")
            photometric = "RGB"
        elif name not in PHOTOMETRICS:
            raise _Refused(f"{_name(PHOTOMETRIC)}: '{name}' is not supported (MONOCHROME1, MONOCHROME2, RGB, "
                           "YBR_FULL, YBR_FULL_422, PALETTE COLOR; YBR_RCT, YBR_ICT in JPEG 2000)")
        if samples != (3 if photometric in ("RGB", "YBR_FULL") else 1):
            raise _Refused(f"{_name(SAMPLES_PER_PIXEL)}: {samples} for {name}")
        if chroma422 and columns % 2:
            raise _Refused(f"{_name(COLUMNS)}: {columns} is odd; YBR_FULL_422 pairs the pixels of a row")
        frames = 1
        text = el.string(FRAMES)
        if text:
            if not _INTEGER.fullmatch(text) or not 1 <= int(text) < 2**63:
                raise _Refused(f"{_name(FRAMES)}: '{text}' is not a positive integer")
            frames = int(text)
        return _PixelModule(rows, columns, samples, allocated, stored, high_bit, representation == 1, planar,
                            photometric, chroma422, frames)


def _default(value, default):
    return default if value is None else value


def _pixels(ds, el: _Elements, syntax: str, window) -> np.ndarray:
    """Steps 1-7 -> float32 [rows, columns, 1 | 3]."""
    m = _PixelModule.read(el, syntax)
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
    if syntax in JPEG_SYNTAXES or syntax in JPEG2000_SYNTAXES:
        if pixels > MAX_PIXELS:
            raise too_large
        codestream = _first_frame_data(_fragments(ds, el, syntax), m.frames)
        decode = _jpeg_frame if syntax in JPEG_SYNTAXES else _jpeg2000_frame
        return decode(codestream, m, syntax).reshape(m.rows, m.columns, m.samples)
    if syntax == RLELossless:
        if pixels > MAX_PIXELS:
            raise too_large
    else:
        if ds.get_item(PIXEL_DATA).length == _UNDEFINED_LENGTH:
            raise _Refused(f"{_name(PIXEL_DATA)}: encapsulated (undefined length) in {SYNTAX_NAMES[syntax]}")
        have = len(el.raw(PIXEL_DATA))
        stored_samples = 2 if m.chroma422 else m.samples  # YBR_FULL_422: Y, and Cb or Cr
        frame_bits = pixels * stored_samples * m.bits_allocated
        needed_bits = frame_bits * m.frames
        needed = -(-needed_bits // 8)  # bit-packed frames are not padded
        if have < needed:
            need = "more than 2^63" if needed_bits >= 2**63 else str(needed)
            sample = "1 bit" if m.bits_allocated == 1 else f"{m.bits_allocated // 8} bytes"
            samples = "2 samples (YBR_FULL_422)" if m.chroma422 else f"{m.samples} samples"
            raise _Refused(f"{_name(PIXEL_DATA)}: {have} bytes, the header needs {need} ({m.rows} x {m.columns} x "
                           f"{samples} x {sample} x {m.frames} frames)")
        if pixels > MAX_PIXELS:
            raise too_large
        if m.bits_allocated == 1 or m.chroma422:
            return _step2(_native_frame(ds, el, m, syntax, -(-frame_bits // 8)), m)
    # pydicom decodes in the File Meta's syntax, which a file may not have: the one it was read in.
    ds.file_meta.TransferSyntaxUID = UID(syntax)
    # The sample words as stored (all Bits Allocated, unsigned): step 2 is ours, High Bit included.
    words = _pydicom(el.path, "pixel data not decodable", pixel_array, ds, index=0, raw=True,
                     rows=m.rows, columns=m.columns, samples_per_pixel=m.samples, bits_allocated=m.bits_allocated,
                     bits_stored=m.bits_allocated, pixel_representation=0, planar_configuration=int(m.planar),
                     photometric_interpretation=m.photometric, number_of_frames=m.frames)
    return _step2(words, m)


def _step2(words: np.ndarray, m: _PixelModule) -> np.ndarray:
    """Step 2 on sample words (any integer dtype) -> stored values, int64 [rows, columns, samples]."""
    mask = (1 << m.bits_stored) - 1
    v = (words.astype(np.int64) >> (m.high_bit + 1 - m.bits_stored)) & mask
    if m.signed:
        v = np.where(v & (1 << (m.bits_stored - 1)), v - (mask + 1), v)
    return v.reshape(m.rows, m.columns, m.samples)


def _native_frame(ds, el: _Elements, m: _PixelModule, syntax: str, frame_bytes: int) -> np.ndarray:
    """Frame 0 of native bit-packed or YBR_FULL_422 data as sample words [rows, columns, samples]
    (PixelPipeline.nativeFrame): bit i (least significant first, PS3.5 8.1.1) is sample i; each
    `Y1 Y2 Cb Cr` becomes `Y1 Cb Cr Y2 Cb Cr`, as pydicom expands it."""
    raw = el.raw(PIXEL_DATA)
    big = syntax == ExplicitVRBigEndian
    data = raw[:frame_bytes]
    if big and m.bits_allocated <= 8 and ds.get_item(PIXEL_DATA).VR == "OW":
        # 8-bit or bit-packed samples in OW words: big endian swapped each pair of bytes (PS3.5 A.3),
        # the pad byte of an odd count included.
        swapped = bytearray(raw[:frame_bytes + 1])
        swapped[0:len(swapped) // 2 * 2:2], swapped[1:len(swapped) // 2 * 2:2] = (
            swapped[1:len(swapped) // 2 * 2:2], swapped[0:len(swapped) // 2 * 2:2])
        data = bytes(swapped[:frame_bytes])
    if m.bits_allocated == 1:
        bits = np.unpackbits(np.frombuffer(data, np.uint8), bitorder="little")[:m.rows * m.columns * m.samples]
        if m.planar:
            return bits.reshape(m.samples, m.rows, m.columns).transpose(1, 2, 0)
        return bits.reshape(m.rows, m.columns, m.samples)
    dtype = np.dtype(f"u{m.bits_allocated // 8}").newbyteorder(">" if big else "<")
    pairs = np.frombuffer(data, dtype).reshape(m.rows, m.columns // 2, 4)  # Y1 Y2 Cb Cr
    y1, y2, cb, cr = (pairs[:, :, k] for k in range(4))
    full = np.stack([np.stack([y1, cb, cr], axis=2), np.stack([y2, cb, cr], axis=2)], axis=2)
    return full.reshape(m.rows, m.columns, 3)


# --- encapsulated frames (PS3.5 A.4) -------------------------------------------------------------------

def _fragments(ds, el: _Elements, syntax: str) -> list[bytes]:
    """The items of encapsulated Pixel Data, the Basic Offset Table first (DataSetParser.fragments).
    pydicom's value is what lies before the Sequence Delimitation Item."""
    name = SYNTAX_NAMES[syntax]
    needs = _Refused(f"{_name(PIXEL_DATA)}: {name} needs encapsulated pixel data with at least one fragment")
    if ds.get_item(PIXEL_DATA).length != _UNDEFINED_LENGTH:
        raise needs
    data, pos, items = el.raw(PIXEL_DATA), 0, []
    while pos < len(data):
        if len(data) - pos < 8:
            raise _Refused(f"{_name(PIXEL_DATA)}: encapsulated pixel data has no Sequence Delimitation Item before "
                           "the end of the data")
        group, element = int.from_bytes(data[pos:pos + 2], "little"), int.from_bytes(data[pos + 2:pos + 4], "little")
        length = int.from_bytes(data[pos + 4:pos + 8], "little")
        pos += 8
        if (group, element) != (0xFFFE, 0xE000):
            found = f"({group:04X},{element:04X})"
            if group == 0xFFFE and element in (0xE00D, 0xE0DD):
                found = _name(group << 16 | element)
            raise _Refused(f"{_name(PIXEL_DATA)}: expected a fragment Item, found {found}")
        if length == _UNDEFINED_LENGTH or length > len(data) - pos:
            raise _Refused(f"{_name(PIXEL_DATA)}: a fragment of length {length}, only {len(data) - pos} bytes remain")
        items.append(data[pos:pos + length])
        pos += length
    if len(items) < 2:
        raise needs
    return items


def _first_frame_data(fragments: list[bytes], frames: int) -> bytes:
    """Frame 0, found as pydicom finds it (PixelPipeline.firstFrameData): through the Basic Offset
    Table when it has entries; else the only fragment; else the first when there is one per frame;
    else, for one frame, all fragments joined; else the fragments up to the first whose last 10
    bytes hold FF D9 (JPEG EOI, J2K EOC)."""
    table, items = fragments[0], fragments[1:]
    if table:
        if len(table) % 4:
            raise _Refused(f"{_name(PIXEL_DATA)}: the Basic Offset Table has {len(table)} bytes, not a multiple of 4")
        first = int.from_bytes(table[0:4], "little")
        following = int.from_bytes(table[4:8], "little") if len(table) >= 8 else None
        offset, selected, boundaries = 0, [], set()
        for item in items:  # offsets count from the first fragment's Item tag; 8-byte item headers
            boundaries.add(offset)
            if offset >= first and (following is None or offset < following):
                selected.append(item)
            offset += 8 + len(item)
        boundaries.add(offset)
        if first not in boundaries or (following is not None and following not in boundaries) or not selected:
            end = "the end" if following is None else str(following)
            raise _Refused(f"{_name(PIXEL_DATA)}: the Basic Offset Table puts frame 0 at bytes {first} to {end}, "
                           "not on fragment boundaries")
        return b"".join(selected)
    if len(items) == 1 or len(items) == frames:
        return items[0]
    if frames == 1:
        return b"".join(items)
    selected = []
    for item in items:
        selected.append(item)
        if b"\xff\xd9" in item[-10:]:
            break
    return b"".join(selected)


def _decoded_values(samples: np.ndarray, precision: int, coded_signed: bool, m: _PixelModule, source: str):
    """Decoded samples (in the decoder's order) -> stored values, int64 (JPEGFrames.nativeWords): a
    sample is the low `precision` bits of a stored value; where the codestream's signedness differs
    from Pixel Representation those bits are read in Pixel Representation's (pydicom's rule, e.g.
    J2K_pixelrep_mismatch.dcm). The value must then fit in Bits Stored (so step 2 keeps it)."""
    v = samples.astype(np.int64).ravel()
    if coded_signed != m.signed:
        field = (1 << precision) - 1
        v = v & field
        if m.signed:
            v = np.where(v > field >> 1, v - (field + 1), v)
    lowest, highest = ((-(1 << (m.bits_stored - 1)), (1 << (m.bits_stored - 1)) - 1) if m.signed
                       else (0, (1 << m.bits_stored) - 1))
    bad = np.flatnonzero((v < lowest) | (v > highest))
    if bad.size:
        i = int(bad[0])
        raise _Refused(f"{_name(BITS_STORED)}: {m.bits_stored} ({'signed' if m.signed else 'unsigned'}), but {source} "
                       f"holds the value {int(v[i])} at sample {i}")
    return v


def _mismatch(m: _PixelModule, width: int, height: int, components: int, header: str) -> _Refused:
    """The first of Rows, Columns, Samples per Pixel that the codestream disagrees with."""
    if height != m.rows:
        return _Refused(f"{_name(ROWS)}: {m.rows}, but {header} has {height}")
    if width != m.columns:
        return _Refused(f"{_name(COLUMNS)}: {m.columns}, but {header} has {width}")
    return _Refused(f"{_name(SAMPLES_PER_PIXEL)}: {m.samples}, but {header} has {components} components")


def _decoder_failed(what: str, library: str, e: Exception) -> _Refused:
    text = str(e).strip().splitlines()
    return _Refused(f"{_name(PIXEL_DATA)}: {what} frame 0: not decodable ({library}: {type(e).__name__}: "
                    f"{text[0] if text else ''})")


# libjpeg-turbo (8-bit) decodes sequential and progressive DCT, Huffman or arithmetic coded; the
# other SOF types it refuses by this name (JERR_SOF_UNSUPPORTED).
_SOF_DECODED = frozenset({0xC0, 0xC1, 0xC2, 0xC9, 0xCA})
_SOF_REFUSED = frozenset({0xC3, 0xC5, 0xC6, 0xC7, 0xC8, 0xCB, 0xCD, 0xCE, 0xCF})
# The other markers with a length that jdmarker.c reads or skips (DHT, DAC, DQT, DRI, DNL, APPn, COM, SOS).
_JPEG_MARKERS_WITH_LENGTH = (_SOF_DECODED | _SOF_REFUSED | {0xC4, 0xCC, 0xDB, 0xDD, 0xDC, 0xDA, 0xFE}
                             | set(range(0xE0, 0xF0)))


@dataclass(frozen=True)
class _JPEGHeader:
    precision: int
    height: int
    width: int
    components: int
    ycbcr: bool  # libjpeg's jpeg_color_space for 3 components: YCbCr (else RGB)


def _jpeg_header(data: bytes) -> _JPEGHeader | None:
    """The markers before the first SOS, read as libjpeg-turbo's jdmarker.c reads them: the frame
    header and, for 3 components, the colour space default_decompress_parms() decides (JFIF APP0:
    YCbCr; else Adobe APP14 transform 0: RGB, 1 or other: YCbCr; else component IDs 'R' 'G' 'B': RGB,
    else YCbCr). Raises _Refused with libjpeg's message for what this reader sees it refuse; None
    where the markers are not what libjpeg reads (it would refuse them; so does `_jpeg_frame`)."""
    if len(data) >= 2 and data[:2] != b"\xff\xd8":
        raise _Refused(f"{_name(PIXEL_DATA)}: JPEG frame 0: Not a JPEG file: starts with 0x{data[0]:02x} "
                       f"0x{data[1]:02x}")
    pos, sof, jfif, adobe = 2, None, False, None
    while True:
        while pos < len(data) and data[pos] != 0xFF:  # extraneous bytes (a libjpeg warning only)
            pos += 1
        while pos < len(data) and data[pos] == 0xFF:
            pos += 1
        if pos >= len(data):
            return None
        marker, pos = data[pos], pos + 1
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:  # TEM, RSTn: no length
            continue
        if marker not in _JPEG_MARKERS_WITH_LENGTH or pos + 2 > len(data):  # SOI, EOI, unknown, cut short
            return None
        length = int.from_bytes(data[pos:pos + 2], "big")
        if length < 2:
            return None
        segment = data[pos + 2:pos + length]
        if marker in _SOF_REFUSED:
            raise _Refused(f"{_name(PIXEL_DATA)}: JPEG frame 0: Unsupported JPEG process: SOF type 0x{marker:02x}")
        if marker in _SOF_DECODED:
            if sof is not None or len(segment) < 6 or len(segment) != 6 + 3 * segment[5]:
                return None
            sof = segment
            if int.from_bytes(sof[1:3], "big") == 0 or int.from_bytes(sof[3:5], "big") == 0 or sof[5] == 0:
                raise _Refused(f"{_name(PIXEL_DATA)}: JPEG frame 0: Empty JPEG image (DNL not supported)")
        elif marker == 0xE0 and len(segment) >= 14 and segment[:5] == b"JFIF\0":
            jfif = True
        elif marker == 0xEE and len(segment) >= 12 and segment[:5] == b"Adobe":
            adobe = segment[11]
        elif marker == 0xDA:
            if sof is None:
                return None
            ids = bytes(sof[6 + 3 * k] for k in range(min(sof[5], 3)))
            ycbcr = True if jfif else adobe != 0 if adobe is not None else ids != b"RGB"
            return _JPEGHeader(sof[0], int.from_bytes(sof[1:3], "big"), int.from_bytes(sof[3:5], "big"), sof[5],
                               ycbcr)
        pos += length


def _jpeg_frame(codestream: bytes, m: _PixelModule, syntax: str) -> np.ndarray:
    """A JPEG Baseline / Extended frame as Swift's JPEGFrames.jpeg decodes it through Sources/CJPEG:
    libjpeg-turbo (Pillow's), islow IDCT, fancy upsampling, and no colour conversion - the samples
    come out in the colour space they were coded in (Pillow's draft("YCbCr") keeps YCbCr as it is).
    Stored values in libjpeg's order (interleaved)."""
    from PIL import Image  # only JPEG files need Pillow

    header = _jpeg_header(codestream)
    if header is None:  # libjpeg would refuse it too, in its words; this reader does not guess
        raise _Refused(f"{_name(PIXEL_DATA)}: JPEG frame 0: not decodable (no SOI, frame header (SOF) and scan "
                       "header (SOS) in that order)")
    if header.precision != 8:  # Debian's libjpeg62-turbo is built for 8-bit samples only
        raise _Refused(f"transfer syntax {syntax} ({SYNTAX_NAMES[syntax]}): {header.precision}-bit JPEG is not "
                       "supported (8-bit only)")
    if (header.width, header.height, header.components) != (m.columns, m.rows, m.samples):
        raise _mismatch(m, header.width, header.height, header.components, "the JPEG frame header")
    try:
        with Image.open(io.BytesIO(codestream), formats=("JPEG",)) as picture:
            if picture.size != (m.columns, m.rows) or len(picture.getbands()) != m.samples:
                raise ValueError(f"Pillow reads a {picture.mode} image of {picture.size[0]} x {picture.size[1]}")
            if m.samples == 3 and header.ycbcr:
                picture.draft("YCbCr", None)  # out_color_space = jpeg_color_space, as the shim sets it
            picture.load()
            samples = np.asarray(picture)
    except Exception as e:  # noqa: BLE001 - Pillow raises OSError, SyntaxError, ValueError, ...
        raise _decoder_failed("JPEG", "Pillow", e) from None
    return _decoded_values(samples, 8, False, m, "the 8-bit JPEG frame")


_JP2_MAGIC = b"\0\0\0\x0cjP  \r\n\x87\n"
_J2K_MAGIC = b"\xff\x4f\xff\x51"  # SOC, then SIZ


def _j2k_codestream(data: bytes) -> bytes | None:
    """The J2K codestream: `data`, or the contents of a JP2 file's Contiguous Codestream box."""
    if data.startswith(_J2K_MAGIC):
        return data
    pos = 0
    while pos + 8 <= len(data):
        length, kind, start = int.from_bytes(data[pos:pos + 4], "big"), data[pos + 4:pos + 8], pos + 8
        if length == 1:
            length, start = int.from_bytes(data[pos + 8:pos + 16], "big"), pos + 16
        end = len(data) if length == 0 else pos + length
        if kind == b"jp2c":
            return data[start:end]
        if end <= pos:
            return None
        pos = end
    return None


def _jpeg2000_frame(codestream: bytes, m: _PixelModule, syntax: str) -> np.ndarray:
    """A JPEG 2000 frame as Swift's JPEGFrames.jpeg2000 decodes it through Sources/COpenJPEG:
    OpenJPEG (pylibjpeg-openjpeg's) with the default decoder parameters, the component transform
    undone by OpenJPEG. The image header (SIZ) must match the Image Pixel module, components not
    subsampled, of one precision (1-31 bits) and signedness. Stored values in OpenJPEG's order
    (planar)."""
    import openjpeg  # pylibjpeg-openjpeg: only JPEG 2000 files need it

    is_jp2 = codestream.startswith(_JP2_MAGIC)
    if not is_jp2 and not codestream.startswith(_J2K_MAGIC):
        raise _Refused(f"{_name(PIXEL_DATA)}: JPEG 2000 frame 0: not a JPEG 2000 codestream (no SOC and SIZ markers) "
                       "or JP2 file")
    try:  # OpenJPEG's opj_read_header, which the shim calls before it looks at the header
        openjpeg.get_parameters(codestream, 2 if is_jp2 else 0)
    except Exception as e:  # noqa: BLE001
        raise _decoder_failed("JPEG 2000", "OpenJPEG", e) from None
    j2k = _j2k_codestream(codestream)
    if j2k is None or len(j2k) < 42 or len(j2k) < 42 + 3 * int.from_bytes(j2k[40:42], "big"):
        raise _Refused(f"{_name(PIXEL_DATA)}: JPEG 2000 frame 0: no complete SIZ marker segment")
    x1, y1, x0, y0 = (int.from_bytes(j2k[k:k + 4], "big") for k in (8, 12, 16, 20))
    count = int.from_bytes(j2k[40:42], "big")
    width, height = x1 - x0, y1 - y0
    if (width, height, count) != (m.columns, m.rows, m.samples):
        raise _mismatch(m, width, height, count, "the JPEG 2000 header")
    components = [((j2k[42 + 3 * c] & 0x7F) + 1, bool(j2k[42 + 3 * c] >> 7), j2k[43 + 3 * c], j2k[44 + 3 * c])
                  for c in range(count)]
    precision, signed = components[0][:2]
    unsupported = None
    for c, (prec, sgnd, dx, dy) in enumerate(components):
        if (dx, dy) != (1, 1):
            unsupported = f"component {c} is subsampled ({dx} x {dy})"
        elif (prec, sgnd) != (precision, signed):
            unsupported = (f"component {c} has {prec}-bit {'signed' if sgnd else 'unsigned'} samples, component 0 "
                           f"{precision}-bit {'signed' if signed else 'unsigned'}")
        if unsupported:
            break
    if unsupported is None and not 1 <= precision <= 31:
        unsupported = f"{precision}-bit samples (1 to 31 are supported)"
    if unsupported:
        raise _Refused(f"{_name(PIXEL_DATA)}: JPEG 2000 frame 0: {unsupported} is not supported")
    try:
        decoded = openjpeg.decode(codestream, 2 if is_jp2 else 0, reshape=False)
    except Exception as e:  # noqa: BLE001
        raise _decoder_failed("JPEG 2000", "OpenJPEG", e) from None
    size = -(-precision // 8)
    dtype = np.dtype(f"<{'i' if signed else 'u'}{4 if size == 3 else size}")
    if decoded.nbytes != m.rows * m.columns * m.samples * dtype.itemsize:
        raise _Refused(f"{_name(PIXEL_DATA)}: JPEG 2000 frame 0: decoded to {decoded.nbytes} bytes, not {m.rows} x "
                       f"{m.columns} x {m.samples} samples of {dtype.itemsize} bytes")
    # pylibjpeg-openjpeg interleaves the components; the shim (and so Swift's sample index) is planar
    planar = np.frombuffer(decoded.tobytes(), dtype).reshape(m.rows * m.columns, m.samples).T
    values = _decoded_values(planar, precision, signed, m, f"the JPEG 2000 codestream ({precision}-bit "
                                                           f"{'signed' if signed else 'unsigned'})")
    return values.reshape(m.samples, m.rows * m.columns).T


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
