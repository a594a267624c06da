"""Pictures of training runs: the confusion matrix of an evaluation, the reconstruction grid of the
disentangled encoders. Every picture is written as a PNG through `signprep.atomic` (complete or absent).

The confusion matrix is scikit-learn's `ConfusionMatrixDisplay` on a matplotlib `Figure` rendered by
the Agg canvas (no pyplot window, no global backend switch). The grid is a mosaic of image tiles
with OpenCV text, laid out here from rows the evaluation computes
(`signprep.evaluation.disentanglement.reconstruction_rows`).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from signprep.atomic import atomic_write_bytes
from signprep.reports.contact_sheet import write_png

__all__ = [
    "GridRow",
    "confusion_figure",
    "figure_png",
    "reconstruction_grid",
    "render_confusion",
    "render_reconstruction_grid",
]

VALUES_UP_TO = 30  # classes up to which each cell carries its number (beyond, the text is unreadable)


def confusion_figure(confusion: Sequence[Sequence[int]], names: Sequence[str], title: str):
    """A matplotlib Figure of a confusion matrix (rows true, columns predicted), each row normalised
    to sum 1: cell colour and number are the fraction of that row's items predicted as the column's
    class; the row labels carry the row's count. `names` (cut to 14 characters) label both axes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from sklearn.metrics import ConfusionMatrixDisplay

    counts = np.asarray(confusion, np.int64)
    c = len(counts)
    per_row = counts.sum(1)
    fractions = counts / np.maximum(per_row[:, None], 1)
    labels = [str(n)[:14] for n in names[:c]]
    side = 1.5 + 0.4 * c  # inches of the matrix: 0.4 in (40 px) per cell
    fig = Figure(figsize=(side + 2.5, side + 2.0), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    display = ConfusionMatrixDisplay(fractions, display_labels=labels).plot(
        ax=ax,
        cmap="viridis",
        include_values=c <= VALUES_UP_TO,
        values_format=".2f",
        xticks_rotation="vertical",
        im_kw={"vmin": 0.0, "vmax": 1.0},
        text_kw={"fontsize": 8},
    )
    if display.text_ is not None:  # sklearn picks the ink from the data's range, not the colour scale's [0, 1]
        dark, light = display.im_.cmap(0.0), display.im_.cmap(1.0)
        for (i, j), text in np.ndenumerate(display.text_):
            text.set_color(light if fractions[i, j] < 0.5 else dark)
    ax.set_yticklabels([f"{name} ({n})" for name, n in zip(labels, per_row)])
    ax.set(title=title, xlabel="predicted", ylabel="true (items)")
    return fig


def figure_png(fig) -> bytes:
    """The PNG bytes of a matplotlib Figure at its own size and dpi."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=fig.dpi)
    return buffer.getvalue()


def render_confusion(confusion: Sequence[Sequence[int]], names: Sequence[str], path: str | Path, title: str) -> Path:
    """Write `confusion_figure` as a PNG at `path`, atomically."""
    return atomic_write_bytes(path, figure_png(confusion_figure(confusion, names, title)))


# ---------------------------------------------------------------------------------------------- image grid
TILE = 128  # pixels per tile in the grid (64x64 frames drawn at 2x)
LABEL_WIDTH, GAP = 250, 4  # pixels: the text column left of each row, the space between tiles


@dataclass
class GridRow:
    """One row of the grid: text lines on the left, then a first tile (blank when None) and the images."""

    label: list[str]
    images: list[np.ndarray]  # (h, w, 3) uint8 RGB each, drawn at TILE x TILE
    first: np.ndarray | None = None


def reconstruction_grid(groups: Sequence[Sequence[GridRow]], title: str) -> np.ndarray:
    """(H, W, 3) uint8 RGB: a header line with `title`, then each group's rows, groups apart by a black band."""
    blank = np.full((TILE, TILE, 3), 40, np.uint8)
    rows: list[np.ndarray] = []
    for group in groups:
        for r in group:
            tiles = [blank if r.first is None else _tile(r.first), *(_tile(x) for x in r.images)]
            body = np.hstack([np.pad(t, ((0, GAP), (0, GAP), (0, 0))) for t in tiles])
            rows.append(np.hstack([_text(r.label, LABEL_WIDTH, body.shape[0]), body]))
        rows.append(np.full((GAP * 3, 1, 3), 0, np.uint8))
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0))) for r in rows]
    return np.vstack([_text([title], width, 30), *rows])


def render_reconstruction_grid(groups: Sequence[Sequence[GridRow]], path: str | Path, title: str) -> Path:
    """Write `reconstruction_grid` as a PNG at `path`, atomically."""
    return write_png(reconstruction_grid(groups, title), Path(path))


def _tile(image: np.ndarray) -> np.ndarray:
    return cv2.resize(np.ascontiguousarray(image), (TILE, TILE), interpolation=cv2.INTER_NEAREST)


def _text(lines: Sequence[str], width: int, height: int = TILE) -> np.ndarray:
    img = np.full((height, width, 3), 24, np.uint8)
    for i, line in enumerate(lines):
        cv2.putText(img, line, (6, 20 + 18 * i), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (235, 235, 235), 1, cv2.LINE_AA)
    return img
