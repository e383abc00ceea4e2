"""Fail when a pip install would replace a package that Colab ships.

Reads the report of ``pip install --dry-run --report REPORT ...`` (pip's installation report)
and the Colab versions file (``.ci/colab-versions.txt``, ``name==version`` lines). Every package
pip would install must be new to Colab: one that Colab already ships would be replaced (upgraded,
downgraded, or rebuilt at the same version), which in a Colab runtime means a download (torch:
several GB), a runtime restart, and cells running against versions Colab does not have.

    python .ci/check_pip_report.py report.json .ci/colab-versions.txt

Exit status 0 when nothing Colab ships would be replaced, 1 when something would (each named).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version


def read_versions(path: str | Path) -> dict[str, str]:
    """``{canonical name: version}`` from a file of ``name==version`` lines (``#`` comments)."""
    pins = {}
    for number, line in enumerate(Path(path).read_text().splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, separator, version = line.partition("==")
        if not separator or not name.strip() or not version.strip():
            raise ValueError(f"{path}:{number}: expected name==version, found {line!r}")
        pins[canonicalize_name(name)] = version.strip()
    return pins


def _change(shipped: str, new: str) -> str:
    try:
        shipped_version, new_version = Version(shipped), Version(new)
    except InvalidVersion:
        return "replaced by"
    if new_version > shipped_version:
        return "upgraded to"
    if new_version < shipped_version:
        return "downgraded to"
    return "reinstalled as"


def check_report(report: dict, shipped: dict[str, str]) -> tuple[list[str], list[str]]:
    """``(replacements, new packages)``: one line for each package of the report's ``install``
    list that Colab ships (a problem), and ``name version`` for each that it does not."""
    if "install" not in report:
        raise ValueError("not a pip installation report: it has no 'install' list")
    replacements, new = [], []
    for item in report["install"]:
        name, version = item["metadata"]["name"], item["metadata"]["version"]
        colab_version = shipped.get(canonicalize_name(name))
        if colab_version is None:
            new.append(f"{name} {version}")
        else:
            replacements.append(
                f"{name}: Colab's {colab_version} would be {_change(colab_version, version)} {version}"
            )
    return replacements, new


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", help="the JSON file of pip install --dry-run --report")
    parser.add_argument("versions", help="Colab's versions, name==version per line")
    args = parser.parse_args(argv)
    report = json.loads(Path(args.report).read_text())
    replacements, new = check_report(report, read_versions(args.versions))
    if replacements:
        print(
            f"FAIL: the install would replace {len(replacements)} package(s) that Colab ships:",
            *(f"  {line}" for line in replacements),
            sep="\n",
        )
        return 1
    print(
        f"pip report check passed: {len(new)} new package(s), none that Colab ships: "
        + (", ".join(new) or "nothing to install")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
