from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from luodi.errors import FieldProblem
from luodi.kernels.masking import mask_id_number, mask_name, mask_numbers_in, mask_phone


def test_design_examples() -> None:
    assert mask_name("张三丰") == "张**"
    assert mask_name("李四") == "李*"
    assert mask_id_number("33028219900517123X") == "33*************23X"
    assert mask_phone("13812341234") == "138****1234"


@given(st.from_regex(r"\A[0-9]{17}[0-9X]\Z"))
def test_masked_id_hides_birth_date_and_sequence(number: str) -> None:
    masked = mask_id_number(number)
    assert len(masked) == 18
    assert masked[:2] == number[:2]
    assert masked[-3:] == number[-3:]
    assert set(masked[2:15]) == {"*"}


@given(st.from_regex(r"\A1[0-9]{10}\Z"))
def test_masked_phone_keeps_three_and_four(phone: str) -> None:
    masked = mask_phone(phone)
    assert masked == phone[:3] + "****" + phone[-4:]


@given(st.text(min_size=1, max_size=6))
def test_masked_name_keeps_only_the_first_character(name: str) -> None:
    masked = mask_name(name)
    assert masked[0] == name[0]
    assert set(masked[1:]) == {"*"}


@given(
    st.from_regex(r"\A[0-9]{17}[0-9X]\Z"),
    st.from_regex(r"\A1[0-9]{10}\Z"),
    st.text(alphabet='{}":, abc语', max_size=40),
)
def test_numbers_in_a_free_text_are_masked(number: str, phone: str, around: str) -> None:
    text = f'{around}{{"child_id_number": "{number}", "phone": {phone}}}{around}'
    masked = mask_numbers_in(text)
    assert number not in masked and phone not in masked
    assert mask_id_number(number) in masked and mask_phone(phone) in masked


def test_a_refused_value_never_carries_a_number_in_full() -> None:
    """A number-typed ID number, and a whole body echoed where a list was expected (the
    domain check saw both returned in full)."""
    number = "510124201910010513"
    as_number = FieldProblem("child_id_number", int(number), "应为文字", "must be text")
    assert as_number.shown_value() == mask_id_number(number)
    body = {"child_id_number": number, "choices": ["学校甲", "学校乙", "学校丙", "学校丁"]}
    whole = FieldProblem("records", body, "应为列表", "must be a list")
    assert number not in str(whole.shown_value()) and number not in whole.describe()
    assert number not in str(whole.as_dict())
    # A long number not standing alone (a credit code, a record key) is left as it is.
    assert mask_numbers_in("91330282MA2AB1C2D3") == "91330282MA2AB1C2D3"
