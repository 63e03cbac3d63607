"""Python side of Roentgen: ONNX -> .rtg converter, numpy reference runtime, fixtures."""

# The one place the version is written (pyproject.toml reads it); PROVENANCE `converter_version`.
__version__ = "2.1.0"
