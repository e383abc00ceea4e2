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


# --- colour-blind-safe styles: every plot tells models apart by more than colour ---------------

PALETTE_HEX = {value.lower() for value in plots.PALETTE.values()}


def _hex(color):
    return matplotlib.colors.to_hex(color).lower()


def _style(line):
    return _hex(line.get_color()), line.get_marker()


def test_model_styles_are_okabe_ito_with_a_marker_each():
    names = [f"model {i}" for i in range(9)]
    styles = plots.model_styles(names + names[:2])  # repeated names keep their first style
    assert list(styles) == names
    assert {_hex(s["color"]) for s in styles.values()} <= PALETTE_HEX
    assert len({s["marker"] for s in styles.values()}) == len(plots.MARKERS)
    assert len({(s["color"], s["marker"]) for s in styles.values()}) == len(names)
    assert plots.model_style(0) == styles["model 0"]
    assert _hex(plots.CEILING_STYLE["color"]) not in {_hex(c) for c in plots.MODEL_COLORS}
    assert not set(plots.PAPER_MARKERS) & set(plots.MARKERS)


def _two_models_figures():
    history = [
        {"trace": [{"batch": b, "loss": 1 / b, "accuracy": 50 + b, "adv_accuracy": 20 + b}]}
        for b in (1, 2)
    ]
    held_out = [{"epoch": e, "val_score": 10.0 + e, "val_fgsm": 40.0 - e} for e in (1, 2, 3)]
    strength = {"steps": {1: 50.0, 10: 30.0}, "restarts": {1: 30.0, 5: 28.0}}
    return {
        "accuracy": plots.plot_accuracy_vs_eps(
            {"a": FGSM, "b": DEFENDED}, pgd={"a": PGD, "b": PGD}, ceiling=11.35
        ),
        "training": plots.plot_training_curves({"a": history, "b": history}),
        "held out": plots.plot_held_out({"a": held_out, "b": held_out}, 0.3, 20),
        "strength": plots.plot_attack_strength({"a": strength, "b": strength}),
    }


def test_each_model_keeps_one_colour_and_marker_in_every_panel_of_a_figure():
    for kind, fig in _two_models_figures().items():
        styles = {}
        for ax in fig.axes:
            for line in ax.get_lines():
                model = line.get_label().split(":")[0]
                assert _hex(line.get_color()) in PALETTE_HEX, (kind, line.get_label())
                styles.setdefault(model, set()).add(_style(line))
        assert set(styles) == {"a", "b"}, kind
        assert all(len(s) == 1 for s in styles.values()), (kind, styles)  # same in every panel
        (a,), (b,) = styles["a"], styles["b"]
        assert a[0] != b[0] and a[1] != b[1], kind  # colour AND marker differ


def test_ceiling_keeps_its_own_style():
    ax = _two_models_figures()["accuracy"].axes[0]
    (ceiling,) = ax.collections
    assert _hex(ceiling.get_color()[0]) == _hex(plots.CEILING_STYLE["color"])
    assert ceiling.get_linestyle()[0][1] is not None  # dash-dot, not solid
    assert _hex(ceiling.get_color()[0]) not in {_hex(line.get_color()) for line in ax.get_lines()}


def test_histograms_differ_by_line_style_as_well_as_colour():
    fig = plots.plot_histograms(
        {"a": torch.rand(50), "b": torch.rand(50) + 1, "c": torch.rand(50) + 2}, "x", "t"
    )
    outlines = fig.axes[0].patches
    assert len(outlines) == 3
    assert len({_hex(p.get_edgecolor()) for p in outlines}) == 3
    assert len({str(p.get_linestyle()) for p in outlines}) == 3
    assert {_hex(p.get_edgecolor()) for p in outlines} <= PALETTE_HEX


def test_leaderboard_tells_ours_apart_by_hatch_and_name_not_only_colour():
    fig = plots.plot_leaderboard({"pgd_at": 88.0}, fh.robustness.LEADERBOARD)
    ax = fig.axes[0]
    ours, theirs = ax.containers
    assert all(not bar.get_hatch() for bar in ours) and all(bar.get_hatch() for bar in theirs)
    names = {t.get_text(): t for t in ax.get_yticklabels()}
    assert names["pgd_at (this run)"].get_fontweight() == "bold"
    assert all(t.get_fontweight() != "bold" for n, t in names.items() if "this run" not in n)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "this run",
        "AutoAttack leaderboard",
    ]


def test_leaderboard_draws_each_bar_s_95_percent_interval_when_told_the_images():
    fig = plots.plot_leaderboard(
        {"trades": 91.0}, fh.robustness.LEADERBOARD, n_images={"trades": 1000}, ours_label="study"
    )
    ax = fig.axes[0]
    bars = [c for c in ax.containers if isinstance(c, matplotlib.container.ErrorbarContainer)]
    assert len(bars) == 1 + len(fh.robustness.LEADERBOARD)
    widths = {}
    for container in bars:
        (segment,) = container.lines[2][0].get_segments()
        widths[round(segment[0][1])] = segment[1][0] - segment[0][0]
    names = [t.get_text() for t in ax.get_yticklabels()]
    ours = widths[names.index("trades (study)")]
    low, high = fh.stats.accuracy_interval(91.0, 1000)
    assert ours == pytest.approx(high - low)
    assert max(w for p, w in widths.items() if p != names.index("trades (study)")) < ours
    assert "95% interval" in [t.get_text() for t in ax.get_legend().get_texts()]


def test_explorer_bars_differ_by_hatch_and_colour(tiny_batch):
    x, _ = tiny_batch
    _, axes = plt.subplots(1, 4)
    probs = torch.ones(10) / 10
    artists = plots.draw_attack_panels(axes, x[0], x[0], 0.1, probs, probs, 1, perturbation_limit=1)
    clean, adversarial = artists["bars_clean"][0], artists["bars_adv"][0]
    assert _hex(clean.get_facecolor()) == plots.PALETTE["blue"].lower()
    assert _hex(adversarial.get_facecolor()) == plots.PALETTE["vermillion"].lower()
    assert not clean.get_hatch() and adversarial.get_hatch()


def test_a_wrong_prediction_is_vermillion_framed_and_marked(tiny_batch):
    x, y = tiny_batch
    predictions = y.clone()
    predictions[1] = (y[1] + 1) % 10
    fig = plots.plot_digit_grid(x, y, predictions, rows=1, cols=4)
    right, wrong = fig.axes[0], fig.axes[1]
    assert wrong.get_title().endswith(plots.WRONG_MARK)
    assert _hex(wrong.title.get_color()) == plots.WRONG_COLOR.lower()
    assert all(
        s.get_visible() and _hex(s.get_edgecolor()) == plots.WRONG_COLOR.lower()
        for s in wrong.spines.values()
    )
    assert plots.WRONG_MARK not in right.get_title()
    assert _hex(right.title.get_color()) == "#000000"
    assert not any(s.get_visible() for s in right.spines.values())


def test_image_gallery_marks_exactly_the_wrong_tiles(random_cnn, tiny_batch):
    x, y = tiny_batch
    fig = plots.plot_image_gallery(random_cnn, x, y, [0.0, 0.3], n_images=4)
    for ax in fig.axes:
        predicted = int(ax.get_title().split()[0])
        column = [
            a for a in fig.axes if a.get_subplotspec().colspan == ax.get_subplotspec().colspan
        ]
        assert column  # same image down a column
        label = int(y[ax.get_subplotspec().colspan.start])
        assert (plots.WRONG_MARK in ax.get_title()) == (predicted != label)


# --- no title runs into a panel, another title, the suptitle or the caption --------------------


def _overlap(a, b, tolerance=0.5):
    return (
        min(a.x1, b.x1) - max(a.x0, b.x0) > tolerance
        and min(a.y1, b.y1) - max(a.y0, b.y0) > tolerance
    )


def _text_collisions(fig):
    """Every pair (text, other text or panel) whose drawn boxes intersect, and every text that
    runs off the figure."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    texts = [(f"title of panel {i}", ax.title) for i, ax in enumerate(fig.axes) if ax.get_title()]
    texts += [("figure text", t) for t in fig.texts if t.get_text()]
    boxes = [(name, t.get_window_extent(renderer), t) for name, t in texts]
    panels = [(f"panel {i}", ax.get_window_extent(renderer), ax) for i, ax in enumerate(fig.axes)]
    panels += [
        (f"panel {i} labels", ax.get_tightbbox(renderer, bbox_extra_artists=[]), ax)
        for i, ax in enumerate(fig.axes)
    ]
    found = []
    edge = fig.bbox
    for i, (name, box, text) in enumerate(boxes):
        if box.x0 < edge.x0 - 0.5 or box.x1 > edge.x1 + 0.5 or box.y1 > edge.y1 + 0.5:
            found.append((name, "the figure's edge"))
        for other, other_box, _ in boxes[i + 1 :]:
            if _overlap(box, other_box):
                found.append((name, other))
        for other, other_box, ax in panels:
            if ax.title is text:
                continue  # a panel's own title sits in its own tight box
            if _overlap(box, other_box):
                found.append((name, other))
    return found


def test_the_collision_check_finds_overlapping_titles():
    fig, axes = plt.subplots(2, 1, figsize=(2, 1.2))
    for ax in axes:
        ax.set_title("a two-line\ntitle")
    assert _text_collisions(fig)


def test_digit_grid_titles_clear_the_row_above_and_the_suptitle(tiny_batch):
    x, y = tiny_batch
    x, y = x.repeat(4, 1, 1, 1), y.repeat(4)
    predictions = (y + (torch.arange(len(y)) % 3 == 0).long()) % 10
    for kwargs in (
        {"predictions": predictions, "rows": 3, "cols": 10, "title": "Misclassified digits"},
        {"predictions": predictions, "rows": 2, "cols": 4},
        {"rows": 3, "cols": 10, "title": "MNIST test digits and their labels"},
        {"rows": 1, "cols": 2, "title": "a test digit and its flat-gray version at eps 0.5"},
    ):
        fig = plots.plot_digit_grid(x, y, **kwargs)
        assert _text_collisions(fig) == [], kwargs


def test_galleries_titles_do_not_overlap(random_cnn, tiny_batch):
    x, y = tiny_batch
    galleries = [
        plots.plot_image_gallery(random_cnn, x, y, [0.0, 0.3], n_images=4),
        plots.plot_adversarial_gallery(random_cnn, x, y, [0.0, 0.3], title="gallery"),
        plots.plot_adversarial_gallery(random_cnn, x, y, [0.1], eps_units="normalized"),
    ]
    for fig in galleries:
        assert _text_collisions(fig) == []


def test_a_long_caption_wraps_inside_the_figure():
    caption = "A caption that says a great deal about what is drawn. " * 4
    fig = plots.plot_accuracy_vs_eps({"m": FGSM}, caption=caption.strip())
    fig.canvas.draw()
    text = [t for t in fig.texts if t.get_text()][0]
    box = text.get_window_extent(fig.canvas.get_renderer())
    assert 0 <= box.x0 and box.x1 <= fig.bbox.x1
    assert plots.caption_of(fig) == caption.strip()  # read back as the one line it was given
    assert _text_collisions(fig) == []


# --- default captions say what is drawn ---------------------------------------------------------


def _history(adversarial):
    point = {"batch": 1, "loss": 1.0, "accuracy": 50.0}
    if adversarial:
        point["adv_accuracy"] = 20.0
    return [{"trace": [point]}]


def test_training_caption_names_the_dashed_lines_only_when_drawn():
    clean = plots.caption_of(plots.plot_training_curves({"m": _history(False)}))
    assert "dashed" not in clean and "attacked" not in clean and "colour" not in clean
    both = plots.plot_training_curves({"a": _history(False), "b": _history(True)})
    assert "dashed on the attacked batch" in plots.caption_of(both)
    assert "one colour and marker per run" in plots.caption_of(both)
    assert any(line.get_linestyle() == "--" for line in both.axes[1].get_lines())


def test_digit_grid_caption_follows_the_predictions(tiny_batch):
    x, y = tiny_batch
    plain = plots.caption_of(plots.plot_digit_grid(x, y, rows=1, cols=4))
    assert plain == "Each digit with its true label."
    right = plots.caption_of(plots.plot_digit_grid(x, y, y, rows=1, cols=4))
    assert "every prediction shown is right" in right and "vermillion" not in right
    one_wrong = y.clone()
    one_wrong[0] = (y[0] + 1) % 10
    caption = plots.caption_of(plots.plot_digit_grid(x, y, one_wrong, rows=1, cols=4))
    assert "the wrong one is in vermillion, framed and marked with" in caption
    caption = plots.caption_of(plots.plot_digit_grid(x, y, (y + 1) % 10, rows=1, cols=4))
    assert "every prediction shown is wrong" in caption


def test_accuracy_caption_names_only_what_is_drawn():
    plain = plots.caption_of(plots.plot_accuracy_vs_eps({"m": FGSM}))
    for word in ("dashed", "dotted", "dash-dot", "colour"):
        assert word not in plain
    full = plots.caption_of(
        plots.plot_accuracy_vs_eps(
            {"a": FGSM, "b": DEFENDED},
            pgd={"a": PGD},
            pgd_label="PGD-40",
            paper={"paper": fh.paper.TABLE2_BASELINE},
            ceiling=11.35,
        )
    )
    for words in ("dashed PGD-40", "dotted: the paper's", "dash-dot: the ceiling", "marker"):
        assert words in full


def test_held_out_and_gallery_captions_follow_what_is_drawn(random_cnn, tiny_batch):
    history = [{"epoch": 1, "val_score": 10.0, "val_fgsm": 40.0}]
    assert "circle" not in plots.caption_of(plots.plot_held_out({"m": history}, 0.3, 20))
    kept = [{**history[0], "kept": True}]
    assert "black circle" in plots.caption_of(plots.plot_held_out({"m": kept}, 0.3, 20))
    x, y = tiny_batch
    fig = plots.plot_image_gallery(random_cnn, x, y, [0.0], n_images=3)
    any_wrong = any(plots.WRONG_MARK in ax.get_title() for ax in fig.axes)
    assert (plots.WRONG_MARK in plots.caption_of(fig)) == any_wrong


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


# --- alt text, read from what is drawn, and show_figure ---------------------------------------


def test_alt_text_names_every_line_with_its_first_and_last_values():
    fig = plots.plot_accuracy_vs_eps(
        {"baseline": FGSM, "fgsm_at": DEFENDED}, pgd={"baseline": PGD}, ceiling=11.35
    )
    text = plots.alt_text(fig)
    assert "baseline: FGSM: from 99 at 0 to 1 at 0.8" in text
    assert "baseline: PGD: from 99 at 0 to 0 at 0.8" in text
    assert "fgsm_at: from 98 at 0 to 10 at 0.8" in text
    assert "x: eps (pixel units); y: accuracy (%)" in text
    assert "ceiling 11.35%" in text
    assert text.endswith(f"Caption: {plots.caption_of(fig)}")


def test_alt_text_counts_a_grids_panels_and_reads_their_titles(tiny_batch):
    x, y = tiny_batch
    predictions = y.clone()
    predictions[2] = (y[2] + 1) % 10
    fig = plots.plot_digit_grid(x, y, predictions, rows=2, cols=4, title="Some digits")
    text = plots.alt_text(fig)
    assert text.startswith("Figure: Some digits. 8 image panels, titled: ")
    assert f"label {int(y[0])}, pred {int(y[0])};" in text
    assert f"label {int(y[2])}, pred {int(predictions[2])} (wrong)" in text
    assert plots.WRONG_MARK not in text and "marked with a cross" in text  # read out in words
    assert "Caption: Each digit with its true label and the model's prediction" in text


def test_alt_text_gives_the_bars_values():
    fig = plots.plot_leaderboard({"pgd_at": 88.25}, fh.robustness.LEADERBOARD)
    text = plots.alt_text(fig)
    assert "this run bars: pgd_at (this run) 88.2" in text
    for row in fh.robustness.LEADERBOARD:
        assert f"{row['defence']} {plots._fmt(row['autoattack'])}" in text
    _, axes = plt.subplots(1, 4)
    probs = torch.tensor([0.05] * 9 + [0.55])
    plots.draw_attack_panels(
        axes,
        torch.zeros(1, 28, 28),
        torch.zeros(1, 28, 28),
        0.1,
        probs,
        probs.flip(0),
        1,
        perturbation_limit=0.3,
    )
    text = plots.alt_text(axes[0].figure)
    assert "original bars: 0 0.05; 1 0.05;" in text and "9 0.55" in text  # vertical: heights
    assert "adversarial (hatched) bars: 0 0.55; 1 0.05" in text


def test_alt_text_describes_heatmaps_histograms_and_surfaces():
    matrix = torch.diag(torch.full((10,), 50))
    matrix[4, 9], matrix[7, 1] = 30, 12
    text = plots.alt_text(plots.plot_flip_matrix(matrix))
    assert "500 of 542 on the diagonal" in text
    assert (
        "largest cells off the diagonal: true class 4, predicted after attack 9: 30; "
        "true class 7, predicted after attack 1: 12" in text
    )
    values = {"baseline": torch.tensor([1.0, 2.0, 3.0]), "robust": torch.tensor([4.0, 6.0])}
    text = plots.alt_text(plots.plot_histograms(values, "L2 size", "sizes"))
    assert "baseline: 3 values from 1 to 3, median 2" in text
    assert "robust: 2 values from 4 to 6, median 5" in text
    a = b = torch.linspace(-1, 1, 5)
    loss = a[:, None] ** 2 + 0.1 * b[None, :] ** 2  # lowest at the images, rising along a
    text = plots.alt_text(plots.plot_loss_surfaces({"m": (a, b, loss)}))
    assert "loss surface from 0 at (0, 0) to 1.1 at (-1, -1)" in text
    assert "0 at the images themselves; along sign(gradient) alone from 1 at -1 to 1 at 1" in text


def test_show_figure_displays_png_with_alt_then_caption_saves_and_closes(tmp_path, monkeypatch):
    import IPython.display

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda *o, **kw: shown.append((o, kw)))
    fig = plots.plot_accuracy_vs_eps({"m": FGSM})
    expected = plots.alt_text(fig)
    plots.show_figure(fig, tmp_path / "figs", "curve")
    (image, png), (markdown, _) = [(objs[0], kw) for objs, kw in shown]
    assert isinstance(image, IPython.display.Image) and image.data[:8] == b"\x89PNG\r\n\x1a\n"
    assert png == {"metadata": {"image/png": {"alt": expected}}}
    assert isinstance(markdown, IPython.display.Markdown)
    assert markdown.data == f"*{plots.caption_of(fig)}*"
    assert (tmp_path / "figs" / "curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not plt.fignum_exists(fig.number)

    shown.clear()
    fig = plots.plot_accuracy_vs_eps({"m": FGSM}, caption=None)
    plots.show_figure(fig, None, "unsaved", alt="A falling curve.")
    ((objs, kw),) = shown  # no caption: nothing but the image
    assert kw["metadata"]["image/png"]["alt"] == "A falling curve."
    assert not list(tmp_path.glob("unsaved*"))
