"""Pictures: training curves and the entity confusion matrix, as matplotlib figures and PNG files.

Figures are made without pyplot (``matplotlib.figure.Figure``), so no GUI backend or display
is needed; notebooks show a returned figure as they show any other. matplotlib is imported
only when a picture is drawn.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping, Sequence

import numpy as np


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100)


def save(fig, path: str | os.PathLike | None):
    """Write ``fig`` as a PNG to ``path`` (if given); return the figure."""
    if path is not None:
        fig.savefig(os.fspath(path), format="png")
    return fig


def png_bytes(fig) -> bytes:
    out = io.BytesIO()
    fig.savefig(out, format="png")
    return out.getvalue()


def confusion_figure(counts: np.ndarray, names: Sequence[str], title: str = "entities"):
    """Gold entity type (rows) against predicted type (columns), the counts written in the cells."""
    counts = np.asarray(counts)
    size = 1.0 + 0.7 * len(names)
    fig = _figure(size + 1.5, size)
    ax = fig.add_subplot()
    ax.imshow(counts, cmap="Blues")
    ax.set_xticks(range(len(names)), labels=names, rotation=45, ha="right")
    ax.set_yticks(range(len(names)), labels=names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    ax.set_title(title)
    top = counts.max() if counts.size else 0
    for (i, j), n in np.ndenumerate(counts):
        ax.text(j, i, str(n), ha="center", va="center", color="white" if n > top / 2 else "black")
    fig.tight_layout()
    return fig


def history_figure(history: Mapping[str, Sequence[float]], unit: str = "epoch"):
    """Loss (train and dev) and dev entity F1 (overall and per type) per ``unit`` (``"round"`` for the
    recipe's schedule, :mod:`tfner.training.schedule`)."""
    fig = _figure(11, 4)
    loss_ax, f1_ax = fig.subplots(1, 2)
    for key, label in (("loss", "train"), ("val_loss", "dev")):
        if history.get(key):
            loss_ax.plot(range(1, len(history[key]) + 1), history[key], marker="o", label=label)
    loss_ax.set_title("loss")
    loss_ax.set_xlabel(unit)
    loss_ax.legend()
    for key in sorted(k for k in history if k.startswith("val_f1_") or k == "val_entity_f1"):
        label = "all entities" if key == "val_entity_f1" else key[len("val_f1_"):]
        style = {"linewidth": 3, "color": "black"} if key == "val_entity_f1" else {}
        f1_ax.plot(range(1, len(history[key]) + 1), history[key], marker="o", label=label, **style)
    f1_ax.set_title("dev entity F1")
    f1_ax.set_xlabel(unit)
    f1_ax.set_ylim(0, 1)
    from matplotlib.ticker import MaxNLocator

    for ax in (loss_ax, f1_ax):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # rounds and epochs are whole numbers
    if f1_ax.lines:
        f1_ax.legend(fontsize="small")
    fig.tight_layout()
    return fig
