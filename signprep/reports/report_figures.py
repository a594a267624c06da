"""The plots of `signprep report`, as PNG bytes: bars, stacked bars, grouped rates and histograms.

matplotlib `Figure`s on the Agg canvas (no pyplot window, no global backend switch), as in
`signprep.reports.plots`; one style for every plot of the page.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from signprep.reports.plots import figure_png

WIDTH_INCHES = 9.0  # at 100 dpi: 900 px, the page's content width
LABELS_UP_TO = 60  # bars beyond this many lose their tick labels (unreadable)
COLOURS = ("#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#b279a2")


def _figure(height_inches: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(WIDTH_INCHES, height_inches), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def stacked_bars_png(labels: Sequence[str], stacks: Mapping[str, Sequence[float]], *, title: str, ylabel: str) -> bytes:
    """One bar per label, stacked by the keys of `stacks` (e.g. samples per signer, by split)."""
    fig, ax = _figure(3.6)
    x = np.arange(len(labels))
    bottom = np.zeros(len(labels))
    for colour, (name, values) in zip(_cycle(len(stacks)), stacks.items()):
        ax.bar(x, values, bottom=bottom, label=name, color=colour, width=0.8)
        bottom += np.asarray(values, float)
    _label_bars(ax, x, labels)
    ax.set(title=title, ylabel=ylabel)
    _integer_ticks(ax.yaxis)  # counts: no 0.25-sample ticks
    if len(stacks) > 1:
        ax.legend(fontsize=8)
    return figure_png(fig)


def grouped_rates_png(labels: Sequence[str], rates: Mapping[str, Sequence[float]], *, title: str) -> bytes:
    """Bars of fractions (0..1) side by side per label (e.g. hand and face detection per signer)."""
    fig, ax = _figure(3.6)
    x = np.arange(len(labels))
    width = 0.8 / max(1, len(rates))
    for i, (colour, (name, values)) in enumerate(zip(_cycle(len(rates)), rates.items())):
        ax.bar(x + (i - (len(rates) - 1) / 2) * width, values, width=width, label=name, color=colour)
    _label_bars(ax, x, labels)
    ax.set(title=title, ylabel="fraction of frames", ylim=(0, 1.05))
    ax.axhline(0.5, color="#888888", linewidth=0.8, linestyle="--")
    # beside the axes: inside, it hid the bars of the last labels (seen in Chromium on the corpus)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return figure_png(fig)


def histogram_png(values: Sequence[float], *, title: str, xlabel: str, bins: int | Sequence[float] = 30) -> bytes:
    fig, ax = _figure(2.8)
    ax.hist(np.asarray(values, float), bins=bins, color=COLOURS[0], edgecolor="white")
    ax.set(title=title, xlabel=xlabel, ylabel="samples")
    _integer_ticks(ax.yaxis)
    return figure_png(fig)


def horizontal_bars_png(labels: Sequence[str], values: Sequence[float], *, title: str, xlabel: str) -> bytes:
    fig, ax = _figure(0.6 + 0.28 * max(3, len(labels)))
    y = np.arange(len(labels))
    ax.barh(y, values, color=COLOURS[0])
    ax.set_yticks(y, [str(label) for label in labels], fontsize=8)
    ax.invert_yaxis()
    ax.set(title=title, xlabel=xlabel)
    return figure_png(fig)


def _label_bars(ax, x: np.ndarray, labels: Sequence[str]) -> None:
    if len(labels) <= LABELS_UP_TO:
        ax.set_xticks(x, [str(label)[:16] for label in labels], rotation=60, ha="right", fontsize=8)
    else:
        ax.set_xticks([])
        ax.set_xlabel(f"{len(labels)} bars, in order")


def _integer_ticks(axis) -> None:
    from matplotlib.ticker import MaxNLocator

    axis.set_major_locator(MaxNLocator(integer=True))


def _cycle(n: int) -> list[str]:
    return [COLOURS[i % len(COLOURS)] for i in range(n)]
