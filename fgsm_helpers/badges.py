"""Colab badges and install lines, written from the notebooks' file names (never by hand).

``python -m fgsm_helpers badges --repo OWNER/NAME --ref main`` rewrites, in every notebook,
the badge in the first cell and the ``pip install git+...@REF`` line of the setup cell, and
writes ``colab_badges.md`` with one badge per notebook.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

DEFAULT_REPO = "fgsm-series/fgsm-notebooks"
DEFAULT_REF = "main"
BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"
BADGE_PATTERN = re.compile(r"\[!\[Open In Colab\]\([^)]*\)\]\([^)]*\)")
INSTALL_PATTERN = re.compile(r"git\+https://github\.com/[^\"'\s@]+(@[^\"'\s]+)?")
TARGET_PATTERN = re.compile(
    r"https://colab\.research\.google\.com/github/([^/]+/[^/]+)/blob/([^/]+)/(.+?\.ipynb)"
)


def colab_url(repo: str, ref: str, notebook: str) -> str:
    return f"https://colab.research.google.com/github/{repo}/blob/{ref}/notebooks/{notebook}"


def badge_markdown(repo: str, ref: str, notebook: str) -> str:
    return f"[![Open In Colab]({BADGE_IMAGE})]({colab_url(repo, ref, notebook)})"


def install_url(repo: str, ref: str) -> str:
    return f"git+https://github.com/{repo}@{ref}"


def _title(notebook: dict, fallback: str) -> str:
    for cell in notebook["cells"]:
        if cell["cell_type"] == "markdown":
            for line in "".join(cell["source"]).splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return fallback


def write_badges(
    root: str | Path = ".", repo: str = DEFAULT_REPO, ref: str = DEFAULT_REF
) -> list[Path]:
    """Rewrite badges and install lines in ``root/notebooks/*.ipynb`` and write
    ``root/colab_badges.md``; returns the files written."""
    if not re.fullmatch(r"[\w.-]+/[\w.-]+", repo):
        raise ValueError(f"repo must look like OWNER/NAME; got {repo!r}")
    if not re.fullmatch(r"[\w./-]+", ref):
        raise ValueError(f"ref must be a branch, tag or commit; got {ref!r}")
    root = Path(root)
    notebooks = sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    if not notebooks:
        raise FileNotFoundError(f"no notebooks in {root / 'notebooks'}")
    written, rows = [], []
    for path in notebooks:
        notebook = json.loads(path.read_text())
        badge = badge_markdown(repo, ref, path.name)
        first = notebook["cells"][0]
        text = "".join(first["source"])
        if not BADGE_PATTERN.search(text):
            raise ValueError(f"{path.name}: the first cell has no Colab badge to rewrite")
        first["source"] = BADGE_PATTERN.sub(lambda _, badge=badge: badge, text)
        for cell in notebook["cells"]:
            if cell["cell_type"] == "code" and "git+https://github.com/" in "".join(cell["source"]):
                cell["source"] = INSTALL_PATTERN.sub(
                    install_url(repo, ref), "".join(cell["source"])
                )
        path.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n")
        written.append(path)
        rows.append(f"| {path.stem[:2]} | {_title(notebook, path.stem)} | {badge} |")
    table = root / "colab_badges.md"
    table.write_text(
        "# Open the series in Google Colab\n\n"
        f"Written by `python -m fgsm_helpers badges --repo {repo} --ref {ref}`; do not edit by hand.\n"
        "Each notebook installs `fgsm_helpers` from the same repository and ref as its badge.\n\n"
        "| # | Notebook | Open |\n|---|---|---|\n" + "\n".join(rows) + "\n"
    )
    written.append(table)
    return written


def badge_targets(text: str) -> list[tuple[str, str, str]]:
    """``(repo, ref, notebook path)`` of every Colab badge link in ``text``."""
    return TARGET_PATTERN.findall(text)
