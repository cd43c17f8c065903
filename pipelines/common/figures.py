"""Matplotlib for report figures: the Agg backend (no display needed) and atomic PNGs.

Shared by the credit reports and the emotion model's evaluation, so every figure is
written the same way and no figure is left open to leak memory in a long sweep.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from senim.atomic_files import atomic_write

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the Agg backend, imported on first use (it is slow)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_png(fig: Figure, path: Path, *, dpi: int = 120) -> Path:
    """Save ``fig`` as a PNG atomically and always close it."""
    plt = pyplot()
    path = Path(path)
    try:
        fig.tight_layout()
        atomic_write(path, lambda handle: fig.savefig(handle, format="png", dpi=dpi))
    finally:
        plt.close(fig)
    return path
