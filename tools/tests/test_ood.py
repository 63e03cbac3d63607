"""The synthetic out-of-domain images of the reject class (data/ood.py, `roentgen-data ood`)."""
import csv

import numpy as np
import png

from roentgen_tools.data import ood


def test_every_kind_is_deterministic_and_in_range():
    for kind in ood.KINDS:
        a, b = ood.render(kind, 5, 3, 64), ood.render(kind, 5, 3, 64)
        assert np.array_equal(a, b), kind
        assert a.shape[:2] == (64, 64) and a.ndim in (2, 3) and 0 <= a.min() and a.max() <= 1, kind
        assert a.std() > 0.02, f"{kind}: a flat image teaches nothing"
        assert not np.array_equal(a, ood.render(kind, 5, 4, 64)), kind


def test_generate_writes_a_labelled_folder(tmp_path):
    rows = ood.generate(tmp_path, seed=1, count=7, size=48)
    assert [r[1] for r in rows] == [ood.REJECT_LABEL] * 7
    assert [r[0].split("/")[1].split("_")[0] for r in rows] == list(ood.KINDS) + [ood.KINDS[0]]
    listed = list(csv.DictReader(open(tmp_path / "labels.csv")))
    assert [(r["path"], r["label"]) for r in listed] == rows
    w, h, _, info = png.Reader(filename=str(tmp_path / rows[2][0])).read()   # ultrasound: maybe colour
    assert (w, h) == (48, 48) and info["bitdepth"] == 8
