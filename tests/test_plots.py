"""The figures: the artists a reader relies on are there, and bad input is refused."""

import matplotlib
import matplotlib.pyplot as plt
import pytest
import torch

import fgsm_helpers as fh
from fgsm_helpers import plots

matplotlib.use("Agg")

FGSM = {0.0: 99.0, 0.1: 80.0, 0.3: 20.0, 0.5: 5.0, 0.8: 1.0}
PGD = {0.0: 99.0, 0.1: 60.0, 0.3: 2.0, 0.5: 0.0, 0.8: 0.0}
DEFENDED = {0.0: 98.0, 0.1: 90.0, 0.3: 70.0, 0.5: 12.0, 0.8: 10.0}


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def _line(ax, label):
    (line,) = [line for line in ax.get_lines() if line.get_label() == label]
    return line


def test_figure3_paper_series_are_distinguishable():
    fig = plots.plot_accuracy_vs_eps(
        {"ours: CNN": FGSM, "ours: CNN + adversarial training": DEFENDED},
        paper={
            "paper: CNN+FGSM": fh.paper.TABLE2_BASELINE,
            "paper: + adversarial learning": fh.paper.TABLE2_ADVERSARIAL,
        },
    )
    ax = fig.axes[0]
    baseline, adversarial = _line(ax, "paper: CNN+FGSM"), _line(ax, "paper: + adversarial learning")
    assert baseline.get_color() != adversarial.get_color()
    assert baseline.get_marker() != adversarial.get_marker()
    assert baseline.get_linestyle() == adversarial.get_linestyle() == ":"
    # each paper series in the colour of our model it compares with
    assert baseline.get_color() == _line(ax, "ours: CNN").get_color()
    assert adversarial.get_color() == _line(ax, "ours: CNN + adversarial training").get_color()


def test_pgd_is_dashed_in_the_colour_of_the_same_models_fgsm():
    fig = plots.plot_accuracy_vs_eps(
        {"baseline": FGSM, "fgsm_at": DEFENDED},
        pgd={"baseline": PGD, "fgsm_at": PGD},
        pgd_label="PGD-40",
    )
    ax = fig.axes[0]
    for name in ("baseline", "fgsm_at"):
        fgsm_line, pgd_line = _line(ax, f"{name}: FGSM"), _line(ax, f"{name}: PGD-40")
        assert fgsm_line.get_linestyle() == "-" and pgd_line.get_linestyle() == "--"
        assert fgsm_line.get_color() == pgd_line.get_color()
    assert _line(ax, "baseline: FGSM").get_color() != _line(ax, "fgsm_at: FGSM").get_color()


def test_ceiling_starts_at_pixel_eps_half_at_the_value_given():
    labels = torch.tensor([1] * 67 + [0] * 433)
    ceiling = fh.attacks.accuracy_ceiling(labels)
    fig = plots.plot_accuracy_vs_eps({"baseline": FGSM}, ceiling=ceiling)
    (segments,) = fig.axes[0].collections
    ((start, height), (end, height_end)) = segments.get_segments()[0]
    assert (start, end) == (0.5, 0.8)
    assert height == height_end == pytest.approx(ceiling)
    assert f"{ceiling:.2f}%" in " ".join(t.get_text() for t in fig.axes[0].texts)


def test_normalized_plot_reads_pixel_eps_on_a_second_axis():
    fig = plots.plot_accuracy_vs_eps({"baseline": FGSM}, eps_units="normalized")
    ax = fig.axes[0]
    (top,) = [child for child in ax.child_axes]
    assert "pixel" in top.get_xlabel()
    forward = top._functions[0]
    assert forward(0.8) == pytest.approx(0.8 * 0.3081)
    assert "normalized" in ax.get_xlabel()


def test_every_plot_function_writes_a_one_line_caption(random_cnn, tiny_batch):
    x, y = tiny_batch
    history = [{"epoch": 1, "trace": [{"batch": 1, "loss": 2.0, "accuracy": 10.0}]}]
    held_out = [{"epoch": 1, "val_score": 10.0, "val_fgsm": 40.0, "kept": True}]
    figures = [
        plots.plot_digit_grid(x, y, rows=1, cols=4),
        plots.plot_training_curves({"m": history}),
        plots.plot_accuracy_vs_eps({"m": FGSM}),
        plots.plot_adversarial_gallery(random_cnn, x, y, [0.0, 0.1]),
        plots.plot_image_gallery(random_cnn, x, y, [0.0, 0.1], n_images=3),
        plots.plot_flip_matrix(torch.eye(10)),
        plots.plot_held_out({"m": held_out}, 0.3, 20),
        plots.plot_histograms({"a": torch.rand(20)}, "x", "t", caption="Where the values lie."),
    ]
    for fig in figures:
        caption = plots.caption_of(fig)
        assert caption and "\n" not in caption
    custom = plots.plot_accuracy_vs_eps({"m": FGSM}, caption="See the knee at eps 0.1.")
    assert plots.caption_of(custom) == "See the knee at eps 0.1."
    assert plots.caption_of(plots.plot_accuracy_vs_eps({"m": FGSM}, caption=None)) is None
    with pytest.raises(ValueError, match="one line"):
        plots.plot_accuracy_vs_eps({"m": FGSM}, caption="two\nlines")


def test_titles_and_caption_do_not_overlap(random_cnn, tiny_batch):
    x, y = tiny_batch
    fig = plots.plot_accuracy_vs_eps({"m": FGSM}, eps_units="normalized", title="A long title")
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    ax = fig.axes[0]
    title = ax.title.get_window_extent(renderer)
    top_axis = ax.child_axes[0].get_tightbbox(renderer)
    caption = [t for t in fig.texts if t.get_text() == plots.caption_of(fig)][0]
    assert title.y0 >= top_axis.y1 - 1  # the title sits above the pixel-eps axis
    assert caption.get_window_extent(renderer).y1 <= ax.get_tightbbox(renderer).y0 + 1


def test_gallery_perturbations_share_one_colour_scale(random_cnn, tiny_batch):
    x, y = tiny_batch
    fig = plots.plot_adversarial_gallery(random_cnn, x, y, [0.05, 0.1, 0.3])
    panels = [ax.get_images()[0] for ax in fig.axes if ax.get_title().startswith("x_adv - x")]
    assert len(panels) == 3
    assert {panel.get_clim() for panel in panels} == {(-0.3, 0.3)}
    assert len(fig.axes) == 3 * 4 + 3  # a colour bar per row


def test_save_figure_writes_a_png(tmp_path):
    fig = plots.plot_accuracy_vs_eps({"m": FGSM})
    plots.save_figure(fig, tmp_path / "figs", "curve")
    assert (tmp_path / "figs" / "curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    plots.save_figure(fig, None, "nothing")  # no folder: nothing written, no error


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"curves": {}}, "at least one"),
        ({"curves": {"m": {}}}, "no points"),
        ({"curves": {"m": {0.1: 150.0}}}, "percentages"),
        ({"curves": {"m": FGSM}, "eps_units": "percent"}, "eps_units"),
        ({"curves": {"m": FGSM}, "pgd": {"other": PGD}}, "no FGSM curve"),
        ({"curves": {"m": FGSM}, "ceiling": 120.0}, "ceiling"),
        ({"curves": {"m": {0.0: 99.0, 0.3: 20.0}}, "ceiling": 11.35}, "ceiling=None"),
    ],
)
def test_bad_curves_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        plots.plot_accuracy_vs_eps(**kwargs)


def test_bad_panel_and_matrix_input_is_refused(random_cnn, tiny_batch):
    x, y = tiny_batch
    with pytest.raises(ValueError, match="index"):
        plots.plot_adversarial_gallery(random_cnn, x, y, [0.1], index=99)
    with pytest.raises(ValueError, match="eps_list"):
        plots.plot_adversarial_gallery(random_cnn, x, y, [])
    with pytest.raises(ValueError, match="square"):
        plots.plot_flip_matrix(torch.zeros(10, 9))
    _, axes = plt.subplots(1, 4)
    with pytest.raises(ValueError, match="perturbation_limit"):
        plots.draw_attack_panels(
            axes, x[0], x[0], 0.1, torch.ones(10) / 10, torch.ones(10) / 10, 1, perturbation_limit=0
        )


# --- HTML tables readable in a light and a dark theme ----------------------------------------


def _luminance(hex_color):
    channels = [int(hex_color[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def _contrast(a, b):
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_highlighted_cells_carry_their_own_text_colour_bold_and_sign():
    import re

    rows = [{"eps": 0.1, "diff": -12.0}, {"eps": 0.2, "diff": 8.0}, {"eps": 0.3, "diff": 1.0}]
    table = plots.comparison_table_html(rows, ["eps", "diff"], {"diff": 5}, caption="Table 1")
    cells = re.findall(r"<td([^>]*)>([^<]*)</td>", table)
    styled = {text: attributes for attributes, text in cells if "style" in attributes}
    assert set(styled) == {"-12.00", "+8.00"}  # signed, and only the two beyond 5
    for attributes in styled.values():
        style = dict(
            part.split(":") for part in re.search(r'style="([^"]*)"', attributes)[1].split(";")
        )
        assert style["font-weight"] == "bold"
        assert _contrast(style["color"], style["background"]) >= 7  # WCAG AAA, any theme
    assert styled["-12.00"] != styled["+8.00"]
    assert ("+1.00" in table) and "<caption>Table 1; bold and tinted: beyond ±5" in table
    plain = plots.comparison_table_html(rows, ["eps", "diff"])
    assert "style" not in plain and "<caption>" not in plain  # unstyled: the theme's own colours


def test_the_package_never_sets_a_background_without_a_text_colour():
    import re
    from pathlib import Path

    for path in Path(fh.__file__).parent.rglob("*.py"):
        for style in re.findall(r"[\"']([^\"']*background[^\"']*)[\"']", path.read_text()):
            assert "color:" in style.replace("background:", ""), (path.name, style)
