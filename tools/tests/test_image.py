"""image.py against hand-computed binary32 values for every PNG variant."""
import numpy as np
import png
import pytest

from roentgen_tools.data.image import ImageError, decode_png, to_tensor, write_png

F = np.float32


def scalar_resize(p, oh, ow):
    """SPEC step 4 written out one scalar binary32 operation at a time."""
    ih, iw = p.shape

    def coords(o, n_in, n_out):
        scale = F(n_in) / F(n_out)
        s = (F(o) + F(0.5)) * scale - F(0.5)
        if s < 0:
            s = F(0)
        i0 = min(int(np.floor(s)), n_in - 1)
        i1 = min(i0 + 1, n_in - 1)
        return i0, i1, F(s - F(i0))

    out = np.zeros((oh, ow), F)
    for y in range(oh):
        y0, y1, fy = coords(y, ih, oh)
        for x in range(ow):
            x0, x1, fx = coords(x, iw, ow)
            top = F(p[y0, x0] + F(fx * F(p[y0, x1] - p[y0, x0])))
            bottom = F(p[y1, x0] + F(fx * F(p[y1, x1] - p[y1, x0])))
            out[y, x] = F(top + F(fy * F(bottom - top)))
    return out


def test_gray8(tmp_path):
    a = np.array([[0, 1, 128], [254, 255, 7]], np.uint8)
    write_png(tmp_path / "g.png", a)
    t = to_tensor(tmp_path / "g.png", 2, 3, 1)
    assert t.dtype == np.float32 and t.shape == (1, 2, 3, 1)
    want = np.array([[F(v) / F(255) for v in row] for row in a.tolist()], F)
    assert np.array_equal(t[0, :, :, 0], want)
    assert t[0, 1, 1, 0] == 1.0 and t[0, 0, 0, 0] == 0.0


def test_gray16(tmp_path):
    a = np.array([[0, 1, 65535], [32768, 12345, 40000]], np.uint16)
    write_png(tmp_path / "g16.png", a, 16)
    t = to_tensor(tmp_path / "g16.png", 2, 3, 1)
    want = np.array([[F(v) / F(65535) for v in row] for row in a.tolist()], F)
    assert np.array_equal(t[0, :, :, 0], want)


def test_gray_alpha_dropped(tmp_path):
    a = np.array([[[10, 0], [20, 255]]], np.uint8)  # [1, 2, 2]: gray + alpha
    write_png(tmp_path / "ga.png", a)
    t = to_tensor(tmp_path / "ga.png", 1, 2, 1)
    assert t[0, 0, :, 0].tolist() == [F(10) / F(255), F(20) / F(255)]


def _gray_from_rgb(r, g, b, d=255):
    r, g, b = F(r) / F(d), F(g) / F(d), F(b) / F(d)
    return F(F(F(F(0.299) * r) + F(F(0.587) * g)) + F(F(0.114) * b))


@pytest.mark.parametrize("alpha", [False, True])
def test_rgb_to_gray(tmp_path, alpha):
    px = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (13, 200, 77)]
    a = np.array([px], np.uint8)
    if alpha:
        a = np.concatenate([a, np.full((1, 4, 1), 99, np.uint8)], axis=2)
    write_png(tmp_path / "c.png", a)
    t = to_tensor(tmp_path / "c.png", 1, 4, 1)
    assert t[0, 0, :, 0].tolist() == [_gray_from_rgb(*p) for p in px]
    t3 = to_tensor(tmp_path / "c.png", 1, 4, 3)  # 3-channel model keeps colour
    assert t3[0, 0, 3].tolist() == [F(13) / F(255), F(200) / F(255), F(77) / F(255)]


def test_gray_to_three_channels(tmp_path):
    write_png(tmp_path / "g.png", np.array([[50, 100]], np.uint8))
    t = to_tensor(tmp_path / "g.png", 1, 2, 3)
    assert t.shape == (1, 1, 2, 3)
    assert t[0, 0, 1].tolist() == [F(100) / F(255)] * 3


def test_rgb16(tmp_path):
    a = np.array([[[65535, 1000, 0]]], np.uint16)
    write_png(tmp_path / "c16.png", a, 16)
    t = to_tensor(tmp_path / "c16.png", 1, 1, 1)
    assert t[0, 0, 0, 0] == _gray_from_rgb(65535, 1000, 0, 65535)


@pytest.mark.parametrize("bitdepth", [1, 2, 4, 8])
def test_palette(tmp_path, bitdepth):
    pal = [(0, 0, 0), (255, 255, 255), (200, 100, 50), (10, 20, 30)][: 2**bitdepth]
    idx = [[i % len(pal) for i in range(5)]]
    w = png.Writer(5, 1, palette=pal, bitdepth=bitdepth)
    with open(tmp_path / "p.png", "wb") as f:
        w.write(f, idx)
    samples, depth = decode_png(tmp_path / "p.png")
    assert depth == 8 and samples.shape == (1, 5, 3)
    assert [tuple(p) for p in samples[0].tolist()] == [pal[i] for i in idx[0]]
    t = to_tensor(tmp_path / "p.png", 1, 5, 1)
    assert t[0, 0, :, 0].tolist() == [_gray_from_rgb(*pal[i]) for i in idx[0]]


def test_palette_with_transparency(tmp_path):
    w = png.Writer(2, 1, palette=[(10, 20, 30, 0), (40, 50, 60, 255)], bitdepth=8)
    with open(tmp_path / "pt.png", "wb") as f:
        w.write(f, [[0, 1]])
    t = to_tensor(tmp_path / "pt.png", 1, 2, 3)
    assert t[0, 0, 0].tolist() == [F(10) / F(255), F(20) / F(255), F(30) / F(255)]


@pytest.mark.parametrize("bits,expand", [(1, 255), (2, 85), (4, 17)])
def test_low_bit_gray(tmp_path, bits, expand):
    vals = [v % (2**bits) for v in range(9)]
    w = png.Writer(9, 1, greyscale=True, bitdepth=bits)
    with open(tmp_path / "lb.png", "wb") as f:
        w.write(f, [vals])
    samples, depth = decode_png(tmp_path / "lb.png")
    assert depth == 8 and samples[0, :, 0].tolist() == [v * expand for v in vals]
    t = to_tensor(tmp_path / "lb.png", 1, 9, 1)
    assert t[0, 0, :, 0].tolist() == [F(v * expand) / F(255) for v in vals]


def test_interlaced_equals_plain(tmp_path):
    r = np.random.default_rng(5)
    a = r.integers(0, 65536, (13, 11)).astype(np.uint16)
    write_png(tmp_path / "plain.png", a, 16)
    write_png(tmp_path / "inter.png", a, 16, interlace=True)
    assert png.Reader(filename=str(tmp_path / "inter.png")).read()[3]["interlace"] == 1
    assert np.array_equal(to_tensor(tmp_path / "inter.png", 13, 11, 1), to_tensor(tmp_path / "plain.png", 13, 11, 1))
    assert np.array_equal(to_tensor(tmp_path / "inter.png", 7, 20, 1), to_tensor(tmp_path / "plain.png", 7, 20, 1))


@pytest.mark.parametrize("src,dst", [((5, 7), (3, 4)), ((3, 4), (8, 5)), ((2, 9), (6, 3)), ((1, 1), (2, 3)),
                                     ((160, 200), (128, 128))])
def test_resize_matches_scalar_spec(tmp_path, src, dst):
    r = np.random.default_rng(sum(src) + sum(dst))
    a = r.integers(0, 256, src).astype(np.uint8)
    write_png(tmp_path / "r.png", a)
    t = to_tensor(tmp_path / "r.png", *dst, 1)
    p = (a.astype(F) / F(255)).astype(F)
    assert np.array_equal(t[0, :, :, 0], scalar_resize(p, *dst))


def test_resize_hand_computed(tmp_path):
    # 1x2 -> 1x4: scale 0.5, sx = -0.25 (clamped 0), 0.25, 0.75, 1.25
    write_png(tmp_path / "h.png", np.array([[0, 255]], np.uint8))
    t = to_tensor(tmp_path / "h.png", 1, 4, 1)[0, 0, :, 0]
    assert t.tolist() == [0.0, 0.25, 0.75, 1.0]


def test_normalise(tmp_path):
    write_png(tmp_path / "n.png", np.array([[0, 51, 255]], np.uint8))
    t = to_tensor(tmp_path / "n.png", 1, 3, 1, mean=[0.5], std=[0.25])
    x = [F(0) / F(255), F(51) / F(255), F(1)]
    assert t[0, 0, :, 0].tolist() == [F(F(v - F(0.5)) / F(0.25)) for v in x]
    t3 = to_tensor(tmp_path / "n.png", 1, 3, 3, mean=[0.1, 0.2, 0.3], std=[1, 2, 4])
    assert t3[0, 0, 1].tolist() == [F(F(x[1] - F(m)) / F(s)) for m, s in ((0.1, 1), (0.2, 2), (0.3, 4))]


def test_bad_files(tmp_path):
    (tmp_path / "junk.png").write_bytes(b"not a png at all")
    with pytest.raises(ImageError, match="junk.png"):
        to_tensor(tmp_path / "junk.png", 4, 4, 1)
    write_png(tmp_path / "ok.png", np.zeros((4, 4), np.uint8))
    data = (tmp_path / "ok.png").read_bytes()
    (tmp_path / "trunc.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError, match="trunc.png"):
        to_tensor(tmp_path / "trunc.png", 4, 4, 1)
    with pytest.raises(ImageError, match="missing.png"):
        to_tensor(tmp_path / "missing.png", 4, 4, 1)
