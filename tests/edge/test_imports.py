"""The light install must not drag in the training stack or Senim's server packages."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import edge

FORBIDDEN = (
    "tensorflow",
    "keras",
    "mlflow",
    "bentoml",
    "pandas",
    "sklearn",
    "prefect",
    "pipelines",
    "serving",
    "senim",
    "auth",
    "models",
    "flows",
)


def test_given_every_edge_module_when_imported_then_no_heavy_or_server_package_is_loaded():
    modules = [f"edge.{m.name}" for m in pkgutil.iter_modules(edge.__path__)]
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r})\n"
        "print(','.join(bad))\n"
    )
    root = Path(edge.__file__).parent.parent
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=root, check=True
    )
    assert len(modules) > 10
    assert done.stdout.strip() == ""
