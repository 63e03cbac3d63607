"""Data ingestion: IRMA (ImageCLEF 2009) CSV, path,label CSV, folder per class; the paper's recipe."""
from __future__ import annotations

import numpy as np
import pytest

from roentgen_tools.data import datasets
from roentgen_tools.data.image import write_png


def _png(path, seed):
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_png(path, rng.integers(0, 256, (20, 24), dtype=np.uint8))


CODES = {"1121-120-200-700": 6, "1121-127-700-500": 4, "1123-211-500-000": 2}


@pytest.fixture
def irma(tmp_path):
    """ImageCLEF 2009 style: images/<id>.png + a ';' CSV with extra columns and 3 bad rows."""
    img = tmp_path / "images"
    lines = ["image_id;irma_code;05_class;06_class"]
    i = 1000
    for code, n in CODES.items():
        for _ in range(n):
            _png(img / f"{i}.png", i)
            lines.append(f"{i};{code};1;2")
            i += 1
    lines.append("5555;1121-120-200-700;1;2")                 # line: missing file
    (img / "6666.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really a png")
    lines.append("6666;1121-120-200-700;1;2")                 # unreadable image
    _png(img / "7777.png", 7)
    lines.append("7777;12x-1;1;2")                            # unknown code
    csv_path = tmp_path / "ImageCLEFmed2009_train.csv"
    csv_path.write_text("\n".join(lines) + "\n")
    return csv_path


def test_flatten_irma():
    assert datasets.flatten_irma("1121-120-200-700") == "1121-120-200-700"
    assert datasets.flatten_irma(" 1121-120-200-700 ") == "1121-120-200-700"
    assert datasets.flatten_irma("1121-120-200-700", axes="AB") == "200-700"
    for bad in ("", "1121-120-200", "1121_120_200_700", "11211-120-200-700", "12x-1"):
        assert datasets.flatten_irma(bad) is None


def test_irma_bad_rows_reported_with_line_and_skipped(irma):
    messages = []
    samples = datasets.load(irma, log=messages.append)
    n_good = sum(CODES.values())
    # the unreadable PNG is only found when the pixels are read
    assert len(samples) == n_good + 1
    text = "\n".join(messages)
    assert f"{irma}:{n_good + 2}: missing image file" in text
    assert f"{irma}:{n_good + 4}: unknown IRMA code '12x-1'" in text
    x, kept = datasets.load_arrays(samples, 16, 1, log=messages.append)
    assert len(kept) == n_good and x.shape == (n_good, 16, 16, 1)
    assert any(m.startswith(f"skipped {irma}:{n_good + 3}: unreadable image") for m in messages)
    assert {s.label for s in kept} == set(CODES)


def test_irma_detected_from_folder_and_headerless(tmp_path, irma):
    assert datasets.detect(tmp_path)[0] == "irma"
    body = irma.read_text().splitlines()[1:]
    plain = tmp_path / "plain.csv"
    plain.write_text("\n".join(body) + "\n")
    s, problems = datasets.read_irma(plain, tmp_path / "images")
    assert len(s) == sum(CODES.values()) + 1 and len(problems) == 2
    assert problems[0].where == f"{plain}:{sum(CODES.values()) + 1}"  # no header: line 1 is data


def test_paper_recipe_drop_rare_and_stratified_split(irma):
    samples = datasets.load(irma, log=lambda m: None)
    kept, dropped = datasets.drop_rare(samples, 3)
    assert dropped == {"1123-211-500-000": 2}
    assert {s.label for s in kept} == {"1121-120-200-700", "1121-127-700-500"}
    tr, va = datasets.stratified_split(kept, 0.1, seed=5)
    tr2, va2 = datasets.stratified_split(list(reversed(kept)), 0.1, seed=5)
    assert [s.path for s in va] == [s.path for s in va2]  # fixed seed, order independent
    assert len(tr) + len(va) == len(kept) and not {s.path for s in tr} & {s.path for s in va}
    # every class is represented in the held-out split (at least 1 per class of >= 2 images)
    assert {s.label for s in va} == {s.label for s in kept}


def test_split_fractions():
    samples = [datasets.Sample(f"{c}/{i}.png", c) for c in "ab" for i in range(100 if c == "a" else 50)]
    tr, va = datasets.stratified_split(samples, 0.1, seed=0)
    assert sum(s.label == "a" for s in va) == 10 and sum(s.label == "b" for s in va) == 5
    _, va_other = datasets.stratified_split(samples, 0.1, seed=1)
    assert {s.path for s in va} != {s.path for s in va_other}


def test_folder_per_class_and_path_label_csv(tmp_path):
    root = tmp_path / "folders"
    for c in ("hand", "chest"):
        for i in range(3):
            _png(root / c / "sub" / f"{i}.png", i)
    (root / "notes.txt").write_text("x")
    assert datasets.detect(root)[0] == "folder"
    s = datasets.load(root)
    assert [x.label for x in s] == ["chest"] * 3 + ["hand"] * 3
    (root / "labels.csv").write_text("path,label\nhand/sub/0.png,hand\nhand/sub/9.png,hand\n,\nchest/sub/1.png,\n"
                                     "chest/sub/2.png,chest\n")
    msgs = []
    assert datasets.detect(root)[0] == "csv"
    s = datasets.load(root, log=msgs.append)
    assert [(x.label, x.where.rsplit(":", 1)[1]) for x in s] == [("hand", "2"), ("chest", "6")]
    assert any(":3: missing image file 'hand/sub/9.png'" in m for m in msgs)
    assert any(":5: empty label" in m for m in msgs)


def test_no_usable_images_is_an_error(tmp_path):
    (tmp_path / "labels.csv").write_text("path,label\nmissing.png,a\n")
    with pytest.raises(datasets.DatasetError, match="no usable images"):
        datasets.load(tmp_path, log=lambda m: None)
