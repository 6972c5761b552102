from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from luodi.kernels.identifiers import (
    CREDIT_CODE_ALPHABET,
    IdProblem,
    check_credit_code,
    check_id_number,
    credit_code_check_character,
    credit_code_check_characters,
    id_check_character,
    id_check_characters,
    invalid_id_number_rows,
)
from luodi.kernels.regions import PROVINCES
from tests.factories import credit_code, id_number

TODAY = date(2026, 11, 21)


def test_published_example_with_x_check_character() -> None:
    # The example number of GB 11643's annex: check character X, lower case accepted.
    check = check_id_number("11010519491231002x", TODAY)
    assert check.valid
    assert check.number == "11010519491231002X"
    assert check.birth_date == date(1949, 12, 31)
    assert check.sex == "female"
    assert check.origin_province == "北京"
    assert check.region_code == "110105"


def test_sex_follows_parity_of_the_17th_digit() -> None:
    assert check_id_number(id_number(sequence=123), TODAY).sex == "male"
    assert check_id_number(id_number(sequence=124), TODAY).sex == "female"


@pytest.mark.parametrize(
    ("number", "problem", "words"),
    [
        ("1101051949123100", IdProblem.LENGTH, "18"),
        ("11010519491231002X1", IdProblem.LENGTH, "19"),
        ("11010519491231002A", IdProblem.CHARACTERS, "X"),
        ("1101051949123100AX", IdProblem.CHARACTERS, "17"),
        ("99010519491231002X", IdProblem.REGION, "99"),
        ("00010519491231002X", IdProblem.REGION, "00"),
        ("110105194902300021", IdProblem.BIRTH_DATE, "19490230"),
        ("110105194913310021", IdProblem.BIRTH_DATE, "19491331"),
        ("110105203001010021", IdProblem.BIRTH_DATE, "2030-01-01"),
        ("110105189901010021", IdProblem.BIRTH_DATE, "1899"),
        ("110105194912310001", IdProblem.SEQUENCE, "000"),
        ("110105194912310021", IdProblem.CHECK_CHARACTER, "X"),
    ],
)
def test_each_kind_of_invalid_number_names_its_reason(
    number: str, problem: IdProblem, words: str
) -> None:
    check = check_id_number(number, TODAY)
    assert not check.valid
    assert check.problem == problem
    assert words in check.reason_zh or words in check.reason_en
    assert check.reason_zh and check.reason_en


def test_leap_day_is_a_real_date_only_in_leap_years() -> None:
    assert check_id_number(id_number(birth=date(2000, 2, 29)), TODAY).valid
    first17 = "341522199902290123"[:17]
    assert check_id_number(first17 + id_check_character(first17), TODAY).problem == (
        IdProblem.BIRTH_DATE
    )


births = st.dates(min_value=date(1900, 1, 1), max_value=TODAY)
regions = st.sampled_from(sorted(PROVINCES)).flatmap(
    lambda province: st.from_regex(rf"\A{province}[0-9]{{4}}\Z")
)
sequences = st.integers(min_value=1, max_value=999)


@given(regions, births, sequences)
def test_every_well_formed_number_validates(region: str, birth: date, sequence: int) -> None:
    assert check_id_number(id_number(region, birth, sequence), TODAY).valid


@given(regions, births, sequences, st.integers(0, 17), st.integers(1, 10))
def test_any_single_character_change_is_caught(
    region: str, birth: date, sequence: int, position: int, shift: int
) -> None:
    # ISO 7064 MOD 11-2 detects every single substitution: whatever else a changed number
    # passes, the check character fails. Digits change to digits; the check character to
    # any other of 0-9 and X.
    number = id_number(region, birth, sequence)
    alphabet = "0123456789X" if position == 17 else "0123456789"
    shift = shift % len(alphabet) or 1
    changed_character = alphabet[(alphabet.index(number[position]) + shift) % len(alphabet)]
    changed = number[:position] + changed_character + number[position + 1 :]
    assert changed != number
    assert not check_id_number(changed, TODAY).valid


@given(st.lists(st.tuples(regions, births, sequences), min_size=1, max_size=40))
def test_vectorised_check_characters_equal_scalar(people: list[tuple[str, date, int]]) -> None:
    first17 = [f"{region}{birth:%Y%m%d}{sequence:03d}" for region, birth, sequence in people]
    digits = np.array([[int(character) for character in text] for text in first17])
    assert id_check_characters(digits).tolist() == [id_check_character(t) for t in first17]


@given(
    st.lists(
        st.one_of(
            st.tuples(regions, births, sequences).map(lambda person: id_number(*person)),
            st.text(alphabet="0123456789Xx", min_size=0, max_size=19),
        ),
        max_size=30,
    )
)
def test_columnwise_validation_agrees_with_scalar(numbers: list[str]) -> None:
    bad = set(invalid_id_number_rows(pl.Series(numbers, dtype=pl.String), TODAY).to_list())
    expected = {
        row for row, number in enumerate(numbers) if not check_id_number(number, TODAY).valid
    }
    assert bad == expected


def test_future_birth_is_relative_to_today() -> None:
    tomorrow = TODAY + timedelta(days=1)
    number = id_number(birth=tomorrow)
    assert check_id_number(number, TODAY).problem == IdProblem.BIRTH_DATE
    assert check_id_number(number, tomorrow).valid


@pytest.mark.parametrize("code", ["91350100M000100Y43", "91110000600037341L", credit_code()])
def test_real_credit_codes_validate(code: str) -> None:
    assert check_credit_code(code).valid
    assert check_credit_code(code.lower()).valid


@pytest.mark.parametrize(
    ("code", "problem"),
    [
        ("91350100M000100Y4", "length"),
        ("91350100M000100YI3", "characters"),
        ("9135A100M000100Y43", "region"),
        ("91350100M000100Y44", "check_character"),
    ],
)
def test_invalid_credit_codes_name_their_reason(code: str, problem: str) -> None:
    check = check_credit_code(code)
    assert check.problem == problem
    assert check.reason_zh and check.reason_en


credit_bodies = st.text(alphabet=CREDIT_CODE_ALPHABET, min_size=17, max_size=17).map(
    lambda body: body[:2] + "330282" + body[8:]
)


@given(credit_bodies, st.integers(0, 17), st.integers(1, 30))
def test_credit_code_single_substitution_is_caught(body: str, position: int, shift: int) -> None:
    code = body + credit_code_check_character(body)
    assert check_credit_code(code).valid
    alphabet = CREDIT_CODE_ALPHABET
    changed = (
        code[:position]
        + alphabet[(alphabet.index(code[position]) + shift) % 31]
        + code[position + 1 :]
    )
    assert not check_credit_code(changed).valid


@given(st.lists(credit_bodies, min_size=1, max_size=30))
def test_vectorised_credit_check_equals_scalar(bodies: list[str]) -> None:
    values = np.array([[CREDIT_CODE_ALPHABET.index(c) for c in body] for body in bodies])
    assert credit_code_check_characters(values).tolist() == [
        credit_code_check_character(body) for body in bodies
    ]
