"""Figures and tables of the series. Every function returns the figure (or HTML) it made."""

from __future__ import annotations

import html
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn

from .attacks import fgsm_direction, perturb, to_pixel_eps
from .evaluation import predict_proba

CLASSES = list(range(10))


def save_figure(
    fig: matplotlib.figure.Figure, output_dir: str | os.PathLike | None, name: str
) -> None:
    """Save ``fig`` as ``output_dir/name.png`` (nothing when ``output_dir`` is None)."""
    if output_dir is None:
        return
    path = Path(output_dir) / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")


def plot_digit_grid(
    x: torch.Tensor,
    y: torch.Tensor,
    predictions: torch.Tensor | None = None,
    rows: int = 3,
    cols: int = 8,
    title: str | None = None,
) -> matplotlib.figure.Figure:
    """A grid of digits with their labels (and predictions, wrong ones in red)."""
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
    fig.tight_layout()
    return fig


def plot_training_curves(
    histories: Mapping[str, Sequence[dict]], title: str = "Training"
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
    fig.tight_layout()
    return fig


def plot_accuracy_vs_eps(
    curves: Mapping[str, Mapping[float, float]],
    paper: Mapping[str, Mapping[float, float]] | None = None,
    ceiling: float | None = None,
    eps_units: str = "pixel",
    title: str = "Accuracy under attack",
) -> matplotlib.figure.Figure:
    """Accuracy (%) against eps for each curve; the paper's points as markers; an optional
    horizontal ceiling (the best any classifier can do against the flat-gray attack)."""
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    markers = iter("osD^vP*X")
    for name, curve in curves.items():
        eps = sorted(curve)
        ax.plot(eps, [curve[e] for e in eps], marker=next(markers, "o"), label=name)
    for name, points in (paper or {}).items():
        eps = sorted(points)
        ax.plot(
            eps,
            [points[e] for e in eps],
            linestyle=":",
            marker="x",
            markersize=8,
            color="gray" if "without" in name or "CNN+FGSM" == name else "black",
            label=name,
        )
    if ceiling is not None:
        ax.axhline(ceiling, color="crimson", linestyle="--", linewidth=1)
        ax.text(
            ax.get_xlim()[1],
            ceiling + 1.5,
            f"ceiling {ceiling:.2f}% for eps >= 0.5 (flat gray)",
            color="crimson",
            ha="right",
            fontsize=8,
        )
    ax.set(xlabel=f"eps ({eps_units} units)", ylabel="accuracy (%)", ylim=(-2, 102), title=title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    return fig


def _prediction_text(probs: torch.Tensor) -> str:
    label = int(probs.argmax())
    return f"{label} ({100 * float(probs[label]):.0f}%)"


def draw_attack_panels(
    axes,
    image: torch.Tensor,
    x_adv: torch.Tensor,
    eps: float,
    probs_clean: torch.Tensor,
    probs_adv: torch.Tensor,
    label: int,
) -> dict:
    """Draw original / perturbation / adversarial / class probabilities on four axes and
    return the artists, so a widget can update them in place."""
    ax_orig, ax_pert, ax_adv, ax_prob = axes
    perturbation = (x_adv - image)[0].cpu()
    scale = max(float(perturbation.abs().max()), 1e-8)
    artists = {
        "original": ax_orig.imshow(image[0].cpu().numpy(), cmap="gray", vmin=0, vmax=1),
        "perturbation": ax_pert.imshow(
            (perturbation / scale).numpy(), cmap="seismic", vmin=-1, vmax=1
        ),
        "adversarial": ax_adv.imshow(x_adv[0].cpu().numpy(), cmap="gray", vmin=0, vmax=1),
    }
    for ax in (ax_orig, ax_pert, ax_adv):
        ax.set_xticks([])
        ax.set_yticks([])
    artists["title_original"] = ax_orig.set_title(
        f"original: label {label}\npred {_prediction_text(probs_clean)}", fontsize=9
    )
    artists["title_perturbation"] = ax_pert.set_title(
        f"perturbation, eps={eps:.2f}\n(scaled to be visible)", fontsize=9
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
) -> matplotlib.figure.Figure:
    """For one image, a row per eps: original, perturbation, adversarial, class probabilities."""
    image, label = x[index : index + 1], y[index : index + 1]
    direction = fgsm_direction(model, image, label)
    probs_clean = predict_proba(model, image)[0]
    fig, axes = plt.subplots(
        len(eps_list),
        4,
        figsize=(12, 2.6 * len(eps_list)),
        gridspec_kw={"width_ratios": [1, 1, 1, 2]},
        squeeze=False,
    )
    for row, eps in zip(axes, eps_list):
        x_adv = perturb(image, direction, to_pixel_eps(eps, eps_units))
        draw_attack_panels(
            row, image[0], x_adv[0], eps, probs_clean, predict_proba(model, x_adv)[0], int(label)
        )
    fig.tight_layout()
    return fig


def plot_image_gallery(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps_list: Sequence[float],
    n_images: int = 6,
    eps_units: str = "pixel",
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
    fig.tight_layout()
    return fig


def plot_flip_matrix(
    matrix: torch.Tensor, title: str = "Where attacked digits go"
) -> matplotlib.figure.Figure:
    """Row: true class; column: predicted class after the attack (counts)."""
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
    fig.tight_layout()
    return fig


def comparison_table_html(
    rows: Sequence[Mapping],
    columns: Sequence[str],
    highlight: Mapping[str, float] | None = None,
    caption: str | None = None,
) -> str:
    """An HTML table of ``rows``; for each column in ``highlight``, cells whose absolute value
    exceeds the threshold are shaded (red when negative, green when positive)."""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in columns)
    body = []
    for row in rows:
        cells = []
        for column in columns:
            value = row.get(column, "")
            style = ""
            if (
                highlight
                and column in highlight
                and isinstance(value, (int, float))
                and abs(value) > highlight[column]
            ):
                style = (
                    ' style="background:#f8d7da"' if value < 0 else ' style="background:#d4edda"'
                )
            text = (
                f"{value:+.2f}"
                if highlight and column in highlight and isinstance(value, (int, float))
                else (f"{value:.2f}" if isinstance(value, float) else str(value))
            )
            cells.append(f"<td{style}>{html.escape(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
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
) -> matplotlib.figure.Figure:
    """PGD (solid) and FGSM (dashed) accuracy on held-out images after every epoch; a circle
    marks the epoch early stopping kept. FGSM up while PGD falls: catastrophic overfitting."""
    fig, ax = plt.subplots(figsize=(7.5, 4))
    for label, history in histories.items():
        epochs = [h["epoch"] for h in history]
        (line,) = ax.plot(
            epochs, [h["val_score"] for h in history], marker="o", label=f"{label}: PGD-{pgd_steps}"
        )
        ax.plot(
            epochs,
            [h["val_fgsm"] for h in history],
            marker="x",
            linestyle="--",
            color=line.get_color(),
            label=f"{label}: FGSM",
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
    fig.tight_layout()
    return fig


def plot_histograms(
    values: Mapping[str, torch.Tensor], xlabel: str, title: str
) -> matplotlib.figure.Figure:
    """One step histogram per named set of values."""
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
    fig.tight_layout()
    return fig
