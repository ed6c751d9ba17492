"""Figures for the report: matplotlib on the Agg backend (no screen), one style, saved as PNG.

``figure()`` gives a (fig, ax) pair; ``save(fig, folder, name)`` writes ``name.png`` and
closes the figure, returning the file name the page references.
"""

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)

COLORS = {"ad": "#1f77b4", "symbolic": "#2ca02c", "symbolic-dag": "#2ca02c",
          "symbolic-cse": "#98df8a", "symbolic-tree": "#556b2f", "fd-forward": "#ff9896",
          "fd-central": "#d62728", "fd-central4": "#e377c2", "fd-richardson": "#9467bd",
          "complex-step": "#ff7f0e", "reference": "#7f7f7f"}


def figure(width=6.4, height=4.0, ncols=1):
    fig, axes = plt.subplots(1, ncols, figsize=(width * ncols if ncols > 1 else width, height),
                             squeeze=True)
    return fig, axes


def color(name):
    return COLORS.get(name)


def save(fig, folder, name):
    """Write ``name.png`` atomically (a kill mid-write leaves the previous file, if any)."""
    file = f"{name}.png"
    temporary = Path(folder) / f".{name}.{os.getpid()}.png"
    try:
        fig.tight_layout()
        fig.savefig(temporary, dpi=110)
        os.replace(temporary, Path(folder) / file)
    finally:
        plt.close(fig)
        temporary.unlink(missing_ok=True)
    return file
