"""The tools' DICOM reader (roentgen_tools/data/dicom.py) against the Swift runtime's.

(a) Parity: for every pydicom test file (dicomdirtests included) and the synthetic files written
    here, the tools' input tensor equals `roentgen preprocess MODEL FILE --npy OUT` bit for bit, for
    both shipped models and a 3-channel model with its own mean and std, with the file's window,
    --window and --full-range. What Swift refuses the tools refuse, in the same words where the check
    is the same. Every syntax the runtime decodes the tools decode, lossy JPEG and JPEG 2000 included,
    with the same libraries (libjpeg-turbo through Pillow, OpenJPEG through pylibjpeg-openjpeg), so
    every decoded file is compared exactly; only a SIGMOID window may differ, by 2 ulp (expf). Where
    a decoder refuses a frame, the two messages name the same element and frame but quote different
    libraries' words.
(b) roentgen-reference --json on DICOM files equals `roentgen classify --json`: same files, same
    logits bit for bit, same probabilities, same `dicom` object.
(c) Training ingestion: class folders of DICOM files (written here from PNG fixtures, some without
    extension, one MONOCHROME1) load to the same arrays as the PNGs.
(d) A DICOMDIR is read as the index of its folder tree (pydicom's dicomdirtests).
Like test_swift_e2e.py this never skips: a missing binary is a failure.
"""
import io
import json
import os
import re
import shutil
import subprocess
import warnings
from pathlib import Path

import numpy as np
import openjpeg
import pydicom
import pydicom.data
import pytest
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.fileset import FileSet
from pydicom.uid import (JPEG2000, ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian,
                         JPEG2000Lossless, JPEGBaseline8Bit, JPEGExtended12Bit, RLELossless)

from cnn_factory import random_cnn
from conftest import FIXTURES, TRAINED
from roentgen_tools import convert
from roentgen_tools.data import datasets, dicom, image
from roentgen_tools.fileformat import read_model, write_model
from roentgen_tools.reference import executor as reference
from test_swift_e2e import roentgen_bin, swift_classify

F32 = np.float32
PYDICOM_FILES = Path(pydicom.data.get_testdata_file("CT_small.dcm")).parent
NOT_DICOM = {".json", ".txt", ".icc", ".gz", ".dump", ".py"}
# Swift's parser refuses a value or item longer than what is left of the file; pydicom reads it
# short, and the tools then refuse the file for another reason. Both refuse, in different words.
STRICTER_SWIFT_PARSER = {"MR_truncated.dcm", "rtplan_truncated.dcm", "dicomdirtests/DICOMDIR-nooffset"}
# (model, options): both shipped models, a 3-channel one, the file's window and both overrides.
RGB_MODEL = "rgb3"
CONFIGS = [("cnn-int8.rtg", ()), ("svm-int8.rtg", ()), (RGB_MODEL, ()), ("cnn-int8.rtg", ("--window", "40,400")),
           ("svm-int8.rtg", ("--full-range",)), (RGB_MODEL, ("--window", "1000.5,1"))]


def _pydicom_files():
    listed = {Path(f) for f in pydicom.data.get_testdata_files()} | set((PYDICOM_FILES / "dicomdirtests").rglob("*"))
    return sorted(f for f in listed if f.is_file() and f.suffix.lower() not in NOT_DICOM
                  and f.name not in ("README", "README.txt"))


FILES = _pydicom_files()


@pytest.fixture(scope="session")
def models(tmp_path_factory):
    """Model paths by name: the shipped ones and RGB_MODEL (a seeded random 3-channel CNN, 38 x 36,
    with ImageNet's mean and std) - only its input spec matters here."""
    d = tmp_path_factory.mktemp("rgb3")
    onnx_model, desc = random_cnn(4)
    assert desc["channels"] == 3
    (d / "rgb3.onnx").write_bytes(onnx_model.SerializeToString())
    write_model(convert.convert(d / "rgb3.onnx", "f32", mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225]),
                d / "rgb3.rtg")
    paths = {name: TRAINED / name for name, _ in CONFIGS if name != RGB_MODEL}
    paths[RGB_MODEL] = d / "rgb3.rtg"
    return {name: (p, read_model(p)) for name, p in paths.items()}


# --- synthetic files: what the pydicom test files do not have ---------------------------------------

def _dataset(pixels: np.ndarray, photometric="MONOCHROME2", bits_stored=None, high_bit=None, signed=False,
             syntax=ExplicitVRLittleEndian) -> Dataset:
    """An image data set holding `pixels` ([rows, columns] or [rows, columns, 3], interleaved)."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = syntax
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"  # Digital X-Ray Image Storage - For Presentation
    ds.SOPInstanceUID = "1.2.826.0.1.3680043.10.1." + str(pixels.size)
    ds.StudyInstanceUID = "1.2.826.0.1.3680043.10.2.1"
    ds.Modality, ds.BodyPartExamined, ds.ViewPosition = "DX", "CHEST", "PA"
    bits = pixels.dtype.itemsize * 8
    ds.Rows, ds.Columns = pixels.shape[:2]
    ds.SamplesPerPixel = 1 if pixels.ndim == 2 else 3
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated = bits
    ds.BitsStored = bits_stored or bits
    ds.HighBit = (ds.BitsStored - 1) if high_bit is None else high_bit
    ds.PixelRepresentation = int(signed)
    if ds.SamplesPerPixel == 3:
        ds.PlanarConfiguration = 0
    big = syntax == ExplicitVRBigEndian
    ds.PixelData = pixels.astype(pixels.dtype.newbyteorder(">" if big else "<")).tobytes()
    return ds


def _lut(count: int, first: int, bits: int, entries: np.ndarray) -> Dataset:
    """A Modality or VOI LUT Sequence item; `first` as its US bit pattern."""
    item = Dataset()
    item.add_new(0x00283002, "US", [count % 65536, first, bits])  # LUT Descriptor (0: 2^16 entries)
    item.add_new(0x00283006, "OW", np.asarray(entries, "<u2").tobytes())  # LUT Data
    return item


def _ramp(rows, cols, lo, hi, seed, dtype):
    """A smooth gradient with noise over [lo, hi]."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:rows, 0:cols]
    v = lo + (hi - lo) * (0.6 * x / max(cols - 1, 1) + 0.4 * y / max(rows - 1, 1))
    return np.clip(np.rint(v + rng.normal(0, (hi - lo) / 40, v.shape)), lo, hi).astype(dtype)


def _encapsulated(ds: Dataset, frames, syntax) -> Dataset:
    """`ds` with `frames` (codestreams) as its encapsulated Pixel Data in `syntax`."""
    ds.file_meta.TransferSyntaxUID = syntax
    ds.PixelData = encapsulate(frames)
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True
    return ds


def _pillow_jpeg(pixels: np.ndarray, **options) -> bytes:
    """An 8-bit JPEG written by Pillow (libjpeg-turbo): baseline, JFIF, YCbCr for colour by default."""
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "JPEG", **options)
    return out.getvalue()


def _jpeg_edited(data: bytes, drop=(), insert=b"", sof=None) -> bytes:
    """`data` (as Pillow writes it: no fill bytes) without the marker segments in `drop` before the
    first SOS, with `insert` after SOI and the frame header's marker changed to `sof`."""
    out, pos = bytearray(data[:2] + insert), 2
    while True:
        marker, end = data[pos + 1], pos + 2 + int.from_bytes(data[pos + 2:pos + 4], "big")
        if marker == 0xC0 and sof is not None:
            out += bytes([0xFF, sof]) + data[pos + 2:end]
        elif marker not in drop:
            out += data[pos:end]
        if marker == 0xDA:
            return bytes(out + data[end:])
        pos = end


def _adobe(transform: int) -> bytes:
    """An Adobe APP14 segment (libjpeg reads its transform flag: 0 RGB, 1 YCbCr)."""
    return b"\xff\xee\x00\x0eAdobe\x00\x64\x00\x00\x00\x00" + bytes([transform])


def _ybr_422(ybr: np.ndarray) -> np.ndarray:
    """[rows, columns, 3] YBR_FULL -> the native YBR_FULL_422 samples Y1 Y2 Cb Cr of each pair of pixels."""
    pairs = ybr.reshape(ybr.shape[0], -1, 2, 3)
    return np.stack([pairs[:, :, 0, 0], pairs[:, :, 1, 0], pairs[:, :, 0, 1], pairs[:, :, 0, 2]], axis=2)


def _synthetic():
    """{name: (data set, how to write it, expected Swift refusal reason or None for decoded)}."""
    out = {}
    s = _dataset(_ramp(90, 70, 0, 4095, 1, np.uint16), bits_stored=12)
    s.VOILUTSequence = [_lut(4096 - 100, 100, 16, np.rint(65535 * np.sqrt(np.arange(3996) / 3995)))]
    out["voi_lut_16bit"] = (s, {}, None)
    s = _dataset(_ramp(64, 80, -300, 1200, 2, np.int16), signed=True)
    s.ModalityLUTSequence = [_lut(1000, -200 & 0xFFFF, 12, np.arange(1000) * 4)]
    s.WindowCenter, s.WindowWidth = "1500", "2500"
    out["modality_lut_signed"] = (s, {}, None)
    v = _ramp(70, 90, -2048, 2047, 3, np.int16)
    garbage = np.random.default_rng(3).integers(0, 16, v.shape).astype(np.uint16) << 12  # bits above Bits Stored
    s = _dataset(((v.astype(np.uint16) & 0x0FFF) | garbage).astype(np.uint16), bits_stored=12, signed=True)
    s.RescaleSlope, s.RescaleIntercept = "0.1234567", "-1024.5"
    s.WindowCenter, s.WindowWidth = "-1100\\300", "250.25\\1500"
    out["rescale_window_multi"] = (s, {}, None)
    v = _ramp(100, 60, 0, 4095, 4, np.uint16)
    s = _dataset((v << 4) | (v & 0xF), photometric="MONOCHROME1", bits_stored=12, high_bit=15)  # top bits
    s.WindowCenter, s.WindowWidth = "2000", "3000"
    out["high_bit_15_monochrome1"] = (s, {}, None)
    s = _dataset(_ramp(128, 128, 0, 1023, 5, np.uint16), bits_stored=10)
    s.WindowCenter, s.WindowWidth, s.VOILUTFunction = "511.3", "0.7", "LINEAR_EXACT"
    out["linear_exact"] = (s, {}, None)
    s = _dataset(_ramp(128, 128, 0, 4095, 6, np.uint16), bits_stored=12)
    s.WindowCenter, s.WindowWidth, s.VOILUTFunction = "2047.5", "1800", "SIGMOID"
    out["sigmoid"] = (s, {}, None)
    s = _dataset(_ramp(128, 128, 0, 255, 7, np.uint8))
    s.WindowCenter, s.WindowWidth = "127", "1"
    out["window_width_one"] = (s, {}, None)
    rgb = np.stack([_ramp(40, 50, 0, 255, k, np.uint8) for k in (8, 9, 10)], axis=2)
    out["ybr_full"] = (_dataset(rgb, photometric="YBR_FULL"), {}, None)
    planar = np.stack([_ramp(33, 47, 0, 1023, k, np.uint16) for k in (11, 12, 13)], axis=2)
    s = _dataset(planar, photometric="RGB", bits_stored=10)
    s.PlanarConfiguration = 1
    s.PixelData = np.ascontiguousarray(planar.transpose(2, 0, 1)).astype("<u2").tobytes()
    out["rgb_planar_16bit"] = (s, {}, None)
    s = _dataset(_ramp(60, 60, 0, 400, 14, np.uint16), photometric="PALETTE COLOR")
    for k, (d, t) in enumerate(((0x00281101, 0x00281201), (0x00281102, 0x00281202), (0x00281103, 0x00281203))):
        s.add_new(d, "US", [300, 50, 16])
        s.add_new(t, "OW", np.rint(65535 * ((np.arange(300) / 299) ** (k + 1))).astype("<u2").tobytes())
    out["palette_16bit"] = (s, {}, None)
    s = _dataset(_ramp(50, 40, 10, 200, 15, np.uint8))
    del s.file_meta
    out["implicit_no_preamble"] = (s, dict(implicit_vr=True, little_endian=True, enforce_file_format=False), None)
    s = _dataset(_ramp(30, 20, 0, 4_000_000_000, 16, np.uint32), syntax=ExplicitVRBigEndian)
    s.RescaleSlope, s.RescaleIntercept = "1e-3", "7"
    out["big_endian_32bit"] = (s, dict(implicit_vr=False, little_endian=False), None)
    # refused, with the Swift reader's words
    small = _ramp(8, 8, 0, 255, 17, np.uint8)
    s = _dataset(small)
    s.WindowCenter, s.WindowWidth, s.VOILUTFunction = "100", "50", "GAMMA"
    out["voi_function_gamma"] = (s, {}, "(0028,1056) VOI LUT Function: 'GAMMA' is not LINEAR, LINEAR_EXACT or SIGMOID")
    s = _dataset(small)
    s.WindowCenter, s.WindowWidth = "100", "0.5"
    out["linear_width_half"] = (s, {}, "(0028,1051) Window Width: 0.5 must be >= 1 for LINEAR")
    s = _dataset(small)
    s.add_new(0x00281050, "LO", "abc")  # a DS that is no number (LO: pydicom would not write it as DS)
    s.WindowWidth = "10"
    out["window_center_text"] = (s, {}, "(0028,1050) Window Center: 'abc' is not a number")
    s = _dataset(small.astype(np.uint16), bits_stored=16)
    s.BitsStored = 17
    out["bits_stored_17"] = (s, {}, "(0028,0101) Bits Stored: 17 with 16 bits allocated")
    s = _dataset(small)
    s.PixelData = s.PixelData[:50]
    out["pixel_data_short"] = (s, {}, "(7FE0,0010) Pixel Data: 50 bytes, the header needs 64 "
                                      "(8 x 8 x 1 samples x 1 bytes x 1 frames)")
    s = _dataset(small.astype(np.uint16))
    s.VOILUTSequence = [_lut(4096, 0, 16, np.arange(50))]
    out["voi_lut_data_short"] = (s, {}, "(0028,3010) VOI LUT Sequence (0028,3006) LUT Data: 100 bytes, "
                                        "the descriptor needs 8192")
    s = _dataset(small)
    s.SamplesPerPixel = 3
    out["samples_3_monochrome"] = (s, {}, "(0028,0002) Samples per Pixel: 3 for MONOCHROME2")
    s = _dataset(small, photometric="HSV")
    out["photometric_hsv"] = (s, {}, "(0028,0004) Photometric Interpretation: 'HSV' is not supported "
                                     "(MONOCHROME1, MONOCHROME2, RGB, YBR_FULL, YBR_FULL_422, PALETTE COLOR; "
                                     "YBR_RCT, YBR_ICT in JPEG 2000)")
    s = _dataset(small)
    s.NumberOfFrames = "0"
    out["frames_zero"] = (s, {}, "(0028,0008) Number of Frames: '0' is not a positive integer")
    # JPEG (libjpeg-turbo on both sides): grey, colour as coded (YCbCr kept: JFIF, Adobe transform 1;
    # RGB: Adobe transform 0, component IDs 'R' 'G' 'B'), subsampled chroma, progressive, signed
    gray = _ramp(77, 61, 0, 255, 18, np.uint8)  # not a multiple of the 8 x 8 blocks
    s = _encapsulated(_dataset(gray), [_pillow_jpeg(gray, quality=85)], JPEGBaseline8Bit)
    s.RescaleSlope, s.RescaleIntercept, s.WindowCenter, s.WindowWidth = "2", "-100", "150", "300"
    out["jpeg_baseline_gray"] = (s, {}, None)
    s = _encapsulated(_dataset(gray, photometric="MONOCHROME1", signed=True),
                      [_jpeg_edited(_pillow_jpeg(gray, quality=70), sof=0xC1)], JPEGExtended12Bit)
    out["jpeg_extended_8bit_signed_monochrome1"] = (s, {}, None)
    colour = np.stack([_ramp(48, 62, 0, 255, k, np.uint8) for k in (19, 20, 21)], axis=2)
    s = _encapsulated(_dataset(colour, photometric="YBR_FULL_422"),
                      [_jpeg_edited(_pillow_jpeg(colour, subsampling=1), drop=(0xE0,), insert=_adobe(1))],
                      JPEGBaseline8Bit)
    out["jpeg_ybr_422_adobe_ycbcr"] = (s, {}, None)
    s = _encapsulated(_dataset(colour, photometric="YBR_FULL"), [_pillow_jpeg(colour, subsampling=2, progressive=True)],
                      JPEGBaseline8Bit)
    out["jpeg_ybr_420_progressive"] = (s, {}, None)
    s = _encapsulated(_dataset(colour, photometric="RGB"), [_pillow_jpeg(colour, keep_rgb=True)], JPEGBaseline8Bit)
    out["jpeg_rgb_adobe_rgb"] = (s, {}, None)
    s = _encapsulated(_dataset(colour, photometric="RGB"), [_jpeg_edited(_pillow_jpeg(colour, keep_rgb=True),
                                                                          drop=(0xEE,))], JPEGBaseline8Bit)
    out["jpeg_rgb_component_ids"] = (s, {}, None)
    s = _encapsulated(_dataset(gray), [_pillow_jpeg(gray)], JPEGBaseline8Bit)
    s.Rows = 78
    out["jpeg_rows_mismatch"] = (s, {}, "(0028,0010) Rows: 78, but the JPEG frame header has 77")
    s = _encapsulated(_dataset(gray), [_jpeg_edited(_pillow_jpeg(gray), sof=0xC3)], JPEGBaseline8Bit)
    out["jpeg_lossless_process"] = (s, {}, "(7FE0,0010) Pixel Data: JPEG frame 0: Unsupported JPEG process: SOF type 0xc3")
    s = _encapsulated(_dataset(gray), [_pillow_jpeg(gray)[:600]], JPEGBaseline8Bit)
    out["jpeg_truncated"] = (s, {}, "(7FE0,0010) Pixel Data: JPEG frame 0 is cut short (Premature end of JPEG file)")
    s = _encapsulated(_dataset(gray), [_pillow_jpeg(gray)], JPEGBaseline8Bit)
    s.BitsAllocated, s.BitsStored, s.HighBit = 1, 1, 0
    out["jpeg_bits_allocated_1"] = (s, {}, "(0028,0100) Bits Allocated: 1 (bit-packed) is only supported "
                                           "uncompressed, not in JPEG Baseline (Process 1)")
    # JPEG 2000 (OpenJPEG on both sides): irreversible colour transform, an unsigned codestream in a
    # signed data set (its bits are read signed)
    s = _encapsulated(_dataset(colour, photometric="YBR_ICT"),
                      [openjpeg.encode(colour, photometric_interpretation=1, compression_ratios=[12])], JPEG2000)
    out["j2k_ict_lossy"] = (s, {}, None)
    v12 = _ramp(40, 52, 0, 4095, 22, np.uint16)
    s = _encapsulated(_dataset(v12, bits_stored=12, signed=True), [openjpeg.encode(v12, bits_stored=12)],
                      JPEG2000Lossless)
    out["j2k_unsigned_codestream_signed_pixels"] = (s, {}, None)
    s = _encapsulated(_dataset(v12, bits_stored=8), [openjpeg.encode(v12, bits_stored=12)], JPEG2000Lossless)
    first = int(np.flatnonzero(v12.ravel() > 255)[0])
    out["j2k_value_beyond_bits_stored"] = (s, {}, f"(0028,0101) Bits Stored: 8 (unsigned), but the JPEG 2000 codestream "
                                                  f"(12-bit unsigned) holds the value {v12.ravel()[first]} at sample {first}")
    codestream = bytearray(openjpeg.encode(colour, photometric_interpretation=1))
    codestream[42 + 3 + 1] = 2  # component 1: XRsiz 2
    out["j2k_subsampled"] = (_encapsulated(_dataset(colour, photometric="YBR_RCT"), [bytes(codestream)], JPEG2000Lossless),
                             {}, "(7FE0,0010) Pixel Data: JPEG 2000 frame 0: component 1 is subsampled (2 x 1) is not "
                                 "supported")
    out["ybr_rct_native"] = (_dataset(colour, photometric="YBR_RCT"), {}, "(0028,0004) Photometric Interpretation: "
                             "'YBR_RCT' is only defined for JPEG 2000, not Explicit VR Little Endian")
    # Bits Allocated 1: 143 bits a frame (frames are not padded to bytes), the second frame ignored
    bits = np.random.default_rng(23).integers(0, 2, (2, 13, 11)).astype(np.uint8)
    s = _dataset(bits[0], photometric="MONOCHROME1")
    s.BitsAllocated, s.BitsStored, s.HighBit, s.NumberOfFrames = 1, 1, 0, "2"
    s.PixelData = np.packbits(bits.ravel(), bitorder="little").tobytes()
    out["bits_allocated_1_two_frames"] = (s, {}, None)
    s = _dataset(bits[0])
    s.BitsAllocated, s.BitsStored, s.HighBit = 1, 1, 0
    s.PixelData = bytes(16)
    out["bits_allocated_1_short"] = (s, {}, "(7FE0,0010) Pixel Data: 16 bytes, the header needs 18 "
                                            "(13 x 11 x 1 samples x 1 bit x 1 frames)")
    # native YBR_FULL_422: 16-bit big endian; an odd row; RLE refuses it
    ybr16 = np.stack([_ramp(30, 40, 0, 1023, k, np.uint16) for k in (24, 25, 26)], axis=2)
    s = _dataset(ybr16, photometric="YBR_FULL_422", bits_stored=10, syntax=ExplicitVRBigEndian)
    s.PixelData = _ybr_422(ybr16).astype(">u2").tobytes()
    out["ybr_full_422_16bit_big_endian"] = (s, dict(implicit_vr=False, little_endian=False), None)
    s = _dataset(colour[:, :7], photometric="YBR_FULL_422")
    out["ybr_full_422_odd_columns"] = (s, {}, "(0028,0011) Columns: 7 is odd; YBR_FULL_422 pairs the pixels of a row")
    s = _encapsulated(_dataset(colour, photometric="YBR_FULL_422"), [bytes(64)], RLELossless)
    out["ybr_full_422_rle"] = (s, {}, "(0028,0004) Photometric Interpretation: 'YBR_FULL_422' in RLE Lossless is "
                                      "not supported")
    return out


SYNTHETIC = _synthetic()


@pytest.fixture(scope="session")
def synthetic(tmp_path_factory):
    """{name: path} of SYNTHETIC, written once (no extension: they are found by content)."""
    d = tmp_path_factory.mktemp("synthetic")
    paths = {}
    for name, (ds, how, _) in SYNTHETIC.items():
        paths[name] = d / name
        pydicom.dcmwrite(paths[name], ds, **(how or dict(enforce_file_format=True)))
    return paths


# --- (a) parity --------------------------------------------------------------------------------------

def swift_tensor(model_path, path, options, tmp_path):
    """(tensor, None) or (None, the one-line error without the "roentgen: error: " prefix)."""
    out = tmp_path / "swift.npy"
    r = subprocess.run([str(roentgen_bin()), "preprocess", str(model_path), str(path), "--npy", str(out), *options],
                       capture_output=True, text=True, timeout=120)
    if r.returncode == 0:
        return np.load(out), None
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 1 and len(lines) == 1, r.stderr
    return None, lines[0].removeprefix("roentgen: error: ")


def tools_tensor(model, path, options):
    window = dicom.window_option(options[1] if options[:1] == ("--window",) else None, "--full-range" in options)
    try:
        return reference.load_input(model, path, window), None
    except image.ImageError as e:
        return None, str(e)


def _voi_function(path):
    """The VOI LUT Function as pydicom reads it, for the comparison's rule."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom's remarks on the test files' oddities
        ds = pydicom.dcmread(path, force=True, stop_before_pixels=True)
    function = ds.get("VOILUTFunction", "")
    return function[0] if isinstance(function, list) else function


def check_parity(path, name, models, tmp_path):
    """Every config: Swift and the tools agree (module docstring, (a)). Returns Swift's error for the
    first config (None when it decodes the file)."""
    first_error = []
    for model_name, options in CONFIGS:
        model_path, model = models[model_name]
        want, swift_error = swift_tensor(model_path, path, options, tmp_path)
        got, tools_error = tools_tensor(model, path, options)
        first_error.append(swift_error)
        where = f"{name} ({model_name} {' '.join(options)})"
        if swift_error is not None:
            assert tools_error is not None, f"{where}: Swift refuses it ({swift_error}), the tools decode it"
            _same_refusal(name, path, swift_error, tools_error)
            continue
        assert tools_error is None, f"{where}: Swift decodes it, the tools refuse it: {tools_error}"
        function = _voi_function(path)
        assert got.shape == want.shape, where
        std = min(model.input.std)
        if function == "SIGMOID" and not options:  # expf vs exp in binary64: y within 2 ulp
            assert np.abs(got - want).max() * std <= 2.0**-23, (where, np.abs(got - want).max())
        else:  # JPEG and JPEG 2000 too: the same libjpeg-turbo and OpenJPEG decode them
            differ = np.flatnonzero(got.view(np.uint32) != want.view(np.uint32))
            assert differ.size == 0, (f"{where}: {differ.size} of {got.size} values differ, first at {differ[0]}: "
                                      f"tools {got.ravel()[differ[0]]!r}, Swift {want.ravel()[differ[0]]!r}")
    return first_error[0]


def _same_refusal(name, path, swift_error, tools_error):
    assert "\n" not in tools_error and tools_error.startswith(f"{path}: "), tools_error
    syntax = re.match(rf"{re.escape(str(path))}: transfer syntax ([0-9.]+) \(", swift_error)
    decoder = re.match(rf"{re.escape(str(path))}: \(7FE0,0010\) Pixel Data: (JPEG|JPEG 2000) frame 0[: ]", swift_error)
    if syntax and syntax[1] not in dicom.DECODED_SYNTAXES:  # the same UID; the name is pydicom's
        assert re.fullmatch(rf"{re.escape(str(path))}: transfer syntax {re.escape(syntax[1])} \(.+\) is not supported",
                            tools_error), (tools_error, swift_error)
    elif decoder and tools_error.startswith(f"{path}: (7FE0,0010) Pixel Data: {decoder[1]} frame 0: not decodable ("):
        pass  # the library refused the frame: libjpeg's / OpenJPEG's words, quoted by the shim or by Pillow / pylibjpeg
    elif name not in STRICTER_SWIFT_PARSER:
        assert tools_error == swift_error


@pytest.mark.parametrize("path", FILES, ids=[f.relative_to(PYDICOM_FILES).as_posix() for f in FILES])
def test_pydicom_file(path, models, tmp_path):
    check_parity(path, path.relative_to(PYDICOM_FILES).as_posix(), models, tmp_path)


@pytest.mark.parametrize("name", sorted(SYNTHETIC))
def test_synthetic_file(name, synthetic, models, tmp_path):
    """Each one is decoded, or refused with the reason it was written for (so none is vacuous)."""
    error = check_parity(synthetic[name], name, models, tmp_path)
    expected = SYNTHETIC[name][2]
    assert error == (None if expected is None else f"{synthetic[name]}: {expected}")


def test_the_pydicom_files_cover_the_reader(models, tmp_path):
    """Every syntax and photometric the Swift reader decodes is in the parity set above."""
    for name in ("CT_small.dcm", "MR_small_implicit.dcm", "MR_small_bigendian.dcm", "image_dfl.dcm", "MR_small_RLE.dcm",
                 "SC_rgb_rle_32bit.dcm", "SC_rgb_small_odd_big_endian.dcm", "examples_palette.dcm",
                 "examples_overlay.dcm", "rtdose_expb.dcm", "dicomdirtests/77654033/CR1/6154",
                 # JPEG: YBR_FULL (JFIF), YBR_FULL_422, RGB (Adobe transform 0), RGB coded as YCbCr
                 "SC_rgb_jpeg_dcmtk.dcm", "SC_rgb_dcmtk_+eb+cy+np.dcm", "examples_ybr_color.dcm",
                 "SC_rgb_dcmtk_+eb+cr.dcm", "SC_jpeg_no_color_transform.dcm",
                 # JPEG 2000: lossless, signed, Pixel Representation against the codestream, YBR_RCT in a JP2
                 # file, lossy signed, lossy RGB
                 "MR_small_jp2klossless.dcm", "J2K_pixelrep_mismatch.dcm", "GDCMJ2K_TextGBR.dcm", "examples_jpeg2k.dcm",
                 "693_J2KI.dcm", "JPEG2000.dcm", "SC_rgb_gdcm_KY.dcm",
                 # Bits Allocated 1 (little and big endian), native YBR_FULL_422
                 "liver_1frame.dcm", "liver_expb_1frame.dcm", "SC_ybr_full_422_uncompressed.dcm"):
        _, error = swift_tensor(models["cnn-int8.rtg"][0], PYDICOM_FILES / name, (), tmp_path)
        assert error is None, error
        assert PYDICOM_FILES / name in FILES
    for name in ("JPEG-lossy.dcm", "JPGExtended.dcm"):  # 12-bit JPEG: refused by both, in the same words
        _, error = swift_tensor(models["cnn-int8.rtg"][0], PYDICOM_FILES / name, (), tmp_path)
        assert error == (f"{PYDICOM_FILES / name}: transfer syntax {JPEGExtended12Bit} (JPEG Extended (Process 2 & 4)): "
                         "12-bit JPEG is not supported (8-bit only)")
        assert PYDICOM_FILES / name in FILES


def test_window_option_as_swift_parses_it():
    assert dicom.window_option(None, False) is dicom.FROM_FILE
    assert dicom.window_option(None, True) == dicom.FULL_RANGE
    assert dicom.window_option(" 40 ,400", False) == (F32(40), F32(400))
    for bad in ("40", "40,0.5", "a,400", "40,400,1", "inf,400", "1_0,400"):
        with pytest.raises(ValueError, match="CENTER,WIDTH"):
            dicom.window_option(bad, False)
    with pytest.raises(ValueError, match="exclude each other"):
        dicom.window_option("40,400", True)


# --- (b) roentgen-reference vs roentgen classify -----------------------------------------------------

def test_reference_classifies_dicom_like_swift(tmp_path, synthetic, capsys):
    """A PACS-style folder (no extensions, JPEG, JPEG 2000 and 1-bit files, a broken file, a PNG, a
    note) through `roentgen classify --json` and `roentgen-reference --json`: the same files in the
    same order, the same logits bit for bit, labels, uncertainty, probabilities (1e-12) and `dicom`
    objects; both report the broken file and exit 1."""
    folder = tmp_path / "pacs-export"
    (folder / "series").mkdir(parents=True)
    shutil.copyfile(PYDICOM_FILES / "CT_small.dcm", folder / "IM0001")
    shutil.copyfile(PYDICOM_FILES / "MR_small_bigendian.dcm", folder / "IM0002")
    shutil.copyfile(PYDICOM_FILES / "dicomdirtests/77654033/CR1/6154", folder / "series" / "IM0003")  # MONOCHROME1
    for k, name in enumerate(("SC_rgb_jpeg_dcmtk.dcm", "JPEG2000.dcm", "liver_1frame.dcm"), 4):  # JPEG, J2K, 1-bit
        shutil.copyfile(PYDICOM_FILES / name, folder / "series" / f"IM{k:04d}")
    for name in ("implicit_no_preamble", "ybr_full", "rescale_window_multi", "palette_16bit"):
        shutil.copyfile(synthetic[name], folder / "series" / name.upper())
    (folder / "broken.dcm").write_bytes((PYDICOM_FILES / "CT_small.dcm").read_bytes()[:2000])
    (folder / "notes.txt").write_text("not an image")
    shutil.copyfile(FIXTURES / "images" / "xray_00.png", folder / "film.png")
    model = TRAINED / "cnn-int8.rtg"
    for options in ((), ("--window", "40,400"), ("--full-range",)):
        swift, r = swift_classify(model, [folder], expect_ok=False, extra=options, rows_expected=12)
        assert r.returncode == 1
        assert reference.main([str(model), str(folder), "--json", *options]) == 1
        tools = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        assert [t["path"] for t in tools] == [s["path"] for s in swift], (tools, swift)
        for t, s in zip(tools, swift):
            if "error" in s:
                assert set(t) == {"path", "error"}, t
                continue
            assert (t["label"], t["index"], t["uncertain"]) == (s["label"], s["index"], s["uncertain"]), t["path"]
            assert np.array_equal(np.float32(t["logits"]), np.float32(s["logits"])), t["path"]
            assert np.abs(np.asarray(t["probabilities"]) - s["probabilities"]).max() < 1e-12
            assert t.get("dicom") == s.get("dicom"), t["path"]
        assert {Path(s["path"]).name for s in swift if "error" in s} == {"broken.dcm"}
        implicit = next(t for t in tools if t["path"].endswith("IMPLICIT_NO_PREAMBLE"))
        assert implicit["dicom"]["transfer_syntax_uid"] == ImplicitVRLittleEndian


def test_reference_window_options_are_validated(capsys):
    for options, message in ((("--window", "40"), "CENTER,WIDTH"), (("--window", "1,2", "--full-range"), "exclude")):
        with pytest.raises(SystemExit):
            reference.main([str(TRAINED / "cnn-int8.rtg"), "x.dcm", *options])
        assert message in capsys.readouterr().err


# --- (c) training ingestion --------------------------------------------------------------------------

def _identity_voi(bits: int) -> Dataset:
    """A VOI LUT that maps v to v / (2^bits - 1), as a PNG's step 2 does."""
    return _lut(1 << bits, 0, bits, np.arange(1 << bits))


def _exact_monochrome1_levels(gray: np.ndarray) -> np.ndarray:
    """`gray` moved to the nearest of the 97 8-bit levels v whose MONOCHROME1 value 1 - f32(255 - v)/255
    is the PNG's f32(v)/255 in binary32 (the other 159 differ by an ulp)."""
    v = np.arange(256)
    exact = v[(F32(1) - (255 - v).astype(F32) / F32(255)) == v.astype(F32) / F32(255)]
    return exact[np.abs(gray[..., None].astype(int) - exact).argmin(axis=-1)].astype(np.uint8)


def test_class_folders_of_dicom_load_like_the_pngs(tmp_path):
    """datasets.load + load_arrays on DICOM class folders give the PNG folders' arrays bit for bit:
    8-bit and 16-bit gray (through an identity VOI LUT), RGB, MONOCHROME1; explicit VR with a
    preamble, implicit VR without one and big endian; with and without the .dcm extension."""
    png_root, dicom_root = tmp_path / "png", tmp_path / "dicom"
    pngs = {name: image.decode_png(FIXTURES / "images" / name)[0] for name in
            ("xray_00.png", "xray_01.png", "xray_02.png", "xray_16bit_200x160.png", "xray_rgb_96x128.png")}
    mono1 = _exact_monochrome1_levels(pngs["xray_02.png"][:, :, 0])
    files = {  # relative name: (PNG samples, PNG bit depth, data set, how to write it)
        "chest_pa/IM0001": (pngs["xray_00.png"], 8, _dataset(pngs["xray_00.png"][:, :, 0].astype(np.uint8)), {}),
        "chest_pa/IM0002.dcm": (pngs["xray_01.png"], 8, _dataset(pngs["xray_01.png"][:, :, 0].astype(np.uint8)),
                                dict(implicit_vr=True, little_endian=True, enforce_file_format=False)),
        "hand/IM0003": (pngs["xray_16bit_200x160.png"], 16, _dataset(pngs["xray_16bit_200x160.png"][:, :, 0]), {}),
        "hand/sub/IM0004.dcm": (pngs["xray_rgb_96x128.png"], 8,
                                _dataset(pngs["xray_rgb_96x128.png"].astype(np.uint8), photometric="RGB",
                                         syntax=ExplicitVRBigEndian), dict(implicit_vr=False, little_endian=False)),
        "spine/IM0005": (mono1[:, :, None], 8, _dataset(255 - mono1, photometric="MONOCHROME1"), {}),
    }
    for rel, (samples, depth, ds, how) in files.items():
        if ds.PhotometricInterpretation != "RGB":
            ds.VOILUTSequence = [_identity_voi(depth)]
        if not how.get("enforce_file_format", True):
            del ds.file_meta
        (dicom_root / rel).parent.mkdir(parents=True, exist_ok=True)
        pydicom.dcmwrite(dicom_root / rel, ds, **(how or dict(enforce_file_format=True)))
        (png_root / rel).parent.mkdir(parents=True, exist_ok=True)
        image.write_png((png_root / rel).with_suffix(".png"), samples, depth)
    (dicom_root / "hand" / "README.txt").write_text("not an image")
    want, got = datasets.load(png_root), datasets.load(dicom_root)
    assert [s.label for s in got] == [s.label for s in want] == ["chest_pa"] * 2 + ["hand"] * 2 + ["spine"]
    assert [Path(s.path).relative_to(dicom_root).as_posix() for s in got] == sorted(files)
    for size, channels in ((128, 1), (64, 3)):
        a, kept_png = datasets.load_arrays(want, size, channels, log=pytest.fail)
        b, kept_dicom = datasets.load_arrays(got, size, channels, log=pytest.fail)
        assert len(kept_png) == len(kept_dicom) == 5
        assert np.array_equal(a.view(np.uint32), b.view(np.uint32)), (size, channels)


# --- (d) DICOMDIR ------------------------------------------------------------------------------------

def _copy_tree(src: Path, dst: Path, rename=lambda n: n):
    for p in sorted(src.rglob("*")):
        target = dst.joinpath(*map(rename, p.relative_to(src).parts))
        if p.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        else:
            shutil.copyfile(p, target)


def test_dicomdir_is_the_index_of_its_folder_tree(tmp_path):
    """pydicom's dicomdirtests: the files listed are those found by content (as `roentgen classify`
    finds them, DICOMDIRs skipped) plus every IMAGE a DICOMDIR references - found ignoring case and
    listed even when not recognisable, so that reading it reports it; a missing one is a problem."""
    src = PYDICOM_FILES / "dicomdirtests"
    media = tmp_path / "media"
    _copy_tree(src, media)
    indexes = {media / "DICOMDIR", media / "TINY_ALPHA" / "DICOMDIR"}
    everything = sorted(os.fspath(p) for p in media.rglob("*") if p.is_file() and p not in indexes
                        and p.name not in ("README", "README.txt"))
    assert image.list_images(media) == (everything, [])
    swift, _ = swift_classify(TRAINED / "cnn-int8.rtg", [media], expect_ok=False, rows_expected=len(everything))
    assert [row["path"] for row in swift] == everything  # the runtime's listing
    for index in indexes:  # the references are the IMAGE instances of pydicom's FileSet
        instances = {Path(i.path) for i in FileSet(pydicom.dcmread(index)) if i.node.record_type == "IMAGE"}
        assert {index.parent / r for r in dicom.referenced_files(index)} == instances
        assert len(instances) in (31, 50)

    copied = tmp_path / "copied"  # from the media with lower-case names, DICOMDIR kept
    _copy_tree(src, copied, rename=lambda n: n if n == "DICOMDIR" else n.lower())
    referenced = [dicom.resolve(r, copied) for r in dicom.referenced_files(copied / "DICOMDIR")]
    assert len(referenced) == 31 and all(Path(p).is_file() and p.islower() for p in referenced)
    gone, unrecognisable = referenced[0], referenced[1]
    os.unlink(gone)
    Path(unrecognisable).write_bytes(b"\0" * 200)
    listed, problems = image.list_images(copied)
    assert gone not in listed and unrecognisable in listed
    assert problems == [(os.fspath(copied / "DICOMDIR"), f"references 77654033/CR1/6154, which does not exist "
                                                         f"({copied}/77654033/CR1/6154, case ignored)")]
    with pytest.raises(image.ImageError, match="neither a PNG nor a DICOM file"):
        image.read_input(unrecognisable)
    (copied / "DICOMDIR").unlink()  # without the index, content alone does not find it
    assert unrecognisable not in image.list_images(copied)[0]


def test_a_bad_dicomdir_is_reported(tmp_path):
    """A DICOMDIR that cannot be read, or points outside its folder, is one problem naming it; the
    rest of its folder is still listed, and training ingestion reports it."""
    root = tmp_path / "data"
    (root / "hand").mkdir(parents=True)
    (root / "hand" / "DICOMDIR").write_bytes(b"DICM" * 10)
    shutil.copyfile(FIXTURES / "images" / "xray_00.png", root / "hand" / "a.png")
    shutil.copytree(PYDICOM_FILES / "dicomdirtests" / "TINY_ALPHA", root / "chest")
    not_dicom = 'not a DICOM file: no "DICM" at offset 128 and no data set at offset 0'
    assert image.list_images(root / "hand") == ([os.fspath(root / "hand" / "a.png")],
                                                [(os.fspath(root / "hand" / "DICOMDIR"), not_dicom)])
    problems = []
    samples = datasets.load(root, log=problems.append)
    assert [s.label for s in samples] == ["chest"] * 50 + ["hand"]
    assert problems == [f"skipped {root / 'hand' / 'DICOMDIR'}: {not_dicom}"]
    ds = pydicom.dcmread(root / "chest" / "DICOMDIR")
    record = next(r for r in ds.DirectoryRecordSequence if r.DirectoryRecordType == "IMAGE")
    with pytest.warns(UserWarning, match="Invalid value for VR CS"):
        record.ReferencedFileID = ["..", "ESCAPE"]
    ds.save_as(root / "chest" / "DICOMDIR")
    files, problems = image.list_images(root / "chest")
    assert len(files) == 50 and problems == [(os.fspath(root / "chest" / "DICOMDIR"),
                                              "(0004,1500) Referenced File ID '../ESCAPE' is not a path inside "
                                              "its folder")]
