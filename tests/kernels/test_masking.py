from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from luodi.kernels.masking import mask_id_number, mask_name, mask_phone


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
