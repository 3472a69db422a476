"""GTIN check digit and normalisation."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from anticounterfeit.gs1.gtin import gtin_check_digit, is_valid_gtin14, normalize_gtin
from kernel.errors import InvalidInput

# Published examples: GS1 Digital Link spec GTIN, an EAN-13, a UPC-A, an EAN-8.
KNOWN_VALID = ["09506000134352", "4006381333931", "036000291452", "96385074"]


@pytest.mark.parametrize("gtin", KNOWN_VALID)
def test_known_gtins_normalise_to_14_digits(gtin: str) -> None:
    result = normalize_gtin(f"  {gtin}\n")
    assert result == gtin.zfill(14)
    assert is_valid_gtin14(result)


def test_check_digit_examples() -> None:
    assert gtin_check_digit("950600013435") == 2
    assert gtin_check_digit("400638133393") == 1
    assert gtin_check_digit("03600029145") == 2
    assert gtin_check_digit("9638507") == 4


def test_check_digit_rejects_non_digits() -> None:
    with pytest.raises(ValueError, match="digits"):
        gtin_check_digit("12a4")


def test_wrong_check_digit_names_expected_digit() -> None:
    with pytest.raises(InvalidInput) as info:
        normalize_gtin("4006381333932", field="product.gtin")
    err = info.value
    assert err.code == "invalid_gtin"
    assert err.field == "product.gtin"
    assert "expected 1" in err.detail


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("400638133393X", "only digits"),
        ("4006381333931.0", "only digits"),
        ("٤٠٠٦٣٨١٣٣٣٩٣١", "only digits"),  # Arabic-Indic digits are not GTIN digits
        ("1234567", "not 7"),
        ("123456789", "not 9"),
        ("123456789012345", "not 15"),
    ],
)
def test_invalid_inputs(value: str, fragment: str) -> None:
    with pytest.raises(InvalidInput) as info:
        normalize_gtin(value)
    assert info.value.code == "invalid_gtin"
    assert info.value.field == "gtin"
    assert fragment in info.value.detail


def test_is_valid_gtin14_is_strict() -> None:
    assert is_valid_gtin14("09506000134352")
    assert not is_valid_gtin14("9506000134352")  # 13 digits
    assert not is_valid_gtin14("09506000134353")
    assert not is_valid_gtin14(" 9506000134352")
    assert not is_valid_gtin14("0950600013435²")


bodies = st.text(alphabet="0123456789", min_size=7, max_size=13).filter(
    lambda s: len(s) in (7, 11, 12, 13)
)


@given(bodies)
def test_body_plus_check_digit_is_valid(body: str) -> None:
    gtin = body + str(gtin_check_digit(body))
    assert normalize_gtin(gtin) == gtin.zfill(14)
    assert is_valid_gtin14(gtin.zfill(14))


@given(bodies, st.data())
def test_any_single_digit_error_is_detected(body: str, data: st.DataObject) -> None:
    gtin = body + str(gtin_check_digit(body))
    pos = data.draw(st.integers(0, len(gtin) - 1))
    new = data.draw(st.sampled_from([d for d in "0123456789" if d != gtin[pos]]))
    corrupted = gtin[:pos] + new + gtin[pos + 1 :]
    with pytest.raises(InvalidInput):
        normalize_gtin(corrupted)
    assert not is_valid_gtin14(corrupted.zfill(14))


@given(st.text(max_size=20))
def test_normalize_raises_only_invalid_input(text: str) -> None:
    try:
        result = normalize_gtin(text)
    except InvalidInput:
        return
    assert is_valid_gtin14(result)
