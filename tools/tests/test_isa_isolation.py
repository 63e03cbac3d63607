"""One release binary runs on every x86-64 CPU: the instructions of the AVX-512, AVX-VNNI and AVX2
kernel variants exist only in their own modules, which run only after the CPU-feature check
(KernelVariant). An instruction of a newer ISA anywhere else (a stray `-target-cpu`, a C shim
inlined into the wrong module, a compiler helper shared by name across modules) would be a SIGILL
on an older CPU, which no test on a newer machine would otherwise show. Read off `objdump -d` of
each module's object files (where a function comes from is certain there) and of the linked binary
(which copy of a helper that several modules define the linker kept)."""
import platform
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from test_swift_e2e import roentgen_bin

pytestmark = pytest.mark.skipif(platform.machine() != "x86_64" or shutil.which("objdump") is None,
                                reason="x86-64 instruction sets, read with objdump")

# What each kernel module may use (Package.swift: cascadelake, alderlake, haswell); every other
# module is baseline x86-64 (SSE2) and may use none of it.
ALLOWED = {"RoentgenKernelsVNNI": {"ymm", "avx512"}, "RoentgenKernelsAVXVNNI": {"ymm", "avxvnni"},
           "RoentgenKernelsAVX2": {"ymm"}}


def isa_classes(insn: str) -> set:
    """The instruction-set classes one AT&T instruction line needs beyond SSE."""
    need = set()
    if re.search(r"%zmm|%k[0-7]\b|\{%k|\{1to", insn) or re.match(r"(vpdp\w+)\s+%[xy]mm", insn):
        need.add("avx512")                              # zmm, opmasks, broadcasts; EVEX vpdp* on xmm/ymm
    elif re.match(r"\{vex\}\s*vpdp", insn):
        need.add("avxvnni")                             # objdump marks AVX-VNNI's VEX form
    if re.search(r"%ymm", insn):
        need.add("ymm")
    return need


def disassemble(path, counts=None) -> dict:
    """{function: set of isa classes its instructions need} (a name several local functions share:
    the union); `counts`, if given, gets how many functions of each name there are."""
    out = subprocess.run(["objdump", "-d", "--no-show-raw-insn", str(path)], capture_output=True, text=True,
                         check=True).stdout
    funcs, current = {}, None
    for line in out.splitlines():
        m = re.match(r"^[0-9a-f]+ <(.+)>:$", line)
        if m:
            current = funcs.setdefault(m[1], set())
            if counts is not None:
                counts[m[1]] = counts.get(m[1], 0) + 1
        elif current is not None and "\t" in line:
            current |= isa_classes(line.split("\t", 1)[1].strip())
    return funcs


@pytest.fixture(scope="module")
def binary():
    return roentgen_bin()


@pytest.fixture(scope="module")
def modules(binary):
    """{module: {function: classes}} from the object files the binary was linked from."""
    listing = Path(binary).resolve().parent / "roentgen.product" / "Objects.LinkFileList"
    assert listing.is_file(), f"{listing}: the link's object list (swift build -c release writes it)"
    mods = {}
    for obj in listing.read_text().split():
        obj = Path(obj.strip('"'))
        funcs = mods.setdefault(obj.parent.name.removesuffix(".build"), {})
        for name, need in disassemble(obj).items():
            funcs[name] = funcs.get(name, set()) | need
    return mods


def test_each_module_uses_only_its_instruction_set(modules):
    wrong = [f"{mod}: {fn} uses {sorted(need - ALLOWED.get(mod, set()))}"
             for mod, funcs in modules.items() for fn, need in funcs.items() if need - ALLOWED.get(mod, set())]
    assert not wrong, f"{len(wrong)} functions outside their instruction set: " + "; ".join(wrong[:5])
    # the check saw what it guards (it would pass vacuously if the modules were not found)
    assert all(mod in modules for mod in ALLOWED), sorted(modules)
    for mod, isa in (("RoentgenKernelsVNNI", "avx512"), ("RoentgenKernelsAVXVNNI", "avxvnni"), ("RoentgenKernelsAVX2", "ymm")):
        assert sum(isa in need for need in modules[mod].values()) >= 5, (mod, isa)


def test_helpers_shared_by_name_keep_a_copy_every_definer_can_run(modules, binary):
    """Compiler helpers (`__swift_memcpyN_A` value-witness copies, ...) are emitted by every module
    that needs them under one name, and the linker keeps one copy: it must be one that every module
    that defines it can run (e.g. not an avxvnni copy for the avx2 module). A name that stays
    several functions in the binary is local to each module (the C shims: static inline), so each
    module calls its own copy."""
    definers = {}
    for mod, funcs in modules.items():
        for fn in funcs:
            definers.setdefault(fn, []).append(mod)
    counts = {}
    linked = disassemble(binary, counts)
    shared = {fn: mods for fn, mods in definers.items() if len(mods) > 1 and counts.get(fn) == 1}
    assert any(fn.startswith("__swift_memcpy") for fn in shared), "no merged helper found: the check saw nothing"
    wrong = [f"{fn} ({', '.join(mods)}) uses {sorted(linked[fn] - set.intersection(*(ALLOWED.get(m, set()) for m in mods)))}"
             for fn, mods in shared.items() if linked[fn] - set.intersection(*(ALLOWED.get(m, set()) for m in mods))]
    assert not wrong, "; ".join(wrong[:5])


def test_avxvnni_multiplies_with_vpdpbusd():
    """The avxvnni tiles multiply u8 quads with AVX-VNNI's VEX vpdpbusd (never avx2's vpmaddwd), and
    the instruction is there in quantity: every CONV2D / DENSE tile shape has its own loop."""
    out = subprocess.run(["objdump", "-d", "--no-show-raw-insn",
                          *[str(p) for p in (Path(roentgen_bin()).resolve().parent / "RoentgenKernelsAVXVNNI.build").glob("*.o")]],
                         capture_output=True, text=True, check=True).stdout
    assert len(re.findall(r"\{vex\}\s*vpdpbusd", out)) >= 50
    assert "vpmaddwd" not in out, "a product of avx2's form in the avxvnni module"


# ---- the same binary on an x86-64 without AVX ---------------------------------------------------

QEMU = shutil.which("qemu-x86_64")
MODELS = Path(__file__).resolve().parents[2] / "fixtures" / "models"
IMAGE = sorted((MODELS.parent / "heldout").glob("*/*.png"))[0]


def _logits(cmd, env):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    return [line for line in r.stdout.splitlines()], r.stderr


@pytest.mark.parametrize("model,threads", [("cnn-int8.rtg", 1), ("cnn-int8.rtg", 2), ("cnn-f32.rtg", 2)])
def test_runs_on_a_cpu_without_avx(binary, model, threads):
    """QEMU's Westmere (SSE4.2, no AVX: what Gemini Lake Celerons have): the feature check picks
    `portable`, nothing faults, and the output equals the native `portable` run's byte for byte.
    OpenBLAS (the portable f32 path) misreads QEMU's CPUID as Haswell, so it is told Nehalem."""
    import os
    assert QEMU, "qemu-x86_64 not found (scripts/setup.sh installs qemu-user)"
    env = {k: v for k, v in os.environ.items() if k != "ROENTGEN_KERNEL"} | {"OPENBLAS_CORETYPE": "Nehalem"}
    args = ["classify", "--json", "--threads", str(threads), str(MODELS / model), str(IMAGE)]
    emulated, err = _logits([QEMU, "-cpu", "Westmere", str(binary), *args], env)
    native, _ = _logits([str(binary), *args], env | {"ROENTGEN_KERNEL": "portable"})
    assert "warning" not in err, err
    strip = lambda lines: [re.sub(r'"(ms|[a-z_]*_ms)": [0-9.e+-]+', "", x) for x in lines]   # noqa: E731 - timings differ
    assert strip(emulated) == strip(native) and emulated
    inspect, _ = _logits([QEMU, "-cpu", "Westmere", str(binary), "inspect", str(MODELS / model)], env)
    assert any(line.startswith("kernel: portable") for line in inspect), [x for x in inspect if "kernel:" in x]
