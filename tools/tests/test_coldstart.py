"""scripts/coldstart.py for real, on the shipped Table-2 model with a few runs: Roentgen's whole-process
`classify` of one image next to `--help` (no model), and ONNX Runtime fp32 through the C program on the
wheel's C API. Checks that the figures are those of processes that loaded the model and ran it.
Never skipped: it needs the Swift binary (ROENTGEN_BIN), cc and onnxruntime, as the suite does."""
import json
import subprocess
import sys
from pathlib import Path

from conftest import REPO, TRAINED
from test_swift_e2e import roentgen_bin

RUNS = 3
ENGINES = ["roentgen-help", "roentgen-int8", "roentgen-int8-json", "ort-fp32"]


def test_coldstart_roentgen_and_ort(tmp_path):
    out = tmp_path / "coldstart.json"
    r = subprocess.run([sys.executable, str(REPO / "scripts/coldstart.py"), "--roentgen", str(roentgen_bin()),
                        "--engines", *ENGINES, "--runs", str(RUNS), "--tflite", "--work", str(tmp_path / "work"),
                        "--json", str(out)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "median ms" in r.stdout and "roentgen-int8" in r.stdout      # the table was printed
    res = json.loads(out.read_text())
    rows = {row["engine"]: row for row in res["rows"]}
    assert sorted(rows) == sorted(ENGINES) and all(row["how"] == "native" for row in rows.values())

    for name, row in rows.items():
        warm = row["warm"]
        assert len(warm["runs_ms"]) == RUNS, name
        assert res["floor_ms"] < warm["min_ms"] <= warm["median_ms"] < 10_000, name
        assert 1 < row["peak_rss_mib"] <= row["peak_rss_mib_max"] < 2048, name
        executable = Path(row["argv"][0])
        assert Path(row["files"][0]["path"]) == executable.resolve(), name
        assert row["on_disk_mib"] * 2**20 > executable.stat().st_size, name    # the executable and its libraries
        assert row["cold"] is None                                             # no --cold

    help_, int8, ort = rows["roentgen-help"], rows["roentgen-int8"], rows["ort-fp32"]
    model_mib = (TRAINED / "cnn-int8.rtg").stat().st_size / 2**20
    assert int8["model_mib"] == model_mib
    # the weights are in memory, and their pages were faulted in, on top of what the bare binary takes
    assert int8["peak_rss_mib"] > help_["peak_rss_mib"] + model_mib
    assert int8["minor_faults"] > help_["minor_faults"]
    assert any("libswiftCore" in f["path"] for f in int8["files"])
    assert ort["peak_rss_mib"] > ort["model_mib"] > 10
    assert any("libonnxruntime.so" in f["path"] for f in ort["files"])
    # both classified the same image: the same network gives the same class
    assert rows["roentgen-int8-json"]["top1"] == ort["top1"] is not None

    decode = res["roentgen_decode"]
    assert len(decode) == 1 and 0 < decode[0]["first_call_decode_ms"] < decode[0]["first_call_latency_ms"]
