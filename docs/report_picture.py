"""Compose docs/report.png, the README's picture, from a report folder's figures.

    python docs/report_picture.py reports/latest

Takes one figure per section (the names below, in order; a missing one is skipped with a
note) and lays them out two to a row at their own aspect ratios, with nothing redrawn: what
the README shows is what the report drew.
"""

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.image as mpimg  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402

FIGURES = ("precision-digits.png", "swell-depth.png", "runtime-forward.png", "memory.png",
           "newton-rosenbrock.png", "flow-depth.png")
OUT = Path(__file__).resolve().parent / "report.png"
WIDTH = 14.0                   # inches of the whole picture


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    folder = Path(argv[0] if argv else "reports/latest")
    images = []
    for name in FIGURES:
        path = folder / name
        if path.is_file():
            images.append(mpimg.imread(path))
        else:
            print(f"report_picture: {path} is missing, skipped")
    if not images:
        raise SystemExit(f"report_picture: no figures in {folder}")
    rows = [images[i:i + 2] for i in range(0, len(images), 2)]
    # each row as tall as its images need at half the width each
    heights = [max(image.shape[0] / image.shape[1] for image in row) * WIDTH / 2 for row in rows]
    fig = plt.figure(figsize=(WIDTH, sum(heights)))
    grid = fig.add_gridspec(len(rows), 2, height_ratios=heights, hspace=0.02, wspace=0.02)
    for r, row in enumerate(rows):
        for c, image in enumerate(row):
            ax = fig.add_subplot(grid[r, c])
            ax.imshow(image)
            ax.axis("off")
    fig.savefig(OUT, dpi=80, bbox_inches="tight")
    print(f"report_picture: wrote {OUT} from {len(images)} figures of {folder}")


if __name__ == "__main__":
    main()
