"""Files that are never half-written: every JSON and checkpoint the package saves goes through
:func:`write_atomic`, so an interruption leaves the old file or the new one, never a mix."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def write_atomic(path: str | os.PathLike, write: Callable[[str], None]) -> Path:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it over ``path``
    (``os.replace`` is atomic on one file system). A failure removes the temporary file and
    leaves ``path`` as it was. The file gets the usual permissions (the umask's), not
    ``mkstemp``'s private ones.

    >>> write_atomic("out/model.pt", lambda tmp: torch.save(state, tmp))
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    umask = os.umask(0)
    os.umask(umask)
    try:
        os.chmod(tmp, 0o666 & ~umask)
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` atomically (see :func:`write_atomic`)."""
    return write_atomic(path, lambda tmp: Path(tmp).write_text(text))


def write_json_atomic(path: str | os.PathLike, data) -> Path:
    """Write ``data`` as indented JSON (one space, a final newline) to ``path`` atomically.

    >>> write_json_atomic("study.json", {"runs": []})
    """
    return write_text_atomic(path, json.dumps(data, indent=1) + "\n")
