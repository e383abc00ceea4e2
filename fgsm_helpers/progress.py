"""Progress bars that leave their final text in a saved notebook.

``tqdm.auto`` in a Jupyter kernel draws an ipywidgets bar whose plain-text fallback is captured
when the bar is first displayed: a notebook executed headless (papermill, nbval, nbclient) and
then committed shows that fallback, "0% 0/938", frozen forever, because no front-end saved the
widget's later state. ``progress_bar`` displays the widget under a display id and, when the bar
closes, updates that display with the bar's final text: a live front-end keeps showing the
widget, a saved notebook shows "epoch 1/1: 100% 938/938 [00:46<00:00, loss=0.12]". Outside a
kernel (a terminal, pytest, the batch runner's own process) it is tqdm's ordinary text bar.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

from tqdm.std import tqdm as text_tqdm


def in_jupyter_kernel() -> bool:
    """True inside a Jupyter kernel (a live notebook or one run by papermill or nbval)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


@functools.cache
def _notebook_bar_class():
    """The notebook bar class, or None when ipywidgets is missing."""
    from IPython.display import display
    from tqdm.notebook import IProgress
    from tqdm.notebook import tqdm as notebook_tqdm

    if IProgress is None:  # tqdm found no ipywidgets
        return None

    class SavedTextNotebookBar(notebook_tqdm):
        """tqdm's notebook bar whose text fallback is updated to the final state on close."""

        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, display=False, **kwargs)
            self._handle = None
            if not self.disable:
                self._handle = display(self._bundle(), raw=True, display_id=True)
                self.displayed = True

        def _bundle(self) -> dict:
            return {
                "text/plain": str(self),
                "application/vnd.jupyter.widget-view+json": {
                    "version_major": 2,
                    "version_minor": 0,
                    "model_id": self.container.model_id,
                },
            }

        def close(self) -> None:
            if self.disable:
                return
            super().close()
            if self._handle is not None:
                self._handle.update(self._bundle(), raw=True)
                self._handle = None

    return SavedTextNotebookBar


def progress_bar(
    iterable: Iterable, total: int | None = None, desc: str = "", unit: str = "batch"
) -> text_tqdm:
    """Wrap ``iterable`` in a progress bar that stays on screen with its final text.

    In a Jupyter kernel: a widget bar, whose saved text (what GitHub and a headless run show)
    is its last state; elsewhere tqdm's text bar on stderr. Close it (or exhaust it) to record
    the final state.

    >>> for x_batch in progress_bar(batches, total=938, desc="epoch 1/1"):
    ...     step(x_batch)
    """
    if total is not None and total < 0:
        raise ValueError(f"total must be a count of at least 0; got {total}")
    bar_class = _notebook_bar_class() if in_jupyter_kernel() else None
    return (bar_class or text_tqdm)(iterable, total=total, desc=desc, unit=unit, leave=True)
