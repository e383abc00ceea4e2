"""Helpers for the browser tier: a throwaway JupyterLab server and a notebook driven in Chromium.

What made runs flaky until fixed (see NOTEBOOK-FACTS.md, "Widgets, tested three ways"):
- a "Select Kernel" dialog: the temporary settings turn on ``autoStartDefaultKernel``;
- ``?reset`` in the URL drops "run all": the URL never has it;
- awaiting ``commands.execute(...)`` can hang: "run all" is fired and the page is polled;
- "run all" sent as the kernel first goes idle is sometimes dropped: it is sent again until
  the first code cell's prompt changes.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil

CHROMIUM = Path("/usr/bin/chromium")
# Chromium's own flags that keep it off the network (nothing outside is reachable anyway).
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# User settings JupyterLab reads from JUPYTERLAB_SETTINGS_DIR. "windowingMode": "none" keeps
# every cell in the DOM, so the page holds the explorer even when it is scrolled out of view.
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {
        "autoStartDefaultKernel": True,
        "windowingMode": "none",
    },
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
}


def browser_unavailable_reason() -> str | None:
    """Why the browser tier cannot run here, or None when Chromium and playwright are present."""
    if not CHROMIUM.is_file():
        return f"{CHROMIUM} not found (apt-get install -y chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as err:
        return f"playwright is not installed ({err}); pip install playwright (never `playwright install`)"
    return None


def prepare_notebook(source: Path, folder: Path, overrides: dict) -> Path:
    """Copy ``source`` into ``folder`` with its outputs cleared and ``overrides`` appended to the
    cell tagged ``parameters`` (appended, so parameters added later keep their defaults)."""
    notebook = json.loads(source.read_text(encoding="utf-8"))
    parameter_cells = [
        cell
        for cell in notebook["cells"]
        if "parameters" in cell.get("metadata", {}).get("tags", [])
    ]
    if len(parameter_cells) != 1:
        raise ValueError(
            f"{source.name}: expected one cell tagged 'parameters', found {len(parameter_cells)}"
        )
    cell = parameter_cells[0]
    text = "".join(cell["source"]).rstrip("\n")
    text += "\n# browser test: a small run\n" + "".join(
        f"{name} = {value!r}\n" for name, value in overrides.items()
    )
    cell["source"] = text.splitlines(keepends=True)
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
    notebook["metadata"].pop("widgets", None)
    target = folder / source.name
    target.write_text(json.dumps(notebook, indent=1), encoding="utf-8")
    return target


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_lab_settings(settings_dir: Path) -> None:
    for relative, values in LAB_SETTINGS.items():
        path = settings_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values), encoding="utf-8")


class JupyterLab:
    """JupyterLab serving ``root`` on 127.0.0.1 with a random port and token, no browser of its own.

    Its config, runtime, settings and workspace folders live under ``state_dir``; the kernel is
    the venv's ``python3`` (jupyter_client runs ``python`` as the server's own interpreter) and
    inherits ``env``. ``stop()`` ends the server, its kernels (they run in sessions of their own,
    so killing the server's process group alone would leave them behind) and anything they started.
    """

    def __init__(self, root: Path, state_dir: Path, env: dict[str, str], log_path: Path) -> None:
        self.root, self.state_dir, self.log_path = root, state_dir, log_path
        self.port, self.token = free_port(), secrets.token_hex(16)
        self.env = {**os.environ, **env}
        settings_dir = state_dir / "lab-settings"
        write_lab_settings(settings_dir)
        self.env.update(
            {
                "JUPYTERLAB_SETTINGS_DIR": str(settings_dir),
                "JUPYTERLAB_WORKSPACES_DIR": str(state_dir / "lab-workspaces"),
                "JUPYTER_CONFIG_DIR": str(state_dir / "config"),
                "JUPYTER_RUNTIME_DIR": str(state_dir / "runtime"),
            }
        )
        self.process: subprocess.Popen | None = None
        self._descendants: dict[int, psutil.Process] = {}

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}?token={self.token}"

    def start(self) -> None:
        """Launch the server without waiting for it (it boots while the caller does other work)."""
        command = [
            sys.executable,
            "-m",
            "jupyter",
            "lab",
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.root}",
            "--LabApp.expose_app_in_browser=True",
            "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            "--LabApp.extension_manager=readonly",  # the "pypi" one would query PyPI
        ]
        if os.geteuid() == 0:  # containers and CI runners often run as root
            command.append("--allow-root")
        self._log = self.log_path.open("w", encoding="utf-8")
        self.process = subprocess.Popen(
            command,
            cwd=self.root,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_until_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"JupyterLab exited with {self.process.returncode}:\n{self.log_tail()}"
                )
            try:
                with urllib.request.urlopen(self.url("api/status"), timeout=5) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.5)
        raise TimeoutError(f"JupyterLab did not answer within {timeout} s:\n{self.log_tail()}")

    def remember_descendants(self) -> None:
        """Note every process the server has started so far (its kernels), to end them in stop()."""
        if self.process is None:
            return
        try:
            for child in psutil.Process(self.process.pid).children(recursive=True):
                self._descendants[child.pid] = child
        except psutil.NoSuchProcess:
            pass

    def stop(self, timeout: float = 20) -> None:
        if self.process is None:
            return
        self.remember_descendants()
        if self.process.poll() is None:
            # The polite way first: the server shuts its kernels down and exits.
            try:
                request = urllib.request.Request(self.url("api/shutdown"), method="POST")
                urllib.request.urlopen(request, timeout=10).close()
            except (urllib.error.URLError, OSError):
                pass
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        if self.process.poll() is None:
            _signal_group(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                _signal_group(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        # Kernels (each the leader of its own session) and anything they started.
        survivors = [proc for proc in self._descendants.values() if _alive(proc)]
        for proc in survivors:
            _signal_group(proc.pid, signal.SIGKILL)
            try:
                proc.kill()
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs(survivors, timeout=10)
        self._log.close()
        self.process = None

    def leftover_processes(self) -> list[str]:
        """Processes of this server still running (after stop(): should be none)."""
        return [
            f"{proc.pid} {' '.join(proc.cmdline())[:120]}"
            for proc in self._descendants.values()
            if _alive(proc)
        ]

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(
                self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
            )
        except OSError:
            return "(no log)"


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


# --- driving the notebook page ------------------------------------------------------------

_KERNEL_IDLE_JS = """() => {
    const panel = window.jupyterapp && window.jupyterapp.shell.currentWidget;
    const kernel = panel && panel.sessionContext && panel.sessionContext.session
        && panel.sessionContext.session.kernel;
    return !!kernel && kernel.connectionStatus === 'connected' && kernel.status === 'idle';
}"""

# Read from the notebook's model, not the page: a collapsed cell (jupyter.source_hidden, the
# setup cell's) draws no input prompt.
_FIRST_PROMPT_JS = """() => {
    const panel = window.jupyterapp.shell.currentWidget;
    const cell = panel.content.widgets.find(cell => cell.model.type === 'code');
    const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
    return cell ? `${cell.model.executionCount}|${kernel ? kernel.status : 'none'}` : null;
}"""

_RUN_STATE_JS = """() => {
    const panel = window.jupyterapp.shell.currentWidget;
    const cells = panel.content.widgets.filter(cell => cell.model.type === 'code');
    const errors = [];
    for (const cell of cells) {
        for (const output of cell.model.outputs.toJSON()) {
            if (output.output_type === 'error') {
                errors.push(`${output.ename}: ${output.evalue}`);
            }
        }
    }
    const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
    return {
        total: cells.length,
        done: cells.filter(cell => {
            const prompt = cell.node.querySelector('.jp-InputPrompt');
            return cell.model.executionCount !== null
                && !(prompt && prompt.textContent.includes('*'));
        }).length,
        idle: !!kernel && kernel.status === 'idle',
        errors: errors,
    };
}"""


def wait_for_kernel_idle(page, timeout: float = 120) -> None:
    page.wait_for_function(_KERNEL_IDLE_JS, timeout=timeout * 1000, polling=250)


def run_all_cells(page, attempts: int = 8, wait_per_attempt: float = 8) -> None:
    """Fire "run all" (never awaited) until the first code cell's execution count or the
    kernel's status shows it started."""
    before = page.evaluate(_FIRST_PROMPT_JS)
    for _ in range(attempts):
        page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
        deadline = time.monotonic() + wait_per_attempt
        while time.monotonic() < deadline:
            if page.evaluate(_FIRST_PROMPT_JS) != before:
                return
            page.wait_for_timeout(250)
    raise TimeoutError(
        f"'run all' never started: the first prompt stayed {before!r} after {attempts} tries"
    )


def wait_for_all_cells(page, timeout: float = 240) -> dict:
    """Poll until every code cell has run and the kernel is idle; raise on an error output."""
    deadline = time.monotonic() + timeout
    state: dict = {}
    while time.monotonic() < deadline:
        state = page.evaluate(_RUN_STATE_JS)
        if state["errors"]:
            raise AssertionError("a notebook cell failed: " + "; ".join(state["errors"]))
        if state["done"] == state["total"] and state["idle"]:
            return state
        page.wait_for_timeout(500)
    raise TimeoutError(f"the notebook did not finish within {timeout} s: {state}")


def wait_until(page, condition, timeout: float, interval: float = 0.25) -> bool:
    """Poll ``condition()`` until it holds (True) or ``timeout`` seconds pass (False), letting the
    page dispatch its events in between; the caller asserts with a message that says what is wrong."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        page.wait_for_timeout(interval * 1000)
    return True


_IMAGE_BYTES_JS = """async (img) => {
    const response = await fetch(img.src);
    const bytes = new Uint8Array(await response.arrayBuffer());
    let text = '';
    for (let i = 0; i < bytes.length; i += 8192) {
        text += String.fromCharCode.apply(null, bytes.subarray(i, i + 8192));
    }
    return btoa(text);
}"""


def image_bytes(image_locator) -> bytes:
    """The bytes an <img> shows (ipywidgets serves its PNG through a blob: URL)."""
    import base64

    return base64.b64decode(image_locator.evaluate(_IMAGE_BYTES_JS))
