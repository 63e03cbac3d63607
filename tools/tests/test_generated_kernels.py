"""The per-ISA kernel modules are generated; the committed files must be what the generator writes."""
import importlib.util

from conftest import REPO


def test_isa_kernels_match_their_generator():
    path = REPO / "Sources" / "RoentgenKernels" / "generate_isa_kernels.py"
    spec = importlib.util.spec_from_file_location("generate_isa_kernels", path)
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    for name, d in gen.ISAS.items():
        with open(gen.output_path(name)) as f:
            committed = f.read()
        assert committed == gen.render(name, d), (
            f"Sources/RoentgenKernels{name}/Kernels.swift differs from its generator: "
            "run python3 Sources/RoentgenKernels/generate_isa_kernels.py")
