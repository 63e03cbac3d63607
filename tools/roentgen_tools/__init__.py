"""Python side of Roentgen: ONNX -> .rtg converter, numpy reference runtime, fixtures."""
from importlib import metadata as _metadata

try:
    __version__ = _metadata.version("roentgen-tools")
except _metadata.PackageNotFoundError:  # running from a source tree without installation
    __version__ = "2.0.0"
