"""The committed op tables (fileformat/ops.py, Sources/RoentgenFormat/Ops.swift) are exactly what
scripts/generate_ops.py writes from ops.toml, so nobody edits them by hand or forgets to
regenerate them."""
import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def load_generator():
    spec = importlib.util.spec_from_file_location("generate_ops", REPO / "scripts" / "generate_ops.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_committed_files_equal_generator_output():
    gen = load_generator()
    outputs = gen.outputs()
    assert {p.relative_to(REPO).as_posix() for p in outputs} == {
        "tools/roentgen_tools/fileformat/ops.py", "Sources/RoentgenFormat/Ops.swift"}
    for path, text in outputs.items():
        assert path.exists(), f"{path} missing: run python3 scripts/generate_ops.py"
        assert path.read_text() == text, f"{path.relative_to(REPO)} is stale: run python3 scripts/generate_ops.py"


def test_imported_table_matches_ops_toml():
    """The module the package imports is the committed file (not a stale copy elsewhere) and
    agrees with the table it came from."""
    from roentgen_tools.fileformat import ops
    gen = load_generator()
    table = gen.load()
    assert Path(ops.__file__).resolve() == (REPO / "tools/roentgen_tools/fileformat/ops.py").resolve()
    assert {o["id"]: o["name"] for o in table["op"]} == ops.OP_NAMES
    for o in table["op"]:
        d = ops.OPS[o["id"]]
        assert [a["name"] for a in o["attrs"]] == [a.name for a in d.attrs]
        assert len(o["signatures"]) == len(d.signatures)
    assert {a["id"]: a["name"] for a in table["attribute"]} == ops.ATTR_NAMES
