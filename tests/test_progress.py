"""Progress bars: a saved notebook shows their final text, not a frozen 0%."""

import nbformat
import pytest
from nbclient import NotebookClient
from tqdm.std import tqdm as text_tqdm

from fgsm_helpers.progress import in_jupyter_kernel, progress_bar


def test_outside_a_kernel_it_is_a_text_bar_that_stays():
    assert not in_jupyter_kernel()
    bar = progress_bar(range(3), total=3, desc="epoch 1/1", unit="batch")
    assert type(bar) is text_tqdm and bar.leave
    assert list(bar) == [0, 1, 2]
    with pytest.raises(ValueError, match="total"):
        progress_bar(range(3), total=-1)


def test_a_headless_run_saves_the_final_text(tmp_path):
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    notebook.cells = [
        nbformat.v4.new_code_cell(
            "from fgsm_helpers.progress import progress_bar\n"
            "bar = progress_bar(range(40), total=40, desc='epoch 1/1')\n"
            "for step in bar:\n"
            "    bar.set_postfix(loss=0.5, refresh=False)\n"
            "print(type(bar).__name__)"
        )
    ]
    NotebookClient(notebook, timeout=120, kernel_name="python3", resources={}).execute(
        cwd=str(tmp_path)
    )
    outputs = notebook.cells[0].outputs
    texts = [o["data"]["text/plain"] for o in outputs if o["output_type"] == "display_data"]
    assert len(texts) == 1, outputs
    assert texts[0].startswith("epoch 1/1: 100%") and "40/40" in texts[0], texts
    assert "loss=0.5" in texts[0]
    widget_views = [
        o for o in outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})
    ]
    assert widget_views, "a live front-end should still get the widget"
    assert outputs[-1]["text"].strip() == "SavedTextNotebookBar"
