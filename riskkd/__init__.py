"""riskkd: distil gradient-boosted risk models into compact, fast, calibrated students."""

__all__ = [
    "DistilledClassifier",
    "MultiStageDistiller",
    "__version__",
    "export_onnx",
    "fidelity_report",
    "load",
    "save",
]

from importlib.metadata import PackageNotFoundError, version

from .distill import DistilledClassifier
from .fidelity import fidelity_report
from .multistage import MultiStageDistiller
from .persistence import load, save

try:
    __version__ = version("riskkd")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"


def __getattr__(name: str):
    # PEP 562: export_onnx is imported on first use, as it needs the optional onnx extra.
    if name == "export_onnx":
        from .export import export_onnx

        return export_onnx
    raise AttributeError(f"module 'riskkd' has no attribute {name!r}")
