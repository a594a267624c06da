"""The pictures of training runs, checked on the decoded PNG: the confusion matrix's cell colours
follow the row-normalised counts and its axes name the classes; the reconstruction grid puts each
tile where its row and column say."""

from __future__ import annotations

import cv2
import numpy as np
from matplotlib import colormaps

from signprep.reports.plots import (
    GAP,
    LABEL_WIDTH,
    TILE,
    GridRow,
    confusion_figure,
    figure_png,
    reconstruction_grid,
    render_confusion,
)


def _decode(png: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None, "not a PNG"
    return image[..., ::-1]  # RGB


def test_confusion_cells_take_the_colour_of_their_row_fraction():
    names = ["a", "bb", "cccc", "dddddd", "eeeeeeeeee"]
    counts = np.diag([5, 4, 3, 2, 1]) + 1  # rows of 10, 9, 8, 7, 6 items
    fig = confusion_figure(counts, names, "five classes")
    image = _decode(figure_png(fig))
    width, height = fig.get_size_inches() * fig.dpi
    assert image.shape[:2] == (round(height), round(width))

    ax = fig.axes[0]  # transforms as laid out by the savefig above
    fractions = counts / counts.sum(1, keepdims=True)
    viridis = colormaps["viridis"]
    diagonal, off = [], []
    for i in range(5):
        for j in range(5):
            # a point 0.4 cell up-left of the centre: inside the cell, clear of its centred number
            x, y = ax.transData.transform((j - 0.4, i - 0.4))
            pixel = image[int(round(image.shape[0] - y)), int(round(x))].astype(int)
            expected = np.round(np.array(viridis(fractions[i, j])[:3]) * 255).astype(int)
            assert np.abs(pixel - expected).max() <= 3, (i, j, pixel, expected)
            (diagonal if i == j else off).append(pixel)
    # the diagonal (1/3 to 6/10 of each row) is brighter than every off-diagonal cell (1/10 to 1/6)
    assert min(p.sum() for p in diagonal) > max(p.sum() for p in off) + 20

    # both axes name the classes; the row names carry the row's count; the cells their fraction
    assert [t.get_text() for t in ax.get_xticklabels()] == names
    assert [t.get_text() for t in ax.get_yticklabels()] == [f"{n} ({k})" for n, k in zip(names, counts.sum(1))]
    numbers = [t.get_text() for t in ax.texts]
    assert numbers[0] == "0.60" and numbers[1] == "0.10" and len(numbers) == 25  # row 0: 6/10, 1/10
    assert ax.get_title() == "five classes"


def test_render_confusion_writes_that_png(tmp_path):
    counts = [[3, 1], [0, 4]]
    path = render_confusion(counts, ["eat", "yes"], tmp_path / "confusion.png", "two")
    assert path == tmp_path / "confusion.png" and [p.name for p in tmp_path.iterdir()] == ["confusion.png"]
    assert np.array_equal(
        _decode(path.read_bytes()), _decode(figure_png(confusion_figure(counts, ["eat", "yes"], "two")))
    )


def test_reconstruction_grid_layout():
    solid = lambda rgb: np.full((64, 64, 3), rgb, np.uint8)  # noqa: E731
    red, green, blue, white = solid((255, 0, 0)), solid((0, 255, 0)), solid((0, 0, 255)), solid((255, 255, 255))
    groups = [[GridRow(["pair A", "input"], [red, green]), GridRow(["swap"], [blue], first=white)]]
    grid = reconstruction_grid(groups, "title")
    step = TILE + GAP
    assert grid.shape == (30 + 2 * step + 3 * GAP, LABEL_WIDTH + 3 * step, 3)  # header, 2 rows, the group's band

    def at(row: int, column: int) -> list[int]:  # the middle of a tile; column 0 is the first tile
        return grid[30 + row * step + TILE // 2, LABEL_WIDTH + column * step + TILE // 2].tolist()

    assert at(0, 0) == [40, 40, 40]  # no first image: the blank tile
    assert at(0, 1) == [255, 0, 0] and at(0, 2) == [0, 255, 0]
    assert at(1, 0) == [255, 255, 255] and at(1, 1) == [0, 0, 255]
    assert at(1, 2) == [0, 0, 0]  # the shorter row is padded with black
    label = grid[30 : 30 + step, :LABEL_WIDTH]
    assert (label.max(axis=2) > 200).sum() > 50  # light text on the dark label column
    assert (grid[:30].max(axis=2) > 200).any()  # the title
