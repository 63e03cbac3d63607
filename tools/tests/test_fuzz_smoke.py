"""The fuzz targets (scripts/fuzz.sh, docs/FUZZING.md) for a short, fixed budget each, from the seeds
only (a fresh corpus, so the result does not depend on earlier campaigns): no crash, no timeout, no
out-of-memory. And the model inputs the fuzzer once crashed the Swift reader with are rejected by
the Python reader too. Never skips: a toolchain without libFuzzer is a failure."""
import re
import subprocess

import pytest

from conftest import REPO
from roentgen_tools.fileformat import FormatError, read_model

SECONDS = 15       # per target: with a cold compile the whole test takes about 100 s on 2 cores
RUNS = 1_000_000   # and a bound on executions, whatever the machine's speed
TARGETS = ("model", "png", "dicom")
LINE = re.compile(r"^(\w+) +executions (\d+) +cov (\d+) +ft (\d+) +crashes (\d+)$", re.M)


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    work = tmp_path_factory.mktemp("fuzz-work")
    run = subprocess.run([str(REPO / "scripts/fuzz.sh"), "--time", str(SECONDS), "--runs", str(RUNS),
                          "--work", str(work), *TARGETS],
                         capture_output=True, text=True, timeout=600)
    return run, {m[1]: [int(x) for x in m.groups()[1:]] for m in LINE.finditer(run.stdout)}


@pytest.mark.parametrize("target", TARGETS)
def test_target_runs_without_crashing(smoke, target):
    run, results = smoke
    assert target in results, f"no result line for {target}:\n{run.stdout}\n{run.stderr[-3000:]}"
    executions, cov, ft, crashes = results[target]
    assert crashes == 0, f"{target} crashed:\n{run.stdout}\n{run.stderr[-3000:]}"
    assert executions >= 1000 and cov > 0 and ft > 0, run.stdout


def test_script_fails_when_a_target_crashes(smoke):
    run, results = smoke
    assert run.returncode == (1 if any(r[3] for r in results.values()) else 0), run.stdout


MODEL_REGRESSIONS = sorted((REPO / "fixtures/fuzz-regressions/model").glob("*"))


@pytest.mark.parametrize("path", MODEL_REGRESSIONS, ids=[p.name for p in MODEL_REGRESSIONS])
def test_python_reader_rejects_model_regression(path):
    with pytest.raises(FormatError) as e:
        read_model(path)
    assert not str(e.value).startswith(("header.sha256", "header.file_size")), "stored without re-sealing"


def test_model_regressions_are_there():
    assert MODEL_REGRESSIONS
