"""roentgen-fixtures is deterministic: two runs give the same bytes."""
import json
import os

from roentgen_tools import fixtures
from roentgen_tools.fileformat import read_model


def tree(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_generator_is_deterministic(tmp_path, monkeypatch, table2_fixture):
    """`table2_fixture` (conftest) is one run, generated once per session; this is the second."""
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    a, b = table2_fixture, tmp_path / "b" / "fixtures"
    fixtures.generate(b, log=lambda *_: None)
    ta, tb = tree(a), tree(b)
    assert sorted(ta) == sorted(tb)
    for name in ta:
        assert ta[name] == tb[name], f"{name} differs between two runs"
    # shape of the output
    assert "models/table2.onnx" in ta and "models/labels.txt" in ta and "expected/table2-int8.jsonl" in ta
    assert len([n for n in ta if n.startswith("images/")]) == 12
    assert len([n for n in ta if n.startswith("calib/")]) == 16
    rows = [json.loads(line) for line in ta["expected/table2-int8.jsonl"].decode().splitlines()]
    assert rows[0]["path"].startswith("fixtures/images/")
    assert dict(read_model(a / "models" / "table2-int8.rtg").provenance)["created"] == fixtures.FIXED_CREATED
    assert sum(len(v) for v in ta.values()) < 35 * 2**20


def test_created_override(tmp_path, monkeypatch):
    from roentgen_tools.convert import created_timestamp
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "0")
    assert created_timestamp() == "1970-01-01T00:00:00Z"
    assert created_timestamp("2030-05-05T05:05:05Z") == "2030-05-05T05:05:05Z"
    monkeypatch.delenv("SOURCE_DATE_EPOCH")
    assert created_timestamp().endswith("Z")
    assert os.environ.get("SOURCE_DATE_EPOCH") is None


def test_shipped_models_are_what_their_sources_convert_to(tmp_path):
    """fixtures/models/*-int8.rtg are exactly scripts/convert-fixtures.sh's output from the committed
    sources (ONNX, SVM, labels, calibration DRRs), so a converter change that alters them fails here
    until the fixtures are re-converted."""
    from conftest import FIXTURES
    from roentgen_tools import convert
    from roentgen_tools.fileformat import serialize

    from roentgen_tools.fileformat import Confidence

    m, created = FIXTURES / "models", "2026-12-01T00:00:00Z"
    conf = {k: Confidence(v["temperature"], v["min_confidence"]) for k, v in
            json.loads((m / "confidence.json").read_text()).items() if not k.startswith("_")}
    labels = convert.read_labels(m / "cnn-labels.txt")
    cnn = convert.convert(m / "cnn.onnx", "int8", calib=FIXTURES / "calib-drr", labels=labels, created=created)
    cnn.confidence = conf["cnn"]
    assert serialize(cnn) == (m / "cnn-int8.rtg").read_bytes(), "re-run scripts/convert-fixtures.sh"
    # approach A: the .npz names the backbone, re-exported from its hash-checked weights
    svm = convert.convert_svm(None, m / "svm.npz", "int8", FIXTURES / "calib-drr", created=created)
    svm.confidence = conf["svm"]
    svm.confidence.reject_class = svm.labels.index(json.loads((m / "confidence.json").read_text())["svm"]["reject_class"])
    assert serialize(svm) == (m / "svm-int8.rtg").read_bytes(), "re-run scripts/convert-fixtures.sh"
