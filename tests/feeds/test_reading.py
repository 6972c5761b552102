"""The feed reader's check of a plain CSV's row widths (Polars, by chunks) agrees with the
csv reader's: the same refusals, naming the same row, across chunk boundaries."""

from __future__ import annotations

from pathlib import Path

import pytest

from luodi.errors import Invalid
from luodi.feeds import catalog, reading

HEADER = "公民身份号码,缴费年度,缴费月数\n"


def rows(count: int) -> str:
    return "".join(f"11010519491231002X,{2000 + n % 20},{n % 13}\n" for n in range(count))


@pytest.mark.parametrize("chunk", [64, 1 << 24])
@pytest.mark.parametrize(
    ("body", "row", "words"),
    [
        (rows(40) + "1,2,3,4\n" + rows(5), 42, "has 4 fields, more than the header's 3"),
        (rows(40) + '1,"2024,12\n', 42, "quote opened in this row is not closed"),
        (rows(3) + "1,2\r3\n" + rows(40) + "1,2,3,4\n", 47, "has 4 fields"),
    ],
)
def test_a_wide_row_is_named_wherever_the_chunks_fall(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int, body: str, row: int, words: str
) -> None:
    monkeypatch.setattr(reading, "PLAIN_CHUNK_BYTES", chunk)
    path = tmp_path / "社保.csv"
    path.write_text(HEADER + body, encoding="utf-8", newline="")
    spec = catalog.find_feed("social_insurance")
    with pytest.raises(Invalid) as refused, reading.open_source(spec, path):
        pass
    assert f"file 社保.csv row {row}" in refused.value.message_en
    assert words in refused.value.message_en


@pytest.mark.parametrize("chunk", [64, 1 << 24])
def test_a_plain_file_with_crlf_and_no_final_newline_reads_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    monkeypatch.setattr(reading, "PLAIN_CHUNK_BYTES", chunk)
    path = tmp_path / "社保.csv"
    path.write_bytes((HEADER + rows(50)).replace("\n", "\r\n").rstrip("\r\n").encode())
    with reading.open_source(catalog.find_feed("social_insurance"), path) as source:
        assert source.rows.collect().height == 50
