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
