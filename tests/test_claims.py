import pytest

from fgsm_helpers.claims import ClaimFailed, check


def test_a_claim_that_holds_passes_quietly():
    assert check(2 > 1, "two exceeds one") is None


def test_a_failed_claim_names_the_claim_and_its_evidence():
    with pytest.raises(
        ClaimFailed, match=r"no longer holds: PGD is stronger \(PGD 5.0% vs FGSM 3.0%\)"
    ):
        check(5.0 <= 3.0, "PGD is stronger", "PGD 5.0% vs FGSM 3.0%")


def test_a_failed_claim_is_an_assertion_error():
    with pytest.raises(AssertionError):
        check(False, "anything")


def test_an_empty_claim_is_refused():
    with pytest.raises(ValueError, match="claim must be a sentence"):
        check(True, " ")
