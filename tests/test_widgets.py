"""The epsilon explorer driven from Python: set the sliders, read the figure and the labels."""

import matplotlib.pyplot as plt
import pytest
import torch

import fgsm_helpers as fh
from fgsm_helpers.exercises.framework import toy_images
from fgsm_helpers.widgets import EpsilonExplorer, explorer_static_figure, figure_array


@pytest.fixture(scope="module")
def explorer_data(mnist_test):
    return mnist_test[0][:50], mnist_test[1][:50]


def _flipping_index(model, x, y, eps):
    """A test image the model gets right at eps 0 and wrong under FGSM at ``eps``."""
    right = fh.predict(model, x) == y
    fooled = fh.predict(model, fh.fgsm(model, x, y, eps)) != y
    candidates = (right & fooled).nonzero().squeeze(1)
    assert len(candidates), "no image flips; the fixture model is too weak or too strong"
    return int(candidates[0])


@pytest.mark.slow
def test_slider_move_changes_figure_and_prediction(trained_cnn, explorer_data):
    x, y = explorer_data
    index = _flipping_index(trained_cnn, x, y, 0.4)
    explorer = EpsilonExplorer({"baseline": trained_cnn}, x, y, eps=0.0, index=index)
    before_png, before = explorer.png(), dict(explorer.state)
    assert before["adversarial_prediction"] == before["label"] == before["clean_prediction"]
    explorer.eps_slider.value = 0.4
    after_png, after = explorer.png(), explorer.state
    assert after["eps"] == pytest.approx(0.4)
    assert after["adversarial_prediction"] != after["label"]
    assert after["clean_prediction"] == before["clean_prediction"]
    assert not torch.equal(
        torch.from_numpy(figure_array(before_png)), torch.from_numpy(figure_array(after_png))
    )
    assert (
        f"adversarial predicted <b class='adv-pred'>{after['adversarial_prediction']}</b>"
        in explorer.status.value
    )
    assert (after["x_adv"] - x[index]).abs().max().item() <= 0.4 + 1e-6


@pytest.mark.slow
def test_updates_in_place_with_one_image_widget(trained_cnn, explorer_data):
    x, y = explorer_data
    explorer = EpsilonExplorer(trained_cnn, x, y)
    figure, image = explorer.fig, explorer.image
    for eps in (0.05, 0.1, 0.2, 0.3):
        explorer.eps_slider.value = eps
    explorer.index_slider.value = 3
    assert explorer.fig is figure and explorer.image is image
    assert explorer.renders == 6  # one at construction, one per change
    assert sum(isinstance(child, type(image)) for child in explorer.widget.children) == 1
    assert len(explorer._directions) == 2  # the gradient sign is computed once per (model, image)


@pytest.mark.slow
def test_gradient_sign_is_reused_across_eps(trained_cnn, explorer_data, monkeypatch):
    x, y = explorer_data
    explorer = EpsilonExplorer(trained_cnn, x, y)
    calls = []
    original = fh.widgets.fgsm_direction
    monkeypatch.setattr(
        fh.widgets, "fgsm_direction", lambda *a, **k: calls.append(1) or original(*a, **k)
    )
    for eps in (0.2, 0.3, 0.4):
        explorer.eps_slider.value = eps
    assert calls == []


@pytest.mark.slow
def test_model_picker_switches_models(trained_cnn, explorer_data):
    x, y = explorer_data
    explorer = EpsilonExplorer({"baseline": trained_cnn}, x, y, eps=0.2)
    torch.manual_seed(0)
    explorer.add_model("untrained", fh.PaperCNN().eval())
    assert list(explorer.model_picker.options) == ["baseline", "untrained"]
    explorer.model_picker.value = "untrained"
    assert explorer.state["model"] == "untrained"


@pytest.mark.slow
@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"eps": -0.1}, "eps"),
        ({"eps_max": 2.0}, "eps_max"),
        ({"eps_step": 0.05}, "eps_step"),
        ({"index": 99}, "index"),
    ],
)
def test_bad_explorer_arguments(trained_cnn, explorer_data, kwargs, match):
    x, y = explorer_data
    with pytest.raises(ValueError, match=match):
        EpsilonExplorer(trained_cnn, x, y, **kwargs)
    with pytest.raises(ValueError, match="models"):
        EpsilonExplorer({}, x, y)


@pytest.mark.slow
def test_units_switch_changes_how_eps_is_read(trained_cnn, explorer_data):
    x, y = explorer_data
    explorer = EpsilonExplorer({"baseline": trained_cnn}, x, y, eps=0.3)
    assert explorer.state["pixel_eps"] == pytest.approx(0.3)
    assert "eps = <b>0.30</b> pixel = 0.97 normalized" in explorer.status.value
    explorer.units.value = "normalized"
    assert explorer.state["eps_units"] == "normalized"
    assert explorer.state["pixel_eps"] == pytest.approx(0.3 * 0.3081)
    assert "eps = 0.30 normalized = <b>0.092</b> pixel" in explorer.status.value
    assert (explorer.state["x_adv"] - x[0]).abs().max().item() <= 0.3 * 0.3081 + 1e-6
    with pytest.raises(ValueError, match="eps_units"):
        EpsilonExplorer(trained_cnn, x, y, eps_units="percent")


@pytest.mark.slow
def test_perturbation_panel_keeps_one_colour_scale(trained_cnn, explorer_data):
    x, y = explorer_data
    explorer = EpsilonExplorer(trained_cnn, x, y, eps=0.05, eps_max=0.6)
    panel = explorer._artists["perturbation"]
    assert panel.get_clim() == (-0.6, 0.6)
    small = abs(panel.get_array()).max()
    explorer.eps_slider.value = 0.4
    assert panel.get_clim() == (-0.6, 0.6)
    assert abs(panel.get_array()).max() > small  # a larger eps is drawn stronger, not rescaled
    assert "colorbar" in explorer._artists


@pytest.mark.slow
def test_explorer_offers_every_model_and_a_static_figure_for_each(trained_cnn, explorer_data):
    x, y = explorer_data
    torch.manual_seed(0)
    models = {"baseline": trained_cnn, "fgsm_at": fh.PaperCNN().eval()}
    explorer = EpsilonExplorer(models, x, y)
    assert list(explorer.model_picker.options) == ["baseline", "fgsm_at"]
    figures = explorer_static_figure(models, x, y, eps_list=(0.0, 0.2))
    assert list(figures) == ["baseline", "fgsm_at"]
    for name, fig in figures.items():
        assert len(fig.axes) == 2 * 4 + 2  # two rows of four panels, a colour bar per row
        assert fig._suptitle.get_text().startswith(name)
    with pytest.raises(ValueError, match="models"):
        explorer_static_figure({}, x, y)


def test_static_figure_takes_the_caption_it_is_given():
    x, y = toy_images(4, seed=0)
    model = fh.PaperCNN().eval()
    default = explorer_static_figure(model, x, y, eps_list=(0.1,))["model"]
    given = explorer_static_figure(model, x, y, eps_list=(0.1,), caption="One digit, two eps.")
    assert fh.plots.caption_of(default) == fh.plots.caption_of(
        fh.plots.plot_adversarial_gallery(model, x, y, (0.1,))
    )
    assert fh.plots.caption_of(given["model"]) == "One digit, two eps."
    plt.close("all")
