import json

import pytest

import fgsm_helpers as fh


def test_records_merge_and_replace(tmp_path):
    path = tmp_path / "out" / "results.json"
    fh.results.add_records(
        path, fh.results.curve_records("baseline", "fgsm", {0.1: 80.0, 0.2: 40.0})
    )
    fh.results.add_records(path, [fh.results.make_record("baseline", "fgsm", 0.1, 81.0)])
    fh.results.add_records(
        path,
        [fh.results.make_record("baseline", "pgd", 0.1, 10.0, n_images=1000, steps=40, restarts=1)],
    )
    data = json.loads(path.read_text())
    assert len(data["records"]) == 3
    assert fh.results.find(data, model="baseline", attack="fgsm", eps=0.1)[0]["accuracy"] == 81.0
    pgd = fh.results.find(data, attack="pgd")[0]
    assert pgd["n_images"] == 1000 and pgd["steps"] == 40 and pgd["eps_units"] == "pixel"
    fh.results.set_section(path, "protocol", "card", {"clamping": "[0, 1]"})
    assert fh.results.load_results(path)["protocol"]["card"]["clamping"] == "[0, 1]"


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"accuracy": 101.0}, "accuracy"),
        ({"eps": -0.1}, "eps"),
        ({"eps_units": "percent"}, "eps_units"),
    ],
)
def test_bad_records(kwargs, match):
    args = {"model": "baseline", "attack": "fgsm", "eps": 0.1, "accuracy": 50.0, **kwargs}
    units = args.pop("eps_units", "pixel")
    with pytest.raises(ValueError, match=match):
        fh.results.make_record(**args, eps_units=units)


def test_paper_tables_are_the_papers():
    assert fh.paper.TABLE1_CLEAN_ACCURACY == 98.88
    assert fh.paper.TABLE2_BASELINE[0.3] == 67.9 and fh.paper.TABLE2_ADVERSARIAL[0.8] == 60.31
    assert fh.paper.TABLE2_EPS == (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
    assert fh.paper.mean_abs_difference(
        {0.1: 90.0, 0.2: 80.0}, {0.1: 91.68, 0.2: 82.2}
    ) == pytest.approx(1.94)
