"""Figures and tables of the series. Every function returns the figure (or HTML) it made."""

from __future__ import annotations

import html
import io
import os
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib
import matplotlib.container
import matplotlib.patches
import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn

from .attacks import EPS_UNITS, fgsm_direction, perturb, to_pixel_eps
from .evaluation import predict_proba
from .models import MNIST_STD

CLASSES = list(range(10))
#: Pixel eps from which the flat-gray attack reaches every image (the accuracy ceiling applies).
CEILING_FROM_PIXEL_EPS = 0.5
_CAPTION_INCHES = 0.35  # room kept under the axes for a one-line caption
_CAPTION_LINE_INCHES = 0.18  # and for each further line when a long caption wraps

#: Okabe and Ito's colour-blind-safe palette ("Color Universal Design", 2008), by name.
PALETTE = {
    "blue": "#0072B2",
    "orange": "#E69F00",
    "green": "#009E73",
    "vermillion": "#D55E00",
    "purple": "#CC79A7",
    "sky blue": "#56B4E9",
    "yellow": "#F0E442",
    "black": "#000000",
}
#: The colours models get, in this order. Black is kept for reference marks (the accuracy
#: ceiling, the epoch early stopping kept); yellow, faint on white, comes last.
MODEL_COLORS = tuple(
    PALETTE[name]
    for name in ("blue", "orange", "green", "vermillion", "purple", "sky blue", "yellow")
)
#: One marker per model, in the same order, so that no plot tells models apart by colour alone.
MARKERS = ("o", "s", "D", "^", "v", "<", ">", "h")
#: Markers of the paper's series (dotted), none of them a model's marker.
PAPER_MARKERS = ("*", "X", "P", "p")
#: Line styles of the outlines in ``plot_histograms``, one per named set.
LINESTYLES = ("-", "--", ":", "-.", (0, (5, 1, 1, 1, 1, 1)), (0, (1, 3)))
#: A wrong prediction: drawn in this colour, framed, and its title ends with WRONG_MARK.
WRONG_COLOR = PALETTE["vermillion"]
WRONG_MARK = "\u2717"
#: The adversarial bars of the explorer and the leaderboard's rows are hatched, not only tinted.
HATCH = "//"
#: The accuracy ceiling: its own colour and line style, and a label on the line.
CEILING_STYLE = {"color": PALETTE["black"], "linestyle": "-.", "linewidth": 1.2}
#: Pass ``caption=AUTO`` (the default) for a caption written from what the figure draws.
AUTO = "auto"


def model_style(index: int) -> dict:
    """The colour and marker of the ``index``-th model of a figure (``color=``, ``marker=``
    keyword arguments for ``ax.plot``). Past the 7 colours the marker still differs."""
    return {
        "color": MODEL_COLORS[index % len(MODEL_COLORS)],
        "marker": MARKERS[index % len(MARKERS)],
    }


def model_styles(names) -> dict[str, dict]:
    """``{name: model_style(i)}`` in the order the names first appear, so that every panel of
    a figure draws the same model in the same colour and marker."""
    return {name: model_style(i) for i, name in enumerate(dict.fromkeys(names))}


def add_caption(fig: matplotlib.figure.Figure, caption: str | None) -> None:
    """Lay ``fig`` out without overlaps and write ``caption`` (one line: what to see) under
    its axes, in the figure itself so that a saved PNG carries it. A caption wider than the
    figure is wrapped (and room made for it). ``None`` or "": no caption.
    """
    if caption:
        if "\n" in caption:
            raise ValueError(f"a caption is one line; got {caption!r}")
        text = fig.text(
            0.5, 0.08 / fig.get_figheight(), caption, ha="center", va="bottom", fontsize=9
        )
        lines = _wrap_to_figure(fig, text)
        room = _CAPTION_INCHES + (lines - 1) * _CAPTION_LINE_INCHES
        rect = (0, room / fig.get_figheight(), 1, 1)
    else:
        rect = (0, 0, 1, 1)
    # twice: the first pass moves titles and tick labels that the second then fits in
    for _ in range(2):
        fig.tight_layout(rect=rect)


def _wrap_to_figure(fig: matplotlib.figure.Figure, text: matplotlib.text.Text) -> int:
    """Break ``text`` into lines no wider than 95% of the figure; returns the line count."""
    width = text.get_window_extent(fig.canvas.get_renderer()).width
    available = 0.95 * fig.get_figwidth() * fig.dpi
    if width <= available:
        return 1
    characters = max(20, int(len(text.get_text()) * available / width))
    lines = textwrap.wrap(text.get_text(), characters)
    text.set_text("\n".join(lines))
    return len(lines)


def caption_of(fig: matplotlib.figure.Figure) -> str | None:
    """The caption ``add_caption`` wrote on ``fig`` (None when it has none)."""
    texts = [t.get_text() for t in fig.texts if t.get_position()[1] < 0.5 / fig.get_figheight()]
    return texts[0].replace("\n", " ") if texts else None


def save_figure(
    fig: matplotlib.figure.Figure, output_dir: str | os.PathLike | None, name: str
) -> None:
    """Save ``fig`` as ``output_dir/name.png`` (nothing when ``output_dir`` is None)."""
    if output_dir is None:
        return
    path = Path(output_dir) / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")


def _fmt(value: float) -> str:
    """Three significant digits, but whole numbers and numbers from 1,000 up written out."""
    value = float(value)
    if np.isfinite(value) and (value == round(value) or abs(value) >= 1000):
        return f"{value:,.0f}"
    return f"{value:.3g}"


def _describe_lines(ax: matplotlib.axes.Axes) -> list[str]:
    parts = []
    for line in ax.get_lines():
        label = line.get_label()
        x = np.asarray(line.get_xdata(), dtype=float)
        y = np.asarray(line.get_ydata(), dtype=float)
        keep = ~(np.isnan(x) | np.isnan(y))
        x, y = x[keep], y[keep]
        if len(x) == 0 or label.startswith("_"):
            continue
        if len(x) == 1:
            parts.append(f"{label}: {_fmt(y[0])} at {_fmt(x[0])}")
            continue
        low, high = int(np.argmin(y)), int(np.argmax(y))
        parts.append(
            f"{label}: from {_fmt(y[0])} at {_fmt(x[0])} to {_fmt(y[-1])} at {_fmt(x[-1])} "
            f"(lowest {_fmt(y[low])} at {_fmt(x[low])}, highest {_fmt(y[high])} at {_fmt(x[high])})"
        )
    return parts


def _is_image_panel(ax: matplotlib.axes.Axes) -> bool:
    """An image shown for itself (a digit), not a heatmap with axis labels."""
    return bool(ax.images) and not ax.get_lines() and not ax.get_xlabel()


def _tick_name(axis: matplotlib.axis.Axis, position: float, spread: float) -> str:
    locations = np.asarray(axis.get_majorticklocs(), dtype=float)
    labels = [t.get_text() for t in axis.get_majorticklabels()]
    if len(locations) and len(labels) == len(locations):
        nearest = int(np.argmin(np.abs(locations - position)))
        if abs(locations[nearest] - position) <= spread and labels[nearest]:
            return labels[nearest].replace("\u2212", "-")
    return _fmt(position)


def _describe_bars(ax: matplotlib.axes.Axes) -> list[str]:
    """Each set of bars (``ax.bar``/``ax.barh``): its label and every bar's name and value."""
    parts = []
    for container in ax.containers:
        if not isinstance(container, matplotlib.container.BarContainer):
            continue
        horizontal = container.orientation == "horizontal"
        values = np.asarray(container.datavalues, dtype=float)
        names = []
        for bar in container.patches:
            if horizontal:
                center, spread = bar.get_y() + bar.get_height() / 2, bar.get_height()
            else:
                center, spread = bar.get_x() + bar.get_width() / 2, bar.get_width()
            names.append(_tick_name(ax.yaxis if horizontal else ax.xaxis, center, spread))
        label = container.get_label()
        head = f"{label} bars" if label and not label.startswith("_") else "bars"
        if len(values) <= 40:
            parts.append(f"{head}: " + "; ".join(f"{n} {_fmt(v)}" for n, v in zip(names, values)))
        elif len(values):
            parts.append(f"{len(values)} {head} from {_fmt(values.min())} to {_fmt(values.max())}")
    return parts


def _describe_heatmap(ax: matplotlib.axes.Axes) -> str:
    """A matrix drawn as an image: its range and its largest cells, named by the axes."""
    matrix = np.asarray(ax.images[0].get_array(), dtype=float)
    if matrix.ndim != 2:
        return "an image"
    rows, columns = matrix.shape
    row_name, column_name = ax.get_ylabel() or "row", ax.get_xlabel() or "column"
    head = (
        f"a {rows} x {columns} matrix (colour scale) from {_fmt(np.nanmin(matrix))} to "
        f"{_fmt(np.nanmax(matrix))}"
    )
    cells = matrix.copy()
    if rows == columns:
        total = np.nansum(matrix)
        head += f", {_fmt(np.trace(matrix))} of {_fmt(total)} on the diagonal"
        np.fill_diagonal(cells, np.nan)
    order = [i for i in np.argsort(-np.nan_to_num(cells, nan=-np.inf), axis=None)[:3]]
    largest = [
        f"{row_name} {r}, {column_name} {c}: {_fmt(matrix[r, c])}"
        for r, c in (np.unravel_index(i, matrix.shape) for i in order)
        if not np.isnan(cells[r, c]) and cells[r, c] > 0
    ]
    if largest:
        kind = "largest cells off the diagonal" if rows == columns else "largest cells"
        head += f"; {kind}: " + "; ".join(largest)
    return head


def _describe_axes(ax: matplotlib.axes.Axes) -> str | None:
    title, xlabel, ylabel = ax.get_title(), ax.get_xlabel(), ax.get_ylabel()
    if _is_image_panel(ax):
        return None  # an image panel: counted with the others by alt_text
    if hasattr(ax, "get_zlabel") and ax.get_zlabel():
        ylabel = f"{ylabel}; z: {ax.get_zlabel()}" if ylabel else ax.get_zlabel()
    head = f"panel {title!r}" if title.strip() else "panel"
    own = getattr(ax, "alt_text", None)  # a plot function's description of its data
    parts = [own] if own else []
    parts += _describe_lines(ax)
    parts += _describe_bars(ax)
    if ax.images:
        parts.append(_describe_heatmap(ax))
    if ax.collections and not parts:
        parts.append(f"{len(ax.collections)} drawn surfaces or point sets")
    notes = [t.get_text() for t in ax.texts if t.get_text() and not _numeric(t.get_text())]
    if 0 < len(notes) <= 3:
        parts.append("marked: " + "; ".join(notes))
    labels = [f"{axis}: {text}" for axis, text in (("x", xlabel), ("y", ylabel)) if text]
    axis = f" ({'; '.join(labels)})" if labels else ""
    return f"{head}{axis}: " + ("; ".join(parts) if parts else "no data drawn")


def _numeric(text: str) -> bool:
    try:
        float(text.replace("\u2212", "-"))
    except ValueError:
        return False
    return True


def alt_text(fig: matplotlib.figure.Figure) -> str:
    """A text alternative for ``fig``, read from what is drawn on it: its title, every panel's
    axes and the first, last, lowest and highest point of each labelled line, every bar's
    name and value, a heatmap's range and largest cells, how many images a grid holds and
    their titles (a wrong prediction's mark read as "(wrong)"), then its caption.

    A figure or a panel can carry its own description of its data (``fig.alt_text = "..."``,
    ``ax.alt_text = "..."``), which comes first (plot_histograms and plot_loss_surfaces
    describe their data so)."""
    parts = [getattr(fig, "alt_text", None)]
    if fig.get_suptitle():
        parts.append(f"Figure: {fig.get_suptitle()}.")
    axes = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    image_panels = [ax for ax in axes if _is_image_panel(ax)]
    if image_panels:
        titles = [
            ax.get_title().replace("\n", ", ").replace(f" {WRONG_MARK}", " (wrong)")
            for ax in image_panels
            if ax.get_title()
        ]
        shown = "; ".join(titles[:40]) + (" ..." if len(titles) > 40 else "")
        parts.append(
            f"{len(image_panels)} image panels" + (f", titled: {shown}." if titles else ".")
        )
    for ax in axes:
        description = _describe_axes(ax)
        if description:
            parts.append(description + ".")
    caption = caption_of(fig)
    if caption:
        parts.append(f"Caption: {caption}")
    return " ".join(p for p in parts if p).replace(WRONG_MARK, "a cross")


def show_figure(
    fig: matplotlib.figure.Figure,
    output_dir: str | os.PathLike | None,
    name: str,
    alt: str | None = None,
) -> None:
    """Show ``fig`` in the notebook as a PNG with a text alternative (``alt``, else
    :func:`alt_text`), then its caption as text, and save it as ``output_dir/name.png``
    (not saved when ``output_dir`` is None). The figure is closed afterwards, so the inline
    backend does not draw it a second time."""
    from IPython.display import Image, Markdown, display

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")  # as save_figure does
    if output_dir is not None:  # the same bytes on disk: the figure is rendered once
        path = Path(output_dir) / f"{name}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(buffer.getvalue())
    description = alt or alt_text(fig)
    display(
        Image(data=buffer.getvalue(), format="png"),
        metadata={"image/png": {"alt": description}},
    )
    caption = caption_of(fig)
    if caption:
        display(Markdown(f"*{caption}*"))
    plt.close(fig)


def _mark_wrong(ax: matplotlib.axes.Axes) -> None:
    """Frame an image panel in WRONG_COLOR (the second cue besides its title's colour/mark)."""
    for spine in ax.spines.values():
        spine.set_visible(True)
        spine.set_color(WRONG_COLOR)
        spine.set_linewidth(2.5)


def _image_panel(ax: matplotlib.axes.Axes, image: np.ndarray) -> None:
    ax.imshow(image, cmap="gray", vmin=0, vmax=1)
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)


def _grid_figure(rows: int, cols: int, cell: float):
    """A rows x cols grid of image panels, laid out later by :func:`_lay_out_grid`."""
    return plt.subplots(rows, cols, figsize=(cell * cols, cell * rows), squeeze=False)


def _lay_out_grid(
    fig: matplotlib.figure.Figure,
    rows: int,
    cols: int,
    cell: float,
    title_lines: int,
    title: str | None,
    caption: str | None,
    left: float = 0.1,
) -> None:
    """Size and lay out a grid of square ``cell``-inch image panels: room above each panel for
    ``title_lines`` lines of 9-point title, above the grid for ``title`` and under it for
    ``caption`` (wrapped to the figure's width), so that no text runs into another."""
    gap, pad = 0.1 * cell, 0.1
    title_room = 0.16 * title_lines + 0.08
    width = left + cols * cell + (cols - 1) * gap + pad
    fig.set_size_inches(width, cell * rows)
    heading = fig.suptitle(title or "", va="top")
    needed = heading.get_window_extent(fig.canvas.get_renderer()).width / fig.dpi + 0.3
    if needed > width:  # a title wider than the grid: centre the grid under it
        left, pad = left + (needed - width) / 2, pad + (needed - width) / 2
        width = needed
        fig.set_size_inches(width, cell * rows)
    caption_room, text = 0.1, None
    if caption:
        if "\n" in caption:
            raise ValueError(f"a caption is one line; got {caption!r}")
        text = fig.text(0.5, 0, caption, ha="center", va="bottom", fontsize=9)
        caption_room = _CAPTION_INCHES + (_wrap_to_figure(fig, text) - 1) * _CAPTION_LINE_INCHES
    top_room = title_room + (0.4 if title else 0.02)
    height = rows * cell + (rows - 1) * title_room + top_room + caption_room
    fig.set_size_inches(width, height)
    if text is not None:
        text.set_y(0.08 / height)
    heading.set_y(1 - 0.08 / height)
    fig.subplots_adjust(
        left=left / width,
        right=1 - pad / width,
        bottom=caption_room / height,
        top=1 - top_room / height,
        wspace=gap / cell,
        hspace=title_room / cell,
    )


def plot_digit_grid(
    x: torch.Tensor,
    y: torch.Tensor,
    predictions: torch.Tensor | None = None,
    rows: int = 3,
    cols: int = 8,
    title: str | None = None,
    caption: str | None = AUTO,
) -> matplotlib.figure.Figure:
    """A grid of digits with their labels (and predictions: a wrong one in vermillion, framed
    and marked ✗), ``caption`` under it (by default one that says what is drawn)."""
    count = min(rows * cols, len(x))
    fig, axes = _grid_figure(rows, cols, 1.1)
    wrong = 0
    for i, ax in enumerate(np.ravel(axes)):
        if i >= count:
            ax.axis("off")
            continue
        _image_panel(ax, x[i, 0].detach().cpu().numpy())
        label = f"label {int(y[i])}"
        color = "black"
        if predictions is not None:
            label += f"\npred {int(predictions[i])}"
            if int(predictions[i]) != int(y[i]):
                label += f" {WRONG_MARK}"
                color = WRONG_COLOR
                wrong += 1
                _mark_wrong(ax)
        ax.set_title(label, fontsize=9, color=color)
    if caption == AUTO:
        caption = "Each digit with its true label"
        if predictions is None:
            caption += "."
        elif wrong == 0:
            caption += " and the model's prediction: every prediction shown is right."
        elif wrong == count:
            caption += (
                f" and the model's prediction; every prediction shown is wrong (vermillion, "
                f"framed, marked with {WRONG_MARK})."
            )
        else:
            which = "the wrong one is" if wrong == 1 else f"the {wrong} wrong ones are"
            caption += (
                f" and the model's prediction; {which} in vermillion, framed and marked "
                f"with {WRONG_MARK}."
            )
    _lay_out_grid(fig, rows, cols, 1.1, 1 if predictions is None else 2, title, caption)
    return fig


def _markevery(count: int) -> int:
    return max(1, count // 8)


def plot_training_curves(
    histories: Mapping[str, Sequence[dict]],
    title: str = "Training",
    caption: str | None = AUTO,
) -> matplotlib.figure.Figure:
    """Loss and accuracy during training, for one or more runs of ``train``: one colour and
    marker per run; accuracy on the clean batch solid, on the attacked batch dashed (when the
    history has it). The default caption says which of these are drawn."""
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 3.8))
    styles = model_styles(histories)
    drew_clean = drew_adversarial = False
    for name, history in histories.items():
        steps, loss, acc, adv = [], [], [], []
        for epoch_index, epoch in enumerate(history):
            trace = epoch.get("trace", [])
            last = trace[-1]["batch"] if trace else 1
            for point in trace:
                steps.append(epoch_index + point["batch"] / last)
                loss.append(point["loss"])
                acc.append(point.get("accuracy", np.nan))
                adv.append(point.get("adv_accuracy", np.nan))
        style = {**styles[name], "markevery": _markevery(len(steps)), "markersize": 5}
        ax_loss.plot(steps, loss, label=name, **style)
        if not np.all(np.isnan(acc)):
            drew_clean = True
            ax_acc.plot(steps, acc, label=f"{name}: clean", **style)
        if not np.all(np.isnan(adv)):
            drew_adversarial = True
            ax_acc.plot(
                steps,
                adv,
                linestyle="--",
                markerfacecolor="none",
                label=f"{name}: adversarial",
                **style,
            )
    ax_loss.set(xlabel="epoch", ylabel="training loss (running mean)", title=f"{title}: loss")
    ax_acc.set(xlabel="epoch", ylabel="training accuracy (%)", title=f"{title}: accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        if ax.get_lines():
            ax.legend(fontsize=8)
    if caption == AUTO:
        caption = "Running means over each epoch: training loss (left)"
        if drew_clean and drew_adversarial:
            caption += (
                " and accuracy (right), solid on the clean batch, dashed on the attacked batch"
            )
        elif drew_clean:
            caption += " and accuracy on the training batches (right)"
        elif drew_adversarial:
            caption += " and accuracy on the attacked batch (right, dashed)"
        else:
            caption += "; the history holds no accuracy"
        if len(histories) > 1:
            caption += "; one colour and marker per run"
        caption += "."
    add_caption(fig, caption)
    return fig


def _check_curve(name: str, curve: Mapping[float, float]) -> None:
    if not curve:
        raise ValueError(f"curve {name!r} holds no points; expected {{eps: accuracy %}}")
    bad = [a for a in curve.values() if not 0 <= a <= 100]
    if bad:
        raise ValueError(f"curve {name!r}: accuracies must be percentages in [0, 100]; got {bad}")


def plot_accuracy_vs_eps(
    curves: Mapping[str, Mapping[float, float]],
    paper: Mapping[str, Mapping[float, float]] | None = None,
    ceiling: float | None = None,
    eps_units: str = "pixel",
    title: str = "Accuracy under attack",
    *,
    pgd: Mapping[str, Mapping[float, float]] | None = None,
    pgd_label: str = "PGD",
    caption: str | None = AUTO,
) -> matplotlib.figure.Figure:
    """Accuracy (%) against eps: one solid line per curve of ours, each model in its own
    colour and marker (:func:`model_style`).

    ``paper``: the paper's series, dotted with their own markers (:data:`PAPER_MARKERS`); the
    i-th paper series is drawn in the colour of our i-th curve (same model, same colour; ours
    solid, the paper's dotted). ``pgd``: PGD curves keyed by the names in ``curves``, dashed
    with hollow markers in the colour and marker of that model's (FGSM) curve. ``ceiling``:
    the best accuracy any classifier can keep against the flat-gray attack
    (``fh.attacks.accuracy_ceiling`` of the labels of the images plotted), drawn dash-dot in
    black (:data:`CEILING_STYLE`) from pixel eps 0.5, where that attack reaches every image,
    with its value written on it. With ``eps_units="normalized"`` a second axis on top reads
    eps in pixel units (``eps * 0.3081``). ``caption``: one line under the figure; by default
    one that names what is drawn.

    >>> plot_accuracy_vs_eps({"baseline": fgsm}, pgd={"baseline": pgd_40}, pgd_label="PGD-40",
    ...                      ceiling=fh.attacks.accuracy_ceiling(y_test[:500]))
    """
    if eps_units not in EPS_UNITS:
        raise ValueError(f"eps_units must be 'pixel' or 'normalized'; got {eps_units!r}")
    if not curves:
        raise ValueError("curves must hold at least one {eps: accuracy %} curve")
    pgd = pgd or {}
    unknown = set(pgd) - set(curves)
    if unknown:
        raise ValueError(f"pgd curves {sorted(unknown)} have no FGSM curve of the same name")
    for name, curve in [*curves.items(), *pgd.items(), *(paper or {}).items()]:
        _check_curve(name, curve)
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    styles = model_styles(curves)
    for name, curve in curves.items():
        eps = sorted(curve)
        label = f"{name}: FGSM" if name in pgd else name
        ax.plot(eps, [curve[e] for e in eps], label=label, **styles[name])
        if name in pgd:
            eps = sorted(pgd[name])
            ax.plot(
                eps,
                [pgd[name][e] for e in eps],
                linestyle="--",
                markerfacecolor="none",
                label=f"{name}: {pgd_label}",
                **styles[name],
            )
    ours = [style["color"] for style in styles.values()]
    for index, (name, points) in enumerate((paper or {}).items()):
        eps = sorted(points)
        ax.plot(
            eps,
            [points[e] for e in eps],
            linestyle=":",
            marker=PAPER_MARKERS[index % len(PAPER_MARKERS)],
            markersize=8,
            color=ours[index] if index < len(ours) else model_style(index)["color"],
            label=name,
        )
    eps_max = max(max(c) for c in [*curves.values(), *pgd.values(), *(paper or {}).values()])
    if ceiling is not None:
        if not 0 <= ceiling <= 100:
            raise ValueError(f"ceiling must be a percentage in [0, 100]; got {ceiling}")
        start = CEILING_FROM_PIXEL_EPS / (MNIST_STD if eps_units == "normalized" else 1.0)
        if eps_max <= start:
            raise ValueError(
                f"the ceiling applies from eps {start:.3g} ({eps_units} units) but the curves "
                f"stop at {eps_max:g}; pass ceiling=None"
            )
        ax.hlines(ceiling, start, eps_max, **CEILING_STYLE)
        ax.text(
            eps_max,
            ceiling + 1.5,
            f"ceiling {ceiling:.2f}% (flat gray, eps >= {start:.2g})",
            color=CEILING_STYLE["color"],
            ha="right",
            fontsize=8,
        )
    ax.set(xlabel=f"eps ({eps_units} units)", ylabel="accuracy (%)", ylim=(-2, 102), title=title)
    if eps_units == "normalized":
        top = ax.secondary_xaxis(
            "top", functions=(lambda e: e * MNIST_STD, lambda e: e / MNIST_STD)
        )
        top.set_xlabel("the same eps in pixel units (x 0.3081)", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    if caption == AUTO:
        drawn = ["Accuracy as eps grows"]
        if len(curves) > 1:
            drawn[0] += ", one colour and marker per model"
        if pgd:
            drawn.append(f"solid FGSM, dashed {pgd_label}")
        if paper:
            drawn.append("dotted: the paper's numbers, in the colour of our model they match")
        if ceiling is not None:
            drawn.append("dash-dot: the ceiling")
        caption = "; ".join(drawn) + ". The lower a curve, the weaker the model."
    add_caption(fig, caption)
    return fig


def _prediction_text(probs: torch.Tensor) -> str:
    label = int(probs.argmax())
    return f"{label} ({100 * float(probs[label]):.0f}%)"


def perturbation_title(eps: float, eps_units: str = "pixel") -> str:
    """The perturbation panel's title: eps in its units and, for normalized, in pixels."""
    if eps_units == "normalized":
        return f"x_adv - x: eps {eps:.2f} normalized\n= {to_pixel_eps(eps, eps_units):.3f} pixel"
    return f"x_adv - x: eps {eps:.2f} (pixel)"


def draw_attack_panels(
    axes,
    image: torch.Tensor,
    x_adv: torch.Tensor,
    eps: float,
    probs_clean: torch.Tensor,
    probs_adv: torch.Tensor,
    label: int,
    *,
    perturbation_limit: float,
    eps_units: str = "pixel",
    colorbar: bool = True,
) -> dict:
    """Draw original / perturbation / adversarial / class probabilities on four axes and
    return the artists, so a widget can update them in place.

    The perturbation ``x_adv - image`` is drawn in pixel units on one fixed colour scale,
    ``[-perturbation_limit, +perturbation_limit]`` (e.g. the largest pixel eps shown), so a
    larger eps looks stronger; red brightens a pixel, blue darkens it. ``colorbar`` adds the
    scale beside the panel. The class probabilities: the original's bars solid blue, the
    adversarial's hatched vermillion.
    """
    if not perturbation_limit > 0:
        raise ValueError(
            f"perturbation_limit must be a pixel eps > 0 (the colour scale's end); "
            f"got {perturbation_limit}"
        )
    ax_orig, ax_pert, ax_adv, ax_prob = axes
    perturbation = (x_adv - image)[0].cpu()
    artists = {
        "original": ax_orig.imshow(image[0].cpu().numpy(), cmap="gray", vmin=0, vmax=1),
        "perturbation": ax_pert.imshow(
            perturbation.numpy(), cmap="seismic", vmin=-perturbation_limit, vmax=perturbation_limit
        ),
        "adversarial": ax_adv.imshow(x_adv[0].cpu().numpy(), cmap="gray", vmin=0, vmax=1),
    }
    if colorbar:
        bar = ax_pert.figure.colorbar(artists["perturbation"], ax=ax_pert, fraction=0.046, pad=0.03)
        bar.ax.tick_params(labelsize=7)
        bar.set_label("pixel change", fontsize=7)
        artists["colorbar"] = bar
    for ax in (ax_orig, ax_pert, ax_adv):
        ax.set_xticks([])
        ax.set_yticks([])
    artists["title_original"] = ax_orig.set_title(
        f"original: label {label}\npred {_prediction_text(probs_clean)}", fontsize=9
    )
    artists["title_perturbation"] = ax_pert.set_title(
        perturbation_title(eps, eps_units), fontsize=9
    )
    artists["title_adversarial"] = ax_adv.set_title(
        f"adversarial\npred {_prediction_text(probs_adv)}", fontsize=9
    )
    width = 0.4
    positions = np.arange(10)
    artists["bars_clean"] = ax_prob.bar(
        positions - width / 2,
        probs_clean.cpu().numpy(),
        width,
        label="original",
        color=PALETTE["blue"],
    )
    artists["bars_adv"] = ax_prob.bar(
        positions + width / 2,
        probs_adv.cpu().numpy(),
        width,
        label="adversarial (hatched)",
        color=PALETTE["vermillion"],
        edgecolor="white",
        hatch=HATCH,
        linewidth=0,
    )
    ax_prob.set(xticks=positions, ylim=(0, 1.05), xlabel="class", ylabel="probability")
    ax_prob.legend(fontsize=8, loc="upper right")
    return artists


def plot_adversarial_gallery(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps_list: Sequence[float],
    index: int = 0,
    eps_units: str = "pixel",
    title: str | None = None,
    caption: str | None = "One digit, one row per eps: the perturbation on one colour scale (red "
    "brightens a pixel, blue darkens it), so a larger eps looks stronger, and the class "
    "probabilities before (solid) and after (hatched) the attack.",
) -> matplotlib.figure.Figure:
    """For one image, a row per eps: original, perturbation (one colour scale for all rows,
    up to the largest pixel eps), adversarial, class probabilities."""
    if len(eps_list) == 0:
        raise ValueError("eps_list must hold at least one eps")
    if not 0 <= index < len(x):
        raise ValueError(f"index must lie in 0..{len(x) - 1}; got {index}")
    image, label = x[index : index + 1], y[index : index + 1]
    direction = fgsm_direction(model, image, label)
    probs_clean = predict_proba(model, image)[0]
    pixel_eps = [to_pixel_eps(eps, eps_units) for eps in eps_list]
    limit = max(max(pixel_eps), 1e-3)
    fig, axes = plt.subplots(
        len(eps_list),
        4,
        figsize=(12, 2.6 * len(eps_list)),
        gridspec_kw={"width_ratios": [1, 1, 1, 2]},
        squeeze=False,
    )
    for row, eps, eps_pixel in zip(axes, eps_list, pixel_eps):
        x_adv = perturb(image, direction, eps_pixel)
        draw_attack_panels(
            row,
            image[0],
            x_adv[0],
            eps,
            probs_clean,
            predict_proba(model, x_adv)[0],
            int(label),
            perturbation_limit=limit,
            eps_units=eps_units,
        )
    if title:
        fig.suptitle(title)
    add_caption(fig, caption)
    return fig


def plot_image_gallery(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps_list: Sequence[float],
    n_images: int = 6,
    eps_units: str = "pixel",
    caption: str | None = AUTO,
) -> matplotlib.figure.Figure:
    """Rows: eps values; columns: test images; each tile is the FGSM image with the
    predicted label and its confidence (a wrong one in vermillion, framed and marked ✗)."""
    images, labels = x[:n_images], y[:n_images]
    direction = fgsm_direction(model, images, labels)
    fig, axes = _grid_figure(len(eps_list), len(images), 1.4)
    wrong = 0
    for row, eps in zip(axes, eps_list):
        x_adv = perturb(images, direction, to_pixel_eps(eps, eps_units))
        probs = predict_proba(model, x_adv)
        for column, ax in enumerate(row):
            _image_panel(ax, x_adv[column, 0].cpu().numpy())
            predicted = int(probs[column].argmax())
            text = f"{predicted} ({100 * float(probs[column, predicted]):.0f}%)"
            color = "black"
            if predicted != int(labels[column]):
                text += f" {WRONG_MARK}"
                color = WRONG_COLOR
                wrong += 1
                _mark_wrong(ax)
            ax.set_title(text, fontsize=9, color=color)
            if column == 0:
                ax.set_ylabel(f"eps={eps:g}")
    if caption == AUTO:
        caption = "Read down a column: the same digit as eps grows" + (
            f", and where its prediction turns wrong (marked with {WRONG_MARK})."
            if wrong
            else "; every prediction here stays right."
        )
    title = f"FGSM images: predicted label (confidence); {WRONG_MARK} and a vermillion frame: wrong"
    _lay_out_grid(fig, len(eps_list), len(images), 1.4, 1, title, caption, left=0.45)
    return fig


def plot_flip_matrix(
    matrix: torch.Tensor,
    title: str = "Where attacked digits go",
    caption: str | None = "Off the diagonal: the digits the attack moved, and the class each "
    "one went to.",
) -> matplotlib.figure.Figure:
    """Row: true class; column: predicted class after the attack (counts)."""
    if matrix.dim() != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"matrix must be square (classes x classes); got {tuple(matrix.shape)}")
    fig, ax = plt.subplots(figsize=(5.5, 4.8))
    image = ax.imshow(matrix.cpu().numpy(), cmap="Blues")
    for (i, j), value in np.ndenumerate(matrix.cpu().numpy()):
        if value:
            ax.text(
                j,
                i,
                int(value),
                ha="center",
                va="center",
                fontsize=7,
                color="white" if value > matrix.max().item() / 2 else "black",
            )
    ax.set(
        xticks=CLASSES,
        yticks=CLASSES,
        xlabel="predicted after attack",
        ylabel="true class",
        title=title,
    )
    fig.colorbar(image, ax=ax, fraction=0.046)
    add_caption(fig, caption)
    return fig


#: Highlighted cells of :func:`comparison_table_html`: a light tint with its own dark text, so
#: that they read the same in a light and a dark notebook theme; the sign and bold type say
#: what the tint says (blue above, vermillion below), for readers who cannot tell the tints.
TABLE_ABOVE_STYLE = "background:#cce3f0;color:#111111;font-weight:bold"
TABLE_BELOW_STYLE = "background:#f6d5bf;color:#111111;font-weight:bold"


def comparison_table_html(
    rows: Sequence[Mapping],
    columns: Sequence[str],
    highlight: Mapping[str, float] | None = None,
    caption: str | None = None,
) -> str:
    """An HTML table of ``rows``; a column in ``highlight`` is written with its sign (+2.10),
    and its cells whose absolute value exceeds the threshold are shaded and bold
    (:data:`TABLE_BELOW_STYLE` when negative, :data:`TABLE_ABOVE_STYLE` when positive), each
    with its own text colour, readable in light and dark themes. A caption says what the
    shading means when some cell is shaded."""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in columns)
    body = []
    shaded = False
    for row in rows:
        cells = []
        for column in columns:
            value = row.get(column, "")
            style = ""
            signed = highlight and column in highlight and isinstance(value, (int, float))
            if signed and abs(value) > highlight[column]:
                shaded = True
                style = TABLE_BELOW_STYLE if value < 0 else TABLE_ABOVE_STYLE
                style = f' style="{style}" title="beyond \u00b1{highlight[column]:g}"'
            text = (
                f"{value:+.2f}"
                if signed
                else (f"{value:.2f}" if isinstance(value, float) else str(value))
            )
            cells.append(f"<td{style}>{html.escape(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    if shaded:
        thresholds = set(highlight.values())
        limits = (
            f"beyond \u00b1{thresholds.pop():g}"
            if len(thresholds) == 1
            else ", ".join(f"{c} beyond \u00b1{t:g}" for c, t in highlight.items())
        )
        note = f"bold and tinted: {limits} (blue above, vermillion below)"
        caption = f"{caption}; {note}" if caption else note
    caption_html = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    return (
        f"<table>{caption_html}<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    )


def format_table(rows: Sequence[Mapping], columns: Sequence[str]) -> str:
    """The same table as plain text (deterministic, for printed and regression-checked output)."""

    def fmt(value):
        return f"{value:.2f}" if isinstance(value, float) else str(value)

    widths = [max(len(c), *(len(fmt(r.get(c, ""))) for r in rows)) for c in columns]
    lines = ["  ".join(c.rjust(w) for c, w in zip(columns, widths))]
    lines += ["  ".join(fmt(r.get(c, "")).rjust(w) for c, w in zip(columns, widths)) for r in rows]
    return "\n".join(lines)


def plot_held_out(
    histories: Mapping[str, Sequence[dict]],
    eps: float,
    pgd_steps: int,
    title: str = "Held-out accuracy per epoch",
    caption: str | None = AUTO,
) -> matplotlib.figure.Figure:
    """FGSM (solid) and PGD (dashed, hollow markers) accuracy on held-out images after every
    epoch, one colour and marker per model (as in ``plot_accuracy_vs_eps``); a large black
    circle marks the epoch early stopping kept. FGSM up while PGD falls: catastrophic
    overfitting."""
    if not histories:
        raise ValueError("histories must hold at least one training history")
    fig, ax = plt.subplots(figsize=(7.5, 4))
    styles = model_styles(histories)
    kept_any = False
    for label, history in histories.items():
        epochs = [h["epoch"] for h in history]
        ax.plot(epochs, [h["val_fgsm"] for h in history], label=f"{label}: FGSM", **styles[label])
        ax.plot(
            epochs,
            [h["val_score"] for h in history],
            markerfacecolor="none",
            linestyle="--",
            label=f"{label}: PGD-{pgd_steps}",
            **styles[label],
        )
        kept = [h for h in history if h.get("kept")]
        if kept:
            ax.scatter(
                [kept[0]["epoch"]],
                [kept[0]["val_score"]],
                s=220,
                facecolors="none",
                edgecolors=PALETTE["black"],
                linewidths=1.5,
                label=None if kept_any else "epoch kept",
            )
            kept_any = True
    ax.set(
        xlabel="epoch", ylabel=f"held-out accuracy at eps {eps} (%)", ylim=(-2, 102), title=title
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if caption == AUTO:
        caption = f"Solid FGSM, dashed PGD-{pgd_steps}"
        if len(histories) > 1:
            caption += ", one colour and marker per model"
        if kept_any:
            caption += "; black circle: the epoch kept"
        caption += ". FGSM rising while PGD falls is catastrophic overfitting."
    add_caption(fig, caption)
    return fig


def plot_histograms(
    values: Mapping[str, torch.Tensor],
    xlabel: str,
    title: str,
    caption: str | None = AUTO,
) -> matplotlib.figure.Figure:
    """One step histogram per named set of values (shared bins), each in its own colour and
    line style; ``caption`` (one line) under it. The figure's text alternative gives each
    set's size, range and median."""
    if not values:
        raise ValueError("values must hold at least one named set")
    arrays = {name: v.detach().cpu().numpy().ravel() for name, v in values.items()}
    bins = np.histogram_bin_edges(np.concatenate(list(arrays.values())), bins=30)
    fig, ax = plt.subplots(figsize=(7, 3.5))
    described = []
    for index, (name, array) in enumerate(arrays.items()):
        ax.hist(
            array,
            bins=bins,
            label=name,
            histtype="step",
            linewidth=1.8,
            color=model_style(index)["color"],
            linestyle=LINESTYLES[index % len(LINESTYLES)],
        )
        if len(array):
            described.append(
                f"{name}: {len(array)} values from {_fmt(array.min())} to {_fmt(array.max())}, "
                f"median {_fmt(np.median(array))}"
            )
    ax.alt_text = "histograms of " + "; ".join(described)
    ax.set(xlabel=xlabel, ylabel="images", title=title)
    ax.legend()
    if caption == AUTO:
        caption = (
            "How the values spread: one outline per set, each in its own colour and line style."
            if len(values) > 1
            else "How the values spread."
        )
    add_caption(fig, caption)
    return fig


def plot_attack_strength(
    strength: Mapping[str, Mapping[str, Mapping[int, float]]],
    title: str = "Accuracy as the attack gets stronger",
    caption: str | None = AUTO,
) -> matplotlib.figure.Figure:
    """Two panels from ``fh.robustness.pgd_strength`` results keyed by model name: accuracy
    against PGD steps (log axis) and against random restarts, each model in the same colour
    and marker in both."""
    if not strength:
        raise ValueError("strength must hold at least one model's pgd_strength result")
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    styles = model_styles(strength)
    for name, result in strength.items():
        for ax, kind in zip(axes, ("steps", "restarts")):
            counts = sorted(result[kind])
            ax.plot(counts, [result[kind][c] for c in counts], label=name, **styles[name])
    axes[0].set_xscale("log")
    axes[0].set_xlabel("PGD steps (one run)")
    axes[1].set_xlabel("random restarts")
    axes[0].set_ylabel("accuracy (%)")
    for ax in axes:
        ax.set_ylim(-2, 102)
        ax.grid(alpha=0.3)
    axes[1].legend(loc="best", fontsize=8)
    fig.suptitle(title)
    if caption == AUTO:
        caption = "Accuracy against PGD steps (left) and random restarts (right)"
        if len(strength) > 1:
            caption += ", one colour and marker per model"
        caption += ": a sound figure stops falling as both grow."
    add_caption(fig, caption)
    return fig


def _describe_surface(a: torch.Tensor, b: torch.Tensor, loss: torch.Tensor) -> str:
    loss = loss.detach().cpu().numpy()
    a, b = a.cpu().numpy(), b.cpu().numpy()
    low, high = (
        np.unravel_index(loss.argmin(), loss.shape),
        np.unravel_index(loss.argmax(), loss.shape),
    )
    centre = (int(np.abs(a).argmin()), int(np.abs(b).argmin()))
    along = loss[:, centre[1]]
    return (
        f"loss surface from {_fmt(loss[low])} at ({_fmt(a[low[0]])}, {_fmt(b[low[1]])}) to "
        f"{_fmt(loss[high])} at ({_fmt(a[high[0]])}, {_fmt(b[high[1]])}); "
        f"{_fmt(loss[centre])} at the images themselves; along sign(gradient) alone from "
        f"{_fmt(along[0])} at {_fmt(a[0])} to {_fmt(along[-1])} at {_fmt(a[-1])}"
    )


def plot_loss_surfaces(
    surfaces: Mapping[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor]],
    title: str = "Loss around the test images",
    caption: str | None = "The loss along the gradient's sign and a random sign pattern, each "
    "panel on its own scale; a smooth rise along the gradient is what a sound defence shows.",
) -> matplotlib.figure.Figure:
    """3-D surfaces from ``fh.robustness.loss_surface`` (``(a, b, loss)``), one panel per model,
    each on its own loss scale. Each panel's text alternative gives the surface's lowest and
    highest points, its value at the images and its rise along the gradient's sign."""
    if not surfaces:
        raise ValueError("surfaces must hold at least one (a, b, loss) surface")
    fig = plt.figure(figsize=(5.2 * len(surfaces), 4.6))
    for index, (name, (a, b, loss)) in enumerate(surfaces.items(), start=1):
        ax = fig.add_subplot(1, len(surfaces), index, projection="3d")
        grid_a, grid_b = torch.meshgrid(a, b, indexing="ij")
        ax.plot_surface(grid_a.numpy(), grid_b.numpy(), loss.numpy(), cmap="viridis")
        ax.set_xlabel("along sign(gradient)")
        ax.set_ylabel("random sign")
        ax.set_zlabel("loss")
        ax.set_title(name)
        ax.alt_text = _describe_surface(a, b, loss)
    fig.suptitle(title)
    add_caption(fig, caption)
    return fig


def plot_leaderboard(
    ours: Mapping[str, float],
    leaderboard: Sequence[Mapping],
    title: str = "AutoAttack accuracy at eps 0.3 on MNIST",
    caption: str | None = "This run's models (solid blue, names in bold, marked 'this run') "
    "beside AutoAttack's leaderboard (hatched, light).",
    *,
    n_images: Mapping[str, int] | None = None,
    ours_label: str = "this run",
) -> matplotlib.figure.Figure:
    """Horizontal bars, highest first: ``ours`` ({model: AutoAttack accuracy %}) and the
    leaderboard's rows (``fh.robustness.LEADERBOARD``). Ours are told apart by more than
    colour: solid fill against hatching, bold names ending in "(``ours_label``)", and a legend.
    With ``n_images`` ({model: images it ran on}) every bar gets its 95% Wilson interval as an
    error bar (the leaderboard's on its 10,000 images)."""
    from .stats import accuracy_interval  # plots stays importable without the stats module

    bars = [(f"{name} ({ours_label})", value, True, name) for name, value in ours.items()]
    bars += [(row["defence"], row["autoattack"], False, None) for row in leaderboard]
    bars.sort(key=lambda bar: bar[1])
    fig, ax = plt.subplots(figsize=(8, 0.38 * len(bars) + 1.2))
    for mine, label in ((True, ours_label), (False, "AutoAttack leaderboard")):
        chosen = [(position, bar) for position, bar in enumerate(bars) if bar[2] == mine]
        if not chosen:
            continue
        ax.barh(
            [position for position, _ in chosen],
            [bar[1] for _, bar in chosen],
            color=PALETTE["blue"] if mine else "#cce3f0",
            edgecolor=PALETTE["black"] if mine else PALETTE["blue"],
            hatch=None if mine else HATCH,
            linewidth=0.8,
            label=label,
        )
    ax.set_yticks(range(len(bars)), [bar[0] for bar in bars])
    for tick, bar in zip(ax.get_yticklabels(), bars):
        if bar[2]:
            tick.set_fontweight("bold")
    for position, (_, value, mine, name) in enumerate(bars):
        end = value
        if n_images is not None:
            n = n_images[name] if mine else 10_000
            low, high = accuracy_interval(value, n)
            ax.errorbar(
                value,
                position,
                xerr=[[value - low], [high - value]],
                color=PALETTE["black"],
                capsize=2,
                linewidth=0.9,
                label="95% interval" if position == 0 else None,
            )
            end = high
        ax.text(end + 0.5, position, f"{value:.1f}", va="center", fontsize=8)
    ax.set_xlim(0, 105)
    ax.set_xlabel("accuracy under AutoAttack (%)")
    ax.set_title(title)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncols=3)
    add_caption(fig, caption)
    return fig
