"""fixtures/bad: every file is rejected naming its field; the corpus on disk is exactly what
roentgen_tools.fileformat.badfiles generates (so it cannot drift from the generator); the valid
model it is derived from is accepted."""
import csv
from pathlib import Path

import pytest

from roentgen_tools.fileformat import FormatError, badfiles, read_bytes, read_model, serialize

BAD = Path(__file__).resolve().parents[2] / "fixtures" / "bad"


def index_rows():
    with open(BAD / "index.tsv", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


ROWS = index_rows()


def test_index_columns_and_files():
    assert (BAD / "index.tsv").read_text().splitlines()[0] == "file\tfield\trule"
    names = [r["file"] for r in ROWS]
    assert len(names) == len(set(names)) >= 60
    assert sorted(p.name for p in BAD.glob("*.rtg")) == sorted(names)  # no file without a row
    assert all(r["field"] and r["rule"] for r in ROWS)


@pytest.mark.parametrize("row", ROWS, ids=[r["file"] for r in ROWS])
def test_rejected_naming_the_field(row):
    with pytest.raises(FormatError) as e:
        read_model(BAD / row["file"])
    # the message starts with the field, then ": " (SPEC "The field named in the error")
    assert str(e.value).startswith(row["field"] + ": "), f"{row['file']} ({row['rule']}): {e.value}"
    assert "\n" not in str(e.value)


def test_corpus_on_disk_equals_generator():
    files = badfiles.corpus()
    assert (BAD / "index.tsv").read_text() == badfiles.index_text(files)
    for name, _, _, data in files:
        assert (BAD / name).read_bytes() == data, f"{name} differs from badfiles.py: regenerate with " \
                                                  "python -m roentgen_tools.fileformat.badfiles fixtures/bad"


def test_corpus_is_small():
    assert sum(p.stat().st_size for p in BAD.iterdir()) < 1_000_000


def test_base_model_is_valid_and_round_trips():
    m = badfiles.base_model()
    data = serialize(m)
    back = read_bytes(data)
    assert serialize(back) == data
    kinds = {op.kind for op in back.ops}
    from roentgen_tools.fileformat import ops
    assert {ops.OP_QUANTIZE, ops.OP_CONV2D, ops.OP_ADD, ops.OP_MEAN, ops.OP_DENSE, ops.OP_CONCAT} <= kinds


def test_every_file_differs_from_the_base():
    base = serialize(badfiles.base_model())
    assert all(data != base for _, _, _, data in badfiles.corpus())


def test_write_corpus_removes_stale_files(tmp_path):
    (tmp_path / "old-rule.rtg").write_bytes(b"x")
    files = badfiles.write_corpus(tmp_path)
    assert sorted(p.name for p in tmp_path.glob("*.rtg")) == sorted(f[0] for f in files)
    assert badfiles.main([str(tmp_path)]) == 0
