"""Licence and citation: MIT for the code, CITATION.cff for the series, the paper's reference."""

from __future__ import annotations

import importlib.metadata as metadata
from pathlib import Path

import yaml

from fgsm_helpers import paper

REPO = Path(__file__).resolve().parents[1]


def test_licence_is_mit_with_the_series_copyright():
    text = (REPO / "LICENSE").read_text()
    assert text.startswith("MIT License\n")
    assert "Copyright (c) 2026 The FGSM notebook series authors" in text
    assert metadata.metadata("fgsm_helpers")["License-Expression"] == "MIT"


def test_citation_file_cites_the_series_and_the_paper():
    citation = yaml.safe_load((REPO / "CITATION.cff").read_text())
    assert citation["cff-version"] == "1.2.0"
    assert citation["license"] == "MIT"
    assert citation["authors"] == [{"name": "The FGSM notebook series authors"}]
    (reference,) = citation["references"]
    assert " ".join(reference["title"].split()) == paper.PAPER_TITLE
    authors = [f"{a['given-names']} {a['family-names']}" for a in reference["authors"]]
    assert tuple(authors) == paper.PAPER_AUTHORS


def test_reference_names_author_and_title_in_paper_module_and_readme():
    assert paper.REFERENCE.startswith("Eunjeong Lee. Understanding Adversarial Vulnerabilities")
    assert paper.PAPER_TITLE in " ".join((paper.__doc__ or "").replace("*", "").split())
    readme = " ".join((REPO / "README.md").read_text().replace("*", "").split())
    assert f"Eunjeong Lee. {paper.PAPER_TITLE}" in readme
    assert "CC BY 4.0" in readme and "MIT" in readme
