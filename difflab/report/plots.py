"""Figures for the report: matplotlib on the Agg backend (no screen), one style, saved as PNG.

``figure()`` gives a (fig, ax) pair; ``save(fig, folder, name)`` writes ``name.png`` and
closes the figure, returning the file name the page references. A method's colour and legend
label are the registry's (``interface.style``).
"""

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)

from .. import interface  # noqa: E402

NEUTRAL = "#999999"     # a series that is no method's (a count of calls, a function itself)

def figure(width=6.4, height=4.0, ncols=1):
    fig, axes = plt.subplots(1, ncols, figsize=(width * ncols if ncols > 1 else width, height),
                             squeeze=True)
    return fig, axes


def color(method):
    """The colour the registry gives ``method`` (any of its names)."""
    return interface.style(method).color


def linestyle(method):
    """The line style the registry gives ``method``: schemes drawn together differ by it."""
    return interface.style(method).linestyle


def label(method):
    """The label the registry gives ``method``, for legends (tables keep the names)."""
    return interface.style(method).label


def save(fig, folder, name):
    """Write ``name.png`` atomically (a kill mid-write leaves the previous file, if any)."""
    file = f"{name}.png"
    temporary = Path(folder) / f".{name}.{os.getpid()}.png"
    try:
        if fig.get_layout_engine() is None:      # a figure that chose its own layout keeps it
            fig.tight_layout()
        fig.savefig(temporary, dpi=110)
        os.replace(temporary, Path(folder) / file)
    finally:
        plt.close(fig)
        temporary.unlink(missing_ok=True)
    return file
