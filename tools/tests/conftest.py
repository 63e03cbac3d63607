import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # cnn_factory

from cnn_factory import random_cnn, write_images  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def calib_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("calib")
    write_images(d, seed=1, count=8)
    return d


@pytest.fixture(scope="session")
def small_onnx(tmp_path_factory):
    """A seeded random CNN written to disk (shared by several tests)."""
    d = tmp_path_factory.mktemp("small")
    model, _ = random_cnn(3)
    p = d / "small.onnx"
    p.write_bytes(model.SerializeToString())
    return p


@pytest.fixture(scope="session")
def small_int8(small_onnx, calib_dir):
    from roentgen_tools import convert
    return convert.convert(small_onnx, "int8", calib=calib_dir, created="2026-01-01T00:00:00Z")


FIXTURES = REPO / "fixtures"
TRAINED = FIXTURES / "models"  # the committed trained models: cnn.onnx, cnn-{int8,f32}.rtg, svm-{int8,f32}.rtg


def trained_images():
    """The committed images the trained models are checked on: fixtures/images, then fixtures/heldout
    (the order of fixtures/expected/cnn-int8.jsonl)."""
    return sorted((FIXTURES / "images").glob("*.png")) + sorted((FIXTURES / "heldout").rglob("*.png"))


@pytest.fixture(scope="session")
def table2_fixture(tmp_path_factory):
    """The untrained Table-2 fixture (random weights, 24 classes), generated once per session by
    `roentgen-fixtures` into a temporary `fixtures/` folder (it is not committed; about 4 s).
    Holds models/table2.onnx, models/table2-{int8,f32}.rtg, models/labels.txt, images/, calib/ and
    expected/table2-int8.jsonl (paths relative to the folder's parent). Read only."""
    from roentgen_tools import fixtures
    out = tmp_path_factory.mktemp("table2") / "fixtures"
    fixtures.generate(out, log=lambda *_: None)
    return out
