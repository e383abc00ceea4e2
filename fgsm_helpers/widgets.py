"""The epsilon explorer: sliders for eps and the test image, a units switch, a model picker,
and one figure (original, perturbation, adversarial image, class probabilities) updated in place.

The units switch is the lesson of chapter 02: the same slider value is a pixel eps (added to
images in [0, 1]) or a normalized eps (added after normalization, ``eps_pixel = eps * 0.3081``),
and the status line says both.

Works with ipywidgets 7.7 (what Colab ships) and 8: the figure is rendered to PNG into a single
``ipywidgets.Image``, so a slider move replaces that image instead of stacking a new figure,
whatever the matplotlib backend. The FGSM direction of each (model, image) is computed once
and cached: a move of the eps slider costs one forward pass on one image and one PNG render.
"""

from __future__ import annotations

import io
from collections.abc import Mapping

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn

from .attacks import EPS_UNITS, check_images, check_labels, fgsm_direction, perturb, to_pixel_eps
from .evaluation import predict_proba
from .models import MNIST_STD
from .plots import draw_attack_panels, perturbation_title, plot_adversarial_gallery

CSS_FIGURE = "fgsm-explorer-figure"
CSS_STATUS = "fgsm-explorer-status"


class EpsilonExplorer:
    """Interactive FGSM on one test image at a time, for every model in ``models``.

    ``eps_units`` is where the units switch starts; ``eps_max`` is the slider's end, and the
    perturbation panel's colour scale is fixed to it in pixel units for every eps and unit.

    >>> explorer = EpsilonExplorer({"baseline": model, "fgsm_at": defended}, x_test[:200],
    ...                            y_test[:200])
    >>> explorer            # in a notebook: the sliders, the switch and the figure
    >>> explorer.eps_slider.value = 0.3; explorer.units.value = "normalized"
    >>> explorer.state["pixel_eps"], explorer.state["adversarial_prediction"]
    """

    def __init__(
        self,
        models: Mapping[str, nn.Module] | nn.Module,
        x: torch.Tensor,
        y: torch.Tensor,
        *,
        eps: float = 0.1,
        eps_max: float = 0.8,
        eps_step: float = 0.01,
        index: int = 0,
        eps_units: str = "pixel",
    ) -> None:
        if isinstance(models, nn.Module):
            models = {"model": models}
        if not models:
            raise ValueError("models must hold at least one model")
        check_images(x)
        check_labels(y, len(x), 10)
        if eps_units not in EPS_UNITS:
            raise ValueError(f"eps_units must be 'pixel' or 'normalized'; got {eps_units!r}")
        to_pixel_eps(eps)
        to_pixel_eps(eps_max, name="eps_max")
        if not 0 < eps_max or eps > eps_max:
            raise ValueError(f"eps must lie in [0, eps_max] with eps_max > 0; got {eps}, {eps_max}")
        if not 0 < eps_step <= 0.01:
            raise ValueError(f"eps_step must lie in (0, 0.01]; got {eps_step}")
        if not 0 <= index < len(x):
            raise ValueError(f"index must lie in 0..{len(x) - 1}; got {index}")
        self.models = dict(models)
        self.x, self.y = x, y
        self._directions: dict[tuple[str, int], torch.Tensor] = {}
        self._clean_probs: dict[tuple[str, int], torch.Tensor] = {}
        self.state: dict = {}
        self.renders = 0

        self.eps_slider = widgets.FloatSlider(
            value=eps,
            min=0.0,
            max=eps_max,
            step=eps_step,
            description="eps",
            readout_format=".2f",
            continuous_update=True,
        )
        self.index_slider = widgets.IntSlider(
            value=index, min=0, max=len(x) - 1, description="test image"
        )
        self.units = widgets.ToggleButtons(
            options=list(EPS_UNITS),
            value=eps_units,
            description="eps units",
            tooltips=["eps added to pixels in [0, 1]", "eps added after normalization (x 0.3081)"],
        )
        self.model_picker = widgets.Dropdown(options=list(self.models), description="model")
        # one colour scale for every eps and unit: the slider's end, read in pixel units
        self.perturbation_limit = eps_max
        self.image = widgets.Image(format="png")
        self.image.add_class(CSS_FIGURE)
        self.status = widgets.HTML()
        self.status.add_class(CSS_STATUS)
        self.widget = widgets.VBox(
            [
                widgets.HBox([self.eps_slider, self.index_slider, self.model_picker]),
                self.units,
                self.image,
                self.status,
            ]
        )

        self.fig, axes = plt.subplots(
            1, 4, figsize=(12, 3.4), gridspec_kw={"width_ratios": [1, 1, 1, 2]}
        )
        plt.close(self.fig)  # never shown by the backend: only rendered into self.image
        self.axes = axes
        self._artists: dict | None = None
        for control in (self.eps_slider, self.index_slider, self.model_picker, self.units):
            control.observe(self._on_change, names="value")
        self.update()

    def add_model(self, name: str, model: nn.Module) -> None:
        """Offer another model in the picker (e.g. the adversarially trained one of chapter 03)."""
        self.models[name] = model
        self.model_picker.options = list(self.models)

    def _on_change(self, change) -> None:
        self.update()

    def _cached(self, name: str, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        key = (name, index)
        if key not in self._directions:
            model = self.models[name]
            image, label = self.x[index : index + 1], self.y[index : index + 1]
            self._directions[key] = fgsm_direction(model, image, label)
            self._clean_probs[key] = predict_proba(model, image)[0]
        return self._directions[key], self._clean_probs[key]

    def update(self) -> None:
        """Recompute for the current slider values and redraw the one figure in place."""
        name, index, eps, units = (
            self.model_picker.value,
            self.index_slider.value,
            float(self.eps_slider.value),
            self.units.value,
        )
        pixel_eps = to_pixel_eps(eps, units)
        model = self.models[name]
        direction, probs_clean = self._cached(name, index)
        image = self.x[index : index + 1]
        x_adv = perturb(image, direction, pixel_eps)
        probs_adv = predict_proba(model, x_adv)[0]
        label = int(self.y[index])
        if self._artists is None:
            self._artists = draw_attack_panels(
                self.axes,
                image[0],
                x_adv[0],
                eps,
                probs_clean,
                probs_adv,
                label,
                perturbation_limit=self.perturbation_limit,
                eps_units=units,
            )
            self.fig.subplots_adjust(left=0.02, right=0.98, top=0.8, bottom=0.24, wspace=0.3)
            self.fig.text(
                0.5,
                0.015,
                f"The perturbation is in pixel units on one colour scale, "
                f"+/-{self.perturbation_limit:g} for every eps: red brightens a pixel, blue "
                f"darkens it.",
                ha="center",
                fontsize=9,
            )
        else:
            self._redraw(image[0], x_adv[0], eps, units, probs_clean, probs_adv, label)
        buffer = io.BytesIO()
        self.fig.savefig(buffer, format="png", dpi=80)
        self.image.value = buffer.getvalue()
        self.renders += 1
        clean_pred, adv_pred = int(probs_clean.argmax()), int(probs_adv.argmax())
        self.state = {
            "model": name,
            "index": index,
            "eps": eps,
            "eps_units": units,
            "pixel_eps": pixel_eps,
            "label": label,
            "clean_prediction": clean_pred,
            "clean_confidence": float(probs_clean[clean_pred]),
            "adversarial_prediction": adv_pred,
            "adversarial_confidence": float(probs_adv[adv_pred]),
            "x_adv": x_adv[0],
        }
        verdict = "fooled" if adv_pred != label else "still right"
        if units == "normalized":
            both = f"eps = {eps:.2f} normalized = <b>{pixel_eps:.3f}</b> pixel"
        else:
            both = f"eps = <b>{eps:.2f}</b> pixel = {eps / MNIST_STD:.2f} normalized"
        self.status.value = (
            f"<b>{name}</b>, {both}: label {label}, "
            f"original predicted <b>{clean_pred}</b> ({100 * float(probs_clean[clean_pred]):.0f}%), "
            f"adversarial predicted <b class='adv-pred'>{adv_pred}</b> "
            f"({100 * float(probs_adv[adv_pred]):.0f}%): {verdict}"
        )

    def _redraw(self, image, x_adv, eps, units, probs_clean, probs_adv, label) -> None:
        artists = self._artists
        artists["original"].set_data(image[0].cpu().numpy())
        artists["perturbation"].set_data((x_adv - image)[0].cpu().numpy())
        artists["adversarial"].set_data(x_adv[0].cpu().numpy())
        for bar, value in zip(artists["bars_clean"], probs_clean.cpu().numpy()):
            bar.set_height(float(value))
        for bar, value in zip(artists["bars_adv"], probs_adv.cpu().numpy()):
            bar.set_height(float(value))
        clean_pred, adv_pred = int(probs_clean.argmax()), int(probs_adv.argmax())
        artists["title_original"].set_text(
            f"original: label {label}\npred {clean_pred} ({100 * float(probs_clean[clean_pred]):.0f}%)"
        )
        artists["title_perturbation"].set_text(perturbation_title(eps, units))
        artists["title_adversarial"].set_text(
            f"adversarial\npred {adv_pred} ({100 * float(probs_adv[adv_pred]):.0f}%)"
        )

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    def png(self) -> bytes:
        """The figure as currently shown (PNG bytes)."""
        return bytes(self.image.value)


def explorer_static_figure(
    models: Mapping[str, nn.Module] | nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    index: int = 0,
    eps_list=(0.0, 0.1, 0.2, 0.3),
    eps_units: str = "pixel",
    caption: str | None = None,
) -> dict:
    """The explorer's panels at a few eps values, one static figure per model, for readers
    without a kernel (GitHub, nbviewer) and for papermill: ``{model name: figure}``.
    ``caption``: one line under each figure (None: ``plot_adversarial_gallery``'s own).

    >>> for name, fig in explorer_static_figure({"baseline": model}, x_test, y_test).items():
    ...     fh.plots.save_figure(fig, "outputs", f"02_explorer_{name}")
    """
    if isinstance(models, nn.Module):
        models = {"model": models}
    if not models:
        raise ValueError("models must hold at least one model")
    options = {} if caption is None else {"caption": caption}
    return {
        name: plot_adversarial_gallery(
            model,
            x,
            y,
            eps_list,
            index=index,
            eps_units=eps_units,
            title=f"{name}: FGSM on test image {index}, eps in {eps_units} units",
            **options,
        )
        for name, model in models.items()
    }


def figure_array(png: bytes) -> np.ndarray:
    """Decode PNG bytes into an RGBA array (to compare two renders)."""
    return plt.imread(io.BytesIO(png), format="png")
