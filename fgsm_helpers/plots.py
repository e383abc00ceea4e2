"""Figures and tables of the series. Every function returns the figure (or HTML) it made."""

from __future__ import annotations

import html
import io
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib
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
_CAPTION_INCHES = 0.35  # room kept under the axes for the one-line caption
_PAPER_MARKERS = ("X", "P", "*", "d")
_PAPER_SPARE_COLORS = ("black", "dimgray", "saddlebrown", "darkviolet")


def add_caption(fig: matplotlib.figure.Figure, caption: str | None) -> None:
    """Lay ``fig`` out without overlaps and write ``caption`` (one line: what to see) under
    its axes, in the figure itself so that a saved PNG carries it. ``None`` or "": no caption.
    """
    if caption:
        if "\n" in caption:
            raise ValueError(f"a caption is one line; got {caption!r}")
        fig.text(0.5, 0.08 / fig.get_figheight(), caption, ha="center", va="bottom", fontsize=9)
        fig.tight_layout(rect=(0, _CAPTION_INCHES / fig.get_figheight(), 1, 1))
    else:
        fig.tight_layout()


def caption_of(fig: matplotlib.figure.Figure) -> str | None:
    """The caption ``add_caption`` wrote on ``fig`` (None when it has none)."""
    texts = [t.get_text() for t in fig.texts if t.get_position()[1] < 0.5 / fig.get_figheight()]
    return texts[0] if texts else None


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


def _describe_axes(ax: matplotlib.axes.Axes) -> str | None:
    title, xlabel, ylabel = ax.get_title(), ax.get_xlabel(), ax.get_ylabel()
    if ax.images and not ax.get_lines() and not xlabel:
        return None  # an image panel: counted with the others by alt_text
    head = f"panel {title!r}" if title else "panel"
    parts = _describe_lines(ax)
    bars = [patch for patch in ax.patches if isinstance(patch, matplotlib.patches.Rectangle)]
    if bars and not parts:
        horizontal = any(t.get_text() for t in ax.get_yticklabels()) and not any(
            t.get_text() for t in ax.get_xticklabels() if not _numeric(t.get_text())
        )
        if horizontal:
            names = [t.get_text() for t in ax.get_yticklabels()]
            values = [bar.get_width() for bar in bars]
        else:
            names = [t.get_text() for t in ax.get_xticklabels()]
            values = [bar.get_height() for bar in bars]
        if len(names) == len(values) and len(values) <= 40:
            parts.append("bars: " + "; ".join(f"{n} {_fmt(v)}" for n, v in zip(names, values)))
        else:
            parts.append(f"{len(bars)} bars from {_fmt(min(values))} to {_fmt(max(values))}")
    if ax.images:
        parts.append("an image (colour scale)")
    if ax.collections and not parts:
        parts.append(f"{len(ax.collections)} drawn surfaces or point sets")
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
    axes and the first, last, lowest and highest point of each labelled line (or the bars'
    values, or how many images a grid holds and their titles), then its caption.

    A figure can carry its own description (``fig.alt_text = "..."``), which comes first."""
    parts = [getattr(fig, "alt_text", None)]
    if fig.get_suptitle():
        parts.append(f"Figure: {fig.get_suptitle()}.")
    axes = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    image_panels = [ax for ax in axes if ax.images and not ax.get_lines() and not ax.get_xlabel()]
    if image_panels:
        titles = [ax.get_title().replace("\n", ", ") for ax in image_panels if ax.get_title()]
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
    return " ".join(p for p in parts if p)


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

    save_figure(fig, output_dir, name)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    description = alt or alt_text(fig)
    display(
        Image(data=buffer.getvalue(), format="png"),
        metadata={"image/png": {"alt": description}},
    )
    caption = caption_of(fig)
    if caption:
        display(Markdown(f"*{caption}*"))
    plt.close(fig)


def plot_digit_grid(
    x: torch.Tensor,
    y: torch.Tensor,
    predictions: torch.Tensor | None = None,
    rows: int = 3,
    cols: int = 8,
    title: str | None = None,
    caption: str | None = "Each digit with its true label; with predictions, red marks a mistake.",
) -> matplotlib.figure.Figure:
    """A grid of digits with their labels (and predictions, wrong ones in red), ``caption``
    under it."""
    count = min(rows * cols, len(x))
    fig, axes = plt.subplots(rows, cols, figsize=(1.3 * cols, 1.5 * rows))
    for i, ax in enumerate(np.ravel(axes)):
        ax.axis("off")
        if i >= count:
            continue
        ax.imshow(x[i, 0].detach().cpu().numpy(), cmap="gray", vmin=0, vmax=1)
        label = f"label {int(y[i])}"
        color = "black"
        if predictions is not None:
            label += f"\npred {int(predictions[i])}"
            color = "black" if int(predictions[i]) == int(y[i]) else "crimson"
        ax.set_title(label, fontsize=9, color=color)
    if title:
        fig.suptitle(title)
    add_caption(fig, caption)
    return fig


def plot_training_curves(
    histories: Mapping[str, Sequence[dict]],
    title: str = "Training",
    caption: str | None = "Running means over the epoch: loss falls and accuracy rises as the "
    "model learns; dashed: accuracy on the attacked batch.",
) -> matplotlib.figure.Figure:
    """Loss and accuracy during training, for one or more runs of ``train``."""
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 3.8))
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
        (line,) = ax_loss.plot(steps, loss, label=name)
        if not np.all(np.isnan(acc)):
            ax_acc.plot(steps, acc, color=line.get_color(), label=f"{name}: clean")
        if not np.all(np.isnan(adv)):
            ax_acc.plot(
                steps, adv, color=line.get_color(), linestyle="--", label=f"{name}: adversarial"
            )
    ax_loss.set(xlabel="epoch", ylabel="training loss (running mean)", title=f"{title}: loss")
    ax_acc.set(xlabel="epoch", ylabel="training accuracy (%)", title=f"{title}: accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
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
    caption: str | None = "Accuracy as eps grows: the lower a curve, the weaker the model "
    "against the attack.",
) -> matplotlib.figure.Figure:
    """Accuracy (%) against eps: one solid line per curve of ours.

    ``paper``: the paper's series, dotted with their own markers; the i-th paper series is
    drawn in the colour of our i-th curve (same model, same colour; ours solid, the paper's
    dotted). ``pgd``: PGD curves keyed by the names in ``curves``, dashed in the colour of
    that model's (FGSM) curve. ``ceiling``: the best accuracy any classifier can keep against
    the flat-gray attack (``fh.attacks.accuracy_ceiling`` of the labels of the images
    plotted), drawn from pixel eps 0.5, where that attack reaches every image. With
    ``eps_units="normalized"`` a second axis on top reads eps in pixel units
    (``eps * 0.3081``). ``caption``: one line under the figure.

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
    markers = iter("osD^vh<>")
    colors = {}
    for name, curve in curves.items():
        eps = sorted(curve)
        label = f"{name}: FGSM" if name in pgd else name
        (line,) = ax.plot(eps, [curve[e] for e in eps], marker=next(markers, "o"), label=label)
        colors[name] = line.get_color()
        if name in pgd:
            eps = sorted(pgd[name])
            ax.plot(
                eps,
                [pgd[name][e] for e in eps],
                linestyle="--",
                marker=line.get_marker(),
                markerfacecolor="none",
                color=line.get_color(),
                label=f"{name}: {pgd_label}",
            )
    ours = list(colors.values())
    for index, (name, points) in enumerate((paper or {}).items()):
        eps = sorted(points)
        ax.plot(
            eps,
            [points[e] for e in eps],
            linestyle=":",
            marker=_PAPER_MARKERS[index % len(_PAPER_MARKERS)],
            markersize=8,
            color=ours[index] if index < len(ours) else _PAPER_SPARE_COLORS[index % 4],
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
        ax.hlines(ceiling, start, eps_max, color="crimson", linestyle="-.", linewidth=1.2)
        ax.text(
            eps_max,
            ceiling + 1.5,
            f"ceiling {ceiling:.2f}% (flat gray, eps >= {start:.2g})",
            color="crimson",
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
    scale beside the panel.
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
        positions - width / 2, probs_clean.cpu().numpy(), width, label="original", color="tab:blue"
    )
    artists["bars_adv"] = ax_prob.bar(
        positions + width / 2, probs_adv.cpu().numpy(), width, label="adversarial", color="tab:red"
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
    caption: str | None = "One digit, one row per eps; the perturbation is on one colour scale, "
    "so a larger eps looks stronger.",
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
    caption: str | None = "Read down a column: the same digit at growing eps, and when its "
    "prediction turns red.",
) -> matplotlib.figure.Figure:
    """Rows: eps values; columns: test images; each tile is the FGSM image with the
    predicted label and its confidence (red when wrong)."""
    images, labels = x[:n_images], y[:n_images]
    direction = fgsm_direction(model, images, labels)
    fig, axes = plt.subplots(
        len(eps_list), n_images, figsize=(1.6 * n_images, 1.8 * len(eps_list)), squeeze=False
    )
    for row, eps in zip(axes, eps_list):
        x_adv = perturb(images, direction, to_pixel_eps(eps, eps_units))
        probs = predict_proba(model, x_adv)
        for column, ax in enumerate(row):
            ax.imshow(x_adv[column, 0].cpu().numpy(), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            predicted = int(probs[column].argmax())
            ax.set_title(
                f"{predicted} ({100 * float(probs[column, predicted]):.0f}%)",
                fontsize=9,
                color="black" if predicted == int(labels[column]) else "crimson",
            )
            if column == 0:
                ax.set_ylabel(f"eps={eps:g}")
    fig.suptitle("FGSM images: predicted label (confidence); red = fooled", fontsize=10)
    add_caption(fig, caption)
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
    caption: str | None = "Solid FGSM, dashed PGD, one colour per model: FGSM rising while PGD "
    "falls is catastrophic overfitting.",
) -> matplotlib.figure.Figure:
    """FGSM (solid) and PGD (dashed) accuracy on held-out images after every epoch, one colour
    per model (as in ``plot_accuracy_vs_eps``); a circle marks the epoch early stopping kept.
    FGSM up while PGD falls: catastrophic overfitting."""
    if not histories:
        raise ValueError("histories must hold at least one training history")
    fig, ax = plt.subplots(figsize=(7.5, 4))
    for label, history in histories.items():
        epochs = [h["epoch"] for h in history]
        (line,) = ax.plot(
            epochs, [h["val_fgsm"] for h in history], marker="o", label=f"{label}: FGSM"
        )
        ax.plot(
            epochs,
            [h["val_score"] for h in history],
            marker="o",
            markerfacecolor="none",
            linestyle="--",
            color=line.get_color(),
            label=f"{label}: PGD-{pgd_steps}",
        )
        kept = [h for h in history if h.get("kept")]
        if kept:
            ax.scatter(
                [kept[0]["epoch"]],
                [kept[0]["val_score"]],
                s=150,
                facecolors="none",
                edgecolors="black",
            )
    ax.set(
        xlabel="epoch", ylabel=f"held-out accuracy at eps {eps} (%)", ylim=(-2, 102), title=title
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    add_caption(fig, caption)
    return fig


def plot_histograms(
    values: Mapping[str, torch.Tensor],
    xlabel: str,
    title: str,
    caption: str | None = None,
) -> matplotlib.figure.Figure:
    """One step histogram per named set of values; ``caption`` (one line) under it."""
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.hist(
        [v.cpu().numpy() for v in values.values()],
        bins=30,
        label=list(values),
        histtype="step",
        linewidth=1.5,
    )
    ax.set(xlabel=xlabel, ylabel="images", title=title)
    ax.legend()
    add_caption(fig, caption)
    return fig


def plot_attack_strength(
    strength: Mapping[str, Mapping[str, Mapping[int, float]]],
    title: str = "Accuracy as the attack gets stronger",
    caption: str | None = "A sound figure stops falling as steps and restarts grow.",
) -> matplotlib.figure.Figure:
    """Two panels from ``fh.robustness.pgd_strength`` results keyed by model name: accuracy
    against PGD steps (log axis) and against random restarts."""
    if not strength:
        raise ValueError("strength must hold at least one model's pgd_strength result")
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for name, result in strength.items():
        for ax, kind in zip(axes, ("steps", "restarts")):
            counts = sorted(result[kind])
            ax.plot(counts, [result[kind][c] for c in counts], marker="o", label=name)
    axes[0].set_xscale("log")
    axes[0].set_xlabel("PGD steps (one run)")
    axes[1].set_xlabel("random restarts")
    axes[0].set_ylabel("accuracy (%)")
    for ax in axes:
        ax.set_ylim(-2, 102)
        ax.grid(alpha=0.3)
    axes[1].legend(loc="best", fontsize=8)
    fig.suptitle(title)
    add_caption(fig, caption)
    return fig


def plot_loss_surfaces(
    surfaces: Mapping[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor]],
    title: str = "Loss around the test images",
    caption: str | None = "Along the gradient's sign and a random sign pattern; a smooth rise "
    "along the gradient is what a sound defence shows.",
) -> matplotlib.figure.Figure:
    """3-D surfaces from ``fh.robustness.loss_surface`` (``(a, b, loss)``), one panel per model,
    each on its own loss scale."""
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
    fig.suptitle(title)
    add_caption(fig, caption)
    return fig


def plot_leaderboard(
    ours: Mapping[str, float],
    leaderboard: Sequence[Mapping],
    title: str = "AutoAttack accuracy at eps 0.3 on MNIST",
    caption: str | None = "Ours (this run, dark) beside AutoAttack's leaderboard (light).",
) -> matplotlib.figure.Figure:
    """Horizontal bars, highest first: ``ours`` ({model: AutoAttack accuracy %}) and the
    leaderboard's rows (``fh.robustness.LEADERBOARD``)."""
    bars = [(name, value, True) for name, value in ours.items()]
    bars += [(row["defence"], row["autoattack"], False) for row in leaderboard]
    bars.sort(key=lambda bar: bar[1])
    fig, ax = plt.subplots(figsize=(8, 0.38 * len(bars) + 1.2))
    ax.barh(
        [name for name, _, _ in bars],
        [value for _, value, _ in bars],
        color=["tab:blue" if mine else "lightsteelblue" for _, _, mine in bars],
    )
    for position, (_, value, _) in enumerate(bars):
        ax.text(value + 0.5, position, f"{value:.1f}", va="center", fontsize=8)
    ax.set_xlim(0, 105)
    ax.set_xlabel("accuracy under AutoAttack (%)")
    ax.set_title(title)
    add_caption(fig, caption)
    return fig
