"""Packaging: pyproject.toml is the one list of dependencies, and it covers what the code imports.

requirements.txt and environment.yml install from pyproject's extras instead of restating them;
torchattacks is capped below 3.4 (3.4+ pins requests~=2.25.1); requirements-lock.txt records the
exact versions installed here; the version is written once, in ``fgsm_helpers.__version__``.
"""

from __future__ import annotations

import ast
import importlib.metadata as metadata
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

import fgsm_helpers
from fgsm_helpers import badges

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]
EXTRAS = PROJECT["optional-dependencies"]
LOCK_FILE = REPO / "requirements-lock.txt"
# An editable install of this repository with some of its extras, e.g. `-e .[notebooks,test]`.
EDITABLE_INSTALL = re.compile(r"^-e \.\[([a-z,]+)\]$")


def declared(*extras: str) -> list[Requirement]:
    """The runtime requirements plus those of ``extras``, self-references (``pkg[x]``) expanded."""
    requirements = [Requirement(text) for text in PROJECT["dependencies"]]
    pending, seen = list(extras), set()
    while pending:
        extra = pending.pop()
        if extra in seen:
            continue
        seen.add(extra)
        for text in EXTRAS[extra]:
            requirement = Requirement(text)
            if canonicalize_name(requirement.name) == canonicalize_name(PROJECT["name"]):
                pending.extend(requirement.extras)
            else:
                requirements.append(requirement)
    return requirements


def installed_closure(requirements: list[Requirement]) -> set[str]:
    """Names of the installed distributions ``requirements`` pull in, dependencies included."""
    names: set[str] = set()
    pending = [(requirement, "") for requirement in requirements]
    while pending:
        requirement, extra = pending.pop()
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": extra}):
            continue
        name = canonicalize_name(requirement.name)
        if name in names:
            continue
        try:
            dependencies = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue  # declared but not installed here: the import check reports what is missing
        names.add(name)
        for text in dependencies:
            for wanted_extra in [""] + sorted(requirement.extras):
                pending.append((Requirement(text), wanted_extra))
    return names


def is_import_call(node: ast.AST) -> bool:
    """``pytest.importorskip("name")`` or ``importlib.import_module("name")``: an import too."""
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in ("importorskip", "import_module")
        and bool(node.args)
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
        and not node.args[0].value.startswith(".")
    )


def imported_modules(tree: ast.AST) -> list[str]:
    """Top-level names of the modules ``tree`` imports, standard library included (import
    statements, ``pytest.importorskip`` and ``importlib.import_module`` calls)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules = [node.module]
        elif is_import_call(node):
            modules = [node.args[0].value]
        else:
            continue
        found += [module.split(".")[0] for module in modules]
    return found


def third_party_imports(folder: Path, skip: frozenset[str] = frozenset()) -> dict[str, str]:
    """Top-level modules imported anywhere in ``folder``'s .py files (but the files named in
    ``skip``) -> one file importing it.

    The standard library, relative imports, the package itself and modules that live in the
    folder (``common``, ``browser_support``) are left out.
    """
    local = {path.stem for path in folder.glob("*.py")} | {"fgsm_helpers"}
    found: dict[str, str] = {}
    for path in sorted(folder.glob("*.py")):
        if path.name in skip:
            continue
        for top in imported_modules(ast.parse(path.read_text(), filename=str(path))):
            if top not in sys.stdlib_module_names and top not in local:
                found.setdefault(top, path.name)
    return found


def notebook_imports() -> dict[str, str]:
    """Top-level third-party modules the chapters' code cells import -> one chapter importing
    it (IPython's ``%`` and ``!`` lines left out)."""
    found: dict[str, str] = {}
    for path in sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        for cell in json.loads(path.read_text())["cells"]:
            if cell["cell_type"] != "code":
                continue
            lines = "".join(cell["source"]).splitlines()
            source = "\n".join(line for line in lines if not line.lstrip().startswith(("%", "!")))
            for top in imported_modules(ast.parse(source, filename=path.name)):
                if top not in sys.stdlib_module_names and top != "fgsm_helpers":
                    found.setdefault(top, path.name)
    return found


def lock_pins() -> dict[str, str]:
    pins = {}
    for line in LOCK_FILE.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, separator, version = line.partition("==")
            assert separator, f"requirements-lock.txt: {line!r} is not an exact pin (name==version)"
            pins[canonicalize_name(name)] = version
    return pins


def uncovered(imports: dict[str, str], extras: tuple[str, ...]) -> list[str]:
    """One line for each of ``imports`` (module -> where) that the runtime dependencies and
    ``extras`` do not bring, directly or through their dependencies."""
    providers = metadata.packages_distributions()
    requirements = declared(*extras)
    covered = installed_closure(requirements)
    problems = []
    for module, where in sorted(imports.items()):
        distributions = {canonicalize_name(name) for name in providers.get(module, [])}
        if not distributions:
            # Not installed here (e.g. playwright in a venv with only [test]): it must then be
            # declared under its own name.
            if canonicalize_name(module) not in {canonicalize_name(r.name) for r in requirements}:
                problems.append(
                    f"{module} (imported in {where}) is neither installed nor "
                    f"declared by pyproject's {' + '.join(extras)} extras"
                )
        elif not distributions & covered:
            problems.append(
                f"{module} (imported in {where}, from {sorted(distributions)}) is not "
                f"declared by pyproject's {' + '.join(extras)} extras, directly or through them"
            )
    return problems


@pytest.mark.parametrize(
    "folder, extras",
    [("tests", ("test", "browser")), ("benchmarks", ("bench",)), ("scripts", ("notebooks",))],
)
def test_extras_cover_every_import(folder, extras):
    imports = {
        module: f"{folder}/{where}" for module, where in third_party_imports(REPO / folder).items()
    }
    problems = uncovered(imports, extras)
    assert not problems, "\n".join(problems)


def test_the_setup_cell_installs_what_the_chapters_import():
    """A chapter opened from its Colab badge has what the setup cell installs: the runtime
    dependencies and ``badges.SETUP_EXTRAS``. They must bring every module the chapters import
    and every one the package imports, but the batch runner's (no chapter calls it)."""
    imports = {
        module: f"fgsm_helpers/{where}"
        for module, where in third_party_imports(
            REPO / "fgsm_helpers", skip=frozenset({"runner.py"})
        ).items()
    }
    for module, where in notebook_imports().items():
        imports.setdefault(module, f"notebooks/{where}")
    assert {"torch", "torchattacks"} <= set(imports)  # the scan sees chapter 05's import
    imports.pop("google")  # google.colab: imported only in Colab, which provides it
    problems = uncovered(imports, badges.SETUP_EXTRAS)
    assert not problems, "\n".join(problems)


def test_import_scan_sees_the_known_third_party_imports():
    assert {"torch", "pytest", "torchattacks", "psutil", "playwright"} <= set(
        third_party_imports(REPO / "tests")
    )
    assert {"torch", "psutil"} <= set(third_party_imports(REPO / "benchmarks"))


def test_requirements_txt_installs_from_pyproject():
    lines = [
        line.strip()
        for line in (REPO / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert len(lines) == 1, f"requirements.txt should only install the package; found {lines}"
    match = EDITABLE_INSTALL.match(lines[0])
    assert match, f"expected `-e .[extra,...]`, found {lines[0]!r}"
    assert set(match.group(1).split(",")) <= set(EXTRAS)
    assert {"notebooks", "test"} <= set(match.group(1).split(","))


def test_environment_yml_installs_from_pyproject():
    environment = yaml.safe_load((REPO / "environment.yml").read_text())
    conda_packages = [item for item in environment["dependencies"] if isinstance(item, str)]
    pip_sections = [item["pip"] for item in environment["dependencies"] if isinstance(item, dict)]
    assert sorted(name.split("=")[0] for name in conda_packages) == ["pip", "python"]
    assert len(pip_sections) == 1 and len(pip_sections[0]) == 1, pip_sections
    match = EDITABLE_INSTALL.match(pip_sections[0][0])
    assert match, f"expected `-e .[extra,...]` under pip:, found {pip_sections[0][0]!r}"
    assert set(match.group(1).split(",")) <= set(EXTRAS)


def test_torchattacks_is_capped_below_3_4_wherever_it_is_declared():
    declarations = [
        (extra, Requirement(text))
        for extra, texts in EXTRAS.items()
        for text in texts
        if canonicalize_name(Requirement(text).name) == "torchattacks"
    ]
    assert "robust" in {extra for extra, _ in declarations}
    for extra in ("test", "bench"):  # through fgsm_helpers[robust]
        names = {canonicalize_name(requirement.name) for requirement in declared(extra)}
        assert {"torchattacks", "scipy"} <= names, f"[{extra}] must bring torchattacks and scipy"
    for extra, requirement in declarations:
        assert "3.3.0" in requirement.specifier, f"[{extra}] must allow torchattacks 3.3"
        for version in ("3.4.0", "3.5.1"):
            assert version not in requirement.specifier, (
                f"[{extra}] allows torchattacks {version}, which requires requests~=2.25.1"
            )
        texts = {canonicalize_name(Requirement(text).name) for text in EXTRAS[extra]}
        assert "scipy" in texts, (
            f"[{extra}]: torchattacks 3.3 imports scipy but does not declare it"
        )


def test_installed_torchattacks_does_not_pull_requests_down():
    requirements = [Requirement(text) for text in metadata.requires("torchattacks") or []]
    assert Version(metadata.version("torchattacks")) < Version("3.4")
    assert "requests" not in {canonicalize_name(requirement.name) for requirement in requirements}


def test_lock_file_pins_torchattacks_3_3_and_the_installed_torch():
    pins = lock_pins()
    assert Version(pins["torchattacks"]).release[:2] == (3, 3)
    assert "fgsm-helpers" not in pins, "the lock file holds third-party versions only"
    installed = metadata.version("torch")
    if pins["torch"] != installed and Path(sys.prefix).resolve() != (REPO / ".venv").resolve():
        pytest.skip(
            f"torch {installed} here, {pins['torch']} in the lock: the lock records the "
            "repository's .venv, and this is another environment"
        )
    assert pins["torch"] == installed, (
        "requirements-lock.txt and .venv disagree on torch; regenerate the lock with "
        "`.venv/bin/python -m pip freeze --exclude-editable > requirements-lock.txt`"
    )


def test_lock_file_satisfies_every_declared_range():
    pins = lock_pins()
    problems = []
    for requirement in declared(*EXTRAS):
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue  # not for this Python
        name = canonicalize_name(requirement.name)
        if name not in pins:
            problems.append(f"{name} is declared but not pinned")
        elif pins[name] not in requirement.specifier:
            problems.append(f"{name}=={pins[name]} is outside {requirement}")
    assert not problems, "\n".join(problems)


def test_version_is_written_once():
    assert "version" not in PROJECT and "version" in PROJECT["dynamic"]
    attr = PYPROJECT["tool"]["setuptools"]["dynamic"]["version"]["attr"]
    assert attr == "fgsm_helpers.__version__"
    assert metadata.version("fgsm_helpers") == fgsm_helpers.__version__


def collected_notebook_items(*args: str) -> list[str]:
    """Test ids pytest collects from notebooks/ with ``args`` (collection only: nothing runs)."""
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode in (0, 5), result.stdout[-2000:] + result.stderr[-2000:]
    return [line for line in result.stdout.splitlines() if ".ipynb::" in line]


def test_plain_pytest_does_not_collect_notebooks():
    addopts = PYPROJECT["tool"]["pytest"]["ini_options"]["addopts"].split()
    assert not {"--nbval", "--nbval-lax"} & set(addopts), "nbval's mode is the caller's choice"
    assert collected_notebook_items("notebooks") == []
    assert collected_notebook_items("notebooks", "--nbval-lax")  # and collected when asked for


def test_requires_python_is_what_ci_tests():
    """The oldest Python the package admits is one CI runs (3.11: the .venv), and the code may
    use what that Python has (tomllib, zip(strict=...))."""
    assert PROJECT["requires-python"] == ">=3.11"
    assert PYPROJECT["tool"]["ruff"]["target-version"] == "py311"
    ci = (REPO / ".ci" / "run").read_text()
    assert "3.12" in ci
