"""Tier 4: chapter 02's epsilon explorer driven in a real browser (JupyterLab in headless Chromium).

A small copy of notebook 02 is run top to bottom in a throwaway JupyterLab; then the eps slider is
moved with the keyboard, and the one explorer figure and the adversarial prediction must follow.
Skipped when Chromium or playwright is missing, unless FGSM_REQUIRE_BROWSER=1 (CI), where that
fails instead. Screenshots go to tests/artifacts/.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import psutil
import pytest
from browser_support import (
    CHROMIUM,
    CHROMIUM_FLAGS,
    JupyterLab,
    browser_unavailable_reason,
    image_bytes,
    prepare_notebook,
    run_all_cells,
    wait_for_all_cells,
    wait_for_kernel_idle,
    wait_until,
)

import fgsm_helpers as fh

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "notebooks" / "02_fgsm_attack.ipynb"
ARTIFACTS = REPO / "tests" / "artifacts"

SEED, TRAIN_SUBSET, TEST_SUBSET, EXPLORER_IMAGES = 0, 2000, 200, 20
INDEX, EPS_START, EPS_END, EPS_STEP = 0, 0.1, 0.5, 0.01

# Console errors that say nothing about the explorer: a favicon the server lacks, and resources
# outside 127.0.0.1 that cannot load offline (the Colab badge image in the notebook's first
# markdown cell: net::ERR_NAME_NOT_RESOLVED). Everything else logged as an error fails the test.
CONSOLE_NOISE = [
    re.compile(r"favicon", re.IGNORECASE),
    re.compile(
        r"^console: Failed to load resource: net::ERR_\w+ \(at https?://(?!127\.0\.0\.1[:/])"
    ),
]


@pytest.fixture(scope="module")
def chromium_path() -> Path:
    reason = browser_unavailable_reason()
    if reason:
        if os.environ.get("FGSM_REQUIRE_BROWSER") == "1":
            pytest.fail(f"FGSM_REQUIRE_BROWSER=1 but the browser tier cannot run: {reason}")
        pytest.skip(reason)
    return CHROMIUM


@pytest.fixture()
def notebook_dir(tmp_path) -> Path:
    folder = tmp_path / "notebooks"
    folder.mkdir()
    return folder


@pytest.fixture()
def lab(chromium_path, notebook_dir, tmp_path, data_dir):
    """JupyterLab serving notebook_dir, launched first so that it boots while the model loads."""
    server = JupyterLab(
        notebook_dir,
        tmp_path / "jupyter",
        {"FGSM_DATA_DIR": str(data_dir)},
        tmp_path / "jupyterlab.log",
    )
    try:
        server.start()
        yield server
    finally:
        server.stop()
    leftovers = server.leftover_processes()
    assert not leftovers, f"JupyterLab left processes behind: {leftovers}"


@pytest.fixture()
def small_run(notebook_dir, tmp_path, data_dir, request):
    """Notebook 02 with small parameters in notebook_dir, its baseline checkpoint already in place,
    and the adversarial predictions the explorer must show, computed here without any widget.

    The checkpoint is trained once and kept in pytest's cache (fh.zoo.get retrains it when the
    recipe changes); the notebook gets a copy in its own temporary CHECKPOINT_DIR."""
    cache = getattr(request.config, "cache", None)  # None under -p no:cacheprovider
    cache = Path(cache.mkdir("fgsm_browser_checkpoints")) if cache else tmp_path
    model = fh.zoo.get(
        "baseline", cache, data_dir=data_dir, seed=SEED, train_subset=TRAIN_SUBSET, progress=False
    ).model
    checkpoint_dir = tmp_path / "checkpoints"
    checkpoint_dir.mkdir()
    shutil.copy2(cache / "baseline.pt", checkpoint_dir / "baseline.pt")
    x_test, y_test = fh.load_mnist("test", data_dir, subset=TEST_SUBSET, seed=SEED)
    image, label = x_test[INDEX : INDEX + 1], y_test[INDEX : INDEX + 1]
    expected = {
        eps: int(fh.predict_proba(model, fh.fgsm(model, image, label, eps)).argmax())
        for eps in (EPS_START, EPS_END)
    }
    assert expected[EPS_START] != expected[EPS_END], (
        f"test image {INDEX} does not flip between eps {EPS_START} and {EPS_END} ({expected}): pick another"
    )
    notebook = prepare_notebook(
        NOTEBOOK,
        notebook_dir,
        {
            "SEED": SEED,
            "EPOCHS": 1,
            "TRAIN_SUBSET": TRAIN_SUBSET,
            "TEST_SUBSET": TEST_SUBSET,
            "EXPLORER_IMAGES": EXPLORER_IMAGES,
            "EPS_CURVE": [0.0, 0.1, 0.2, 0.3],
            "DATA_DIR": str(data_dir),
            "DOWNLOAD": False,
            "CHECKPOINT_DIR": str(checkpoint_dir),
            "OUTPUT_DIR": str(tmp_path / "outputs"),
            "DEVICE": "cpu",
        },
    )
    return notebook, expected


@pytest.fixture()
def browser(chromium_path):
    from playwright.sync_api import sync_playwright

    already_running = {
        proc.pid for proc in psutil.Process().children(recursive=True)
    }  # e.g. JupyterLab
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(chromium_path), args=CHROMIUM_FLAGS, headless=True
        )
        started = [
            proc
            for proc in psutil.Process().children(recursive=True)
            if proc.pid not in already_running
        ]
        try:
            yield chromium
        finally:
            chromium.close()
    # The driver and Chromium are gone once playwright stops; kill any that are not.
    _, alive = psutil.wait_procs(started, timeout=10)
    for proc in alive:
        proc.kill()
    assert not alive, (
        f"Chromium or the playwright driver outlived the test: {[p.pid for p in alive]}"
    )


def _adv_prediction(page) -> int:
    return int(page.locator(".fgsm-explorer-status .adv-pred").inner_text())


def test_eps_slider_rerenders_the_explorer(lab, browser, small_run):
    notebook, expected = small_run
    lab.wait_until_ready()
    ARTIFACTS.mkdir(exist_ok=True)
    shots = {name: ARTIFACTS / f"explorer_{name}.png" for name in ("before", "after", "failure")}
    for path in shots.values():
        path.unlink(missing_ok=True)

    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    console_errors: list[str] = []
    page.on(
        "console",
        lambda message: (
            console_errors.append(
                f"console: {message.text} (at {message.location.get('url') or 'unknown'})"
            )
            if message.type == "error"
            else None
        ),
    )
    page.on("pageerror", lambda error: console_errors.append(f"page error: {error}"))
    try:
        page.goto(lab.url(f"lab/tree/{notebook.name}"), timeout=120_000)
        page.wait_for_function(
            "() => !!(window.jupyterapp && window.jupyterapp.shell.currentWidget"
            " && window.jupyterapp.shell.currentWidget.sessionContext)",
            timeout=120_000,
        )
        wait_for_kernel_idle(page, timeout=120)
        lab.remember_descendants()
        run_all_cells(page)
        wait_for_all_cells(page, timeout=240)

        figure = page.locator(".fgsm-explorer-figure")
        figure.first.wait_for(state="visible", timeout=60_000)
        status = page.locator(".fgsm-explorer-status")
        explorer = page.locator(".jp-OutputArea-output", has=figure)
        assert figure.count() == 1, f"{figure.count()} explorer figures on the page"
        assert f"eps = {EPS_START:.2f}" in status.inner_text()
        assert page.get_by_text("Error displaying widget").count() == 0
        src_before, png_before = figure.get_attribute("src"), image_bytes(figure)
        adv_before = _adv_prediction(page)
        assert png_before.startswith(b"\x89PNG"), "the explorer image is not a PNG"
        assert adv_before == expected[EPS_START], f"browser shows {adv_before}, expected {expected}"
        explorer.screenshot(path=shots["before"])

        eps_slider = page.locator(
            ".widget-hslider", has=page.locator(".widget-label", has_text=re.compile(r"^eps$"))
        )
        handle = eps_slider.locator(".noUi-handle")
        handle.focus()
        for _ in range(round((EPS_END - EPS_START) / EPS_STEP)):
            handle.press("ArrowRight")
        readout = eps_slider.locator(".widget-readout")
        assert wait_until(
            page, lambda: readout.inner_text().strip() == f"{EPS_END:.2f}", timeout=30
        ), f"the eps slider reads {readout.inner_text()!r} after the key presses, not {EPS_END:.2f}"
        # The kernel answers each step with a new PNG and status; wait for the last one.
        rerendered = wait_until(
            page,
            lambda: (
                f"eps = {EPS_END:.2f}" in status.inner_text()
                and figure.get_attribute("src") != src_before
            ),
            timeout=60,
        )
        adv_after, png_after = _adv_prediction(page), image_bytes(figure)
        explorer.screenshot(path=shots["after"])

        assert rerendered and png_after != png_before, (
            f"the explorer did not re-render after the slider moved to {EPS_END:.2f}: "
            f"PNG {'unchanged' if png_after == png_before else 'changed'}, status {status.inner_text()!r}"
        )
        assert adv_after != adv_before, (
            f"adversarial prediction stayed {adv_before} from eps {EPS_START} to {EPS_END}"
        )
        assert adv_after == expected[EPS_END], f"browser shows {adv_after}, expected {expected}"
        assert figure.count() == 1, (
            f"{figure.count()} explorer figures after the move: one should update in place"
        )
        # The units switch: the same slider value, now read as a normalized eps (x 0.3081).
        src_pixel = figure.get_attribute("src")
        page.locator(".widget-toggle-buttons .widget-toggle-button", has_text="normalized").click()
        in_pixels = f"eps = {EPS_END:.2f} normalized = {EPS_END * fh.MNIST_STD:.3f} pixel"
        switched = wait_until(
            page,
            lambda: in_pixels in status.inner_text() and figure.get_attribute("src") != src_pixel,
            timeout=60,
        )
        assert switched, f"the units switch did not re-read eps: status {status.inner_text()!r}"
        assert page.get_by_text("Error displaying widget").count() == 0
        errors = [
            text
            for text in console_errors
            if not any(noise.search(text) for noise in CONSOLE_NOISE)
        ]
        assert not errors, f"JavaScript errors in the console: {errors}"
    except BaseException:
        page.screenshot(path=shots["failure"], full_page=True)
        print(
            f"screenshot of the failing page: {shots['failure']}\nconsole errors: {console_errors}\n"
            f"JupyterLab log:\n{lab.log_tail()}"
        )
        raise
    finally:
        print("screenshots:", *(str(path) for path in shots.values() if path.exists()))
