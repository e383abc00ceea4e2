"""The Colab twin's pip report check (``.ci/check_pip_report.py``) on fake pip reports: a new
package passes; upgrading, downgrading or reinstalling a package Colab ships fails, naming it."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

CI = Path(__file__).resolve().parents[1] / ".ci"
_spec = importlib.util.spec_from_file_location("check_pip_report", CI / "check_pip_report.py")
check_pip_report = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check_pip_report)

COLAB = "# Colab's versions\ntorch==2.11.0\nrequests==2.32.4  # comment\n\njupyter_client==7.4.9\n"


def _item(name: str, version: str) -> dict:
    """One entry of a pip report's ``install`` list, with the fields the check reads."""
    return {
        "download_info": {"url": f"https://files.example/{name}-{version}-py3-none-any.whl"},
        "is_direct": False,
        "requested": True,
        "metadata": {"metadata_version": "2.1", "name": name, "version": version},
    }


def _run(tmp_path, *items: dict, capsys) -> tuple[int, str]:
    report, versions = tmp_path / "report.json", tmp_path / "colab-versions.txt"
    report.write_text(json.dumps({"version": "1", "pip_version": "24.1.2", "install": items}))
    versions.write_text(COLAB)
    code = check_pip_report.main([str(report), str(versions)])
    return code, capsys.readouterr().out


def test_a_new_package_passes(tmp_path, capsys):
    code, out = _run(
        tmp_path, _item("torchattacks", "3.3.0"), _item("fgsm_helpers", "0.9.0"), capsys=capsys
    )
    assert code == 0, out
    assert "passed" in out and "torchattacks 3.3.0" in out and "fgsm_helpers 0.9.0" in out


def test_nothing_to_install_passes(tmp_path, capsys):
    code, out = _run(tmp_path, capsys=capsys)
    assert code == 0 and "nothing to install" in out


def test_an_upgrade_of_torch_fails(tmp_path, capsys):
    code, out = _run(
        tmp_path, _item("torchattacks", "3.3.0"), _item("torch", "2.12.0"), capsys=capsys
    )
    assert code == 1
    assert "FAIL" in out
    assert "torch: Colab's 2.11.0 would be upgraded to 2.12.0" in out
    assert "torchattacks" not in out  # the new package is not a problem


def test_a_downgrade_fails_and_every_replacement_is_named(tmp_path, capsys):
    code, out = _run(
        tmp_path,
        _item("requests", "2.25.1"),  # what torchattacks 3.4+ would do (requests~=2.25.1)
        _item("Jupyter-Client", "8.6.0"),  # names compare as pip does: case, - and _ alike
        capsys=capsys,
    )
    assert code == 1
    assert "requests: Colab's 2.32.4 would be downgraded to 2.25.1" in out
    assert "Jupyter-Client: Colab's 7.4.9 would be upgraded to 8.6.0" in out
    assert "2 package(s)" in out


def test_a_reinstall_of_the_same_version_fails(tmp_path, capsys):
    code, out = _run(tmp_path, _item("torch", "2.11.0"), capsys=capsys)
    assert code == 1 and "reinstalled as 2.11.0" in out


def test_not_a_report_and_a_bad_versions_line_are_errors(tmp_path):
    with pytest.raises(ValueError, match="no 'install' list"):
        check_pip_report.check_report({"version": "1"}, {})
    bad = tmp_path / "versions.txt"
    bad.write_text("torch>=2.2\n")
    with pytest.raises(ValueError, match=r"versions.txt:1: expected name==version"):
        check_pip_report.read_versions(bad)


def test_the_committed_colab_versions_file_reads():
    pins = check_pip_report.read_versions(CI / "colab-versions.txt")
    assert pins["torch"] == "2.11.0" and pins["requests"] == "2.32.4"
    assert pins["ipywidgets"] == "7.7.1"  # Colab's widgets are still 7: the package must work there
    assert {"torchattacks", "papermill", "jupyterlab", "nbval", "playwright"}.isdisjoint(pins)
