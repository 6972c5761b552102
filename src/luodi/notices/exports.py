"""A notice as a file anyone may download: XLSX (XlsxWriter) and PDF (fpdf2 with Debian's
Noto CJK font, embedded as a subset). Both hold only the published, masked rows.

They are rendered once, when rows are published or amended (``service``), and stored; a
download serves the stored bytes. XlsxWriter and fpdf2 are imported inside the functions:
every CLI command would otherwise pay for them at start-up.

A file says what was published (title, window, rows, digest, seed), not the notice's status:
the status changes at finalisation while the rows, and so the file and its ETag, do not.
"""

from __future__ import annotations

import io
from pathlib import Path

import polars as pl

from luodi.errors import LuodiError
from luodi.notices.models import Notice, NoticeKind, NoticeLayout, notice_columns
from luodi.settings import get_settings

FONT_PACKAGE = "fonts-noto-cjk"

# In Noto Sans CJK's collection the fonts are JP, KR, SC, TC, HK: 2 is Simplified Chinese.
SIMPLIFIED_CHINESE = 2
ROW_HEIGHT, ROW_BASELINE = 5.0, 3.6  # millimetres; 8-point text sits on the baseline
HEADER_HEIGHT, HEADER_BASELINE = 6.0, 4.1
PADDING = 0.8
BOTTOM_MARGIN = 12
SMALLEST_POINTS = 5.0
"""A value too wide for its column is set smaller, down to this size, before anything of it
is cut: a flat number, a school's name or a reason code must read as on the page."""
PDF_WIDTHS: dict[str, list[int]] = {  # millimetres on landscape A4 (277 between the margins)
    # Notices published before layouts, by kind (they left the lottery number out).
    NoticeKind.ALLOCATION: [20, 16, 34, 14, 34, 26, 40, 14, 10, 10, 14, 12, 0, 33],
    NoticeKind.SCORING: [30, 40, 60, 50, 40, 40],
    # By layout: every column of the page, the lottery number whole (up to 20 digits).
    NoticeLayout.SCHOOL_ADMISSION: [16, 14, 32, 14, 32, 12, 36, 18, 9, 9, 12, 11, 34, 28],
    NoticeLayout.SCHOOL_PLACES: [14, 12, 30, 12, 30, 11, 32, 16, 8, 8, 11, 9, 34, 34, 16],
    # The flat (项目及房型, 房号) gets the room: a cut one would not say which flat was let.
    NoticeLayout.PUBLIC_HOUSING: [16, 16, 30, 14, 48, 18, 20, 14, 10, 14, 12, 34, 31],
    NoticeLayout.QUOTA_BENEFIT: [22, 22, 36, 18, 18, 14, 36, 60],
    NoticeLayout.TIERED_BENEFIT: [22, 22, 36, 18, 30, 18, 60],
    NoticeLayout.ENTITLEMENT: [22, 22, 40, 22, 40, 20, 70],
    NoticeLayout.SCORE_RANKING: [30, 40, 60, 50, 40, 40],
    NoticeLayout.QUALIFICATION: [26, 26, 40, 30, 16, 20, 16, 103],
}


def _header_lines(notice: Notice) -> list[str]:
    lines = [
        f"公示期 {notice.starts_on} 至 {notice.ends_on}    共 {notice.row_count} 条",
        f"名单摘要 SHA-256 {notice.rows_digest}",
    ]
    if notice.seed:
        lines.append(f"摇号种子 {notice.seed}（任何人可据此复核每个摇号号码）")
    return lines


def to_xlsx(notice: Notice, rows: pl.DataFrame) -> bytes:
    """``rows``: the notice's published rows, its columns in order."""
    import xlsxwriter

    columns = notice_columns(notice)
    buffer = io.BytesIO()
    # Rows are written in order and flushed as they go (half the peak memory at 100,000
    # rows; strings inline instead of a shared table).
    book = xlsxwriter.Workbook(buffer, {"constant_memory": True, "strings_to_formulas": False})
    sheet = book.add_worksheet("公示名单")
    bold = book.add_format({"bold": True})
    sheet.write(0, 0, notice.title, book.add_format({"bold": True, "font_size": 14}))
    lines = _header_lines(notice)
    for offset, line in enumerate(lines, start=1):
        sheet.write(offset, 0, line)
    top = len(lines) + 2
    for index, label in enumerate(columns.values()):
        sheet.write(top, index, label, bold)
    for r, row in enumerate(rows.iter_rows(), start=top + 1):
        for c, value in enumerate(row):
            # Everything is written as typed values or text: a value like "=HYPERLINK(…)" in
            # a published field stays text (strings_to_formulas is off).
            if value is None:
                continue
            if isinstance(value, int | float) and not isinstance(value, bool):
                sheet.write_number(r, c, value)
            else:
                sheet.write_string(r, c, str(value))
    sheet.freeze_panes(top + 1, 0)
    sheet.set_column(0, len(columns) - 1, 14)
    book.close()
    return buffer.getvalue()


def font_path() -> Path:
    """The CJK font the PDF embeds; 503 naming the Debian package when it is missing."""
    path = get_settings().pdf_font
    if not path.exists():
        raise LuodiError(
            f"服务器缺少中文字体 {path.name}（Debian 软件包 {FONT_PACKAGE}；make setup 会安装），"
            "安装后运行 luodi notice render",
            f"the server lacks the CJK font {path.name} (Debian package {FONT_PACKAGE}); "
            "install it, then run luodi notice render",
            503,
        )
    return path


def to_pdf(notice: Notice, rows: pl.DataFrame) -> bytes:
    """``rows``: the notice's published rows, its columns in order. Raises 503 (naming the
    Debian package) when the CJK font is missing.

    The table is drawn as text and lines rather than with ``cell`` (a bordered cell costs
    ~0.2 ms in fpdf2, ``text`` ~0.04 ms; 100,000 rows × 6–13 cells made a minute): a row's
    values go to the page as one text block, encoded by the font (what ``text`` does, less
    its per-call checks), the grid is a line under each row and the column edges once per
    page."""
    from fpdf import FPDF

    columns = notice_columns(notice)
    layout = notice.layout or notice.kind
    keep = [name for name, width in zip(columns, PDF_WIDTHS[layout], strict=True) if width]
    widths = [width for width in PDF_WIDTHS[layout] if width]
    pdf = FPDF(orientation="L", format="A4")
    pdf.set_auto_page_break(auto=True, margin=BOTTOM_MARGIN)
    pdf.add_font("cjk", fname=str(font_path()), collection_font_number=SIMPLIFIED_CHINESE)
    pdf.set_title(notice.title)
    pdf.add_page()
    pdf.set_font("cjk", size=13)
    pdf.multi_cell(0, 8, notice.title, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("cjk", size=8)
    for line in _header_lines(notice):
        pdf.cell(0, 5, line, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    pdf.set_auto_page_break(False)
    left = pdf.l_margin
    edges = [left + sum(widths[:index]) for index in range(len(widths) + 1)]
    bottom = pdf.h - BOTTOM_MARGIN
    # A value of n characters fits for sure when n full-width glyphs do; only longer ones
    # are measured (once per distinct value and width).
    sure = [int((width - 2 * PADDING) // pdf.font_size) for width in widths]
    points = pdf.font_size_pt
    fitted: dict[tuple[str, float], tuple[float, str]] = {}

    def fit(text: str, width: float) -> tuple[float, str]:
        """(font size in points, text) of a value in a column: the row's size when it fits,
        else smaller down to ``SMALLEST_POINTS``, cut only when even that is too wide."""
        key = (text, width)
        if key not in fitted:
            room = width - 2 * PADDING
            wide = pdf.get_string_width(text)
            size = points if wide <= room else max(SMALLEST_POINTS, points * room / wide)
            cut = text
            while cut and pdf.get_string_width(cut) * size / points > room:
                cut = cut[:-1]
            fitted[key] = (size, cut)
        return fitted[key]

    def header(top: float) -> float:
        # ``text`` here also puts the font on each new page; black fill after the shaded
        # band, since text is drawn in the fill colour.
        pdf.set_fill_color(230, 236, 245)
        pdf.rect(left, top, edges[-1] - left, HEADER_HEIGHT, style="DF")
        pdf.set_fill_color(0)
        for name, x in zip(keep, edges, strict=False):
            pdf.text(x + PADDING, top + HEADER_BASELINE, columns[name])
        return top + HEADER_HEIGHT

    def grid(top: float, end: float) -> None:
        for x in edges:
            pdf.line(x, top, x, end)

    if "amount" in keep:
        # The amount as the page writes it (3,000; 1,234.50), not as a float's text (3000.0):
        # once per distinct amount.
        amounts = rows["amount"].drop_nulls().unique().to_list()
        shown = {a: f"{a:,.0f}" if a == round(a) else f"{a:,.2f}" for a in amounts}
        rows = rows.with_columns(
            pl.col("amount").replace_strict(shown, default=None, return_dtype=pl.String)
        )
    top = pdf.get_y()
    y = header(top)
    font = pdf.current_font
    assert font is not None
    for row in rows.select(keep).iter_rows():
        if y + ROW_HEIGHT > bottom:
            grid(top, y)
            pdf.add_page()
            top = pdf.t_margin
            y = header(top)
        baseline = (pdf.h - y - ROW_BASELINE) * pdf.k
        placed, smaller = [], []
        for value, x, width, safe in zip(row, edges, widths, sure, strict=False):
            if value is None:
                continue
            text = str(value)
            if len(text) > safe:
                size, text = fit(text, width)
                if size < points:
                    smaller.append((x, size, text))
                    continue
            encoded = font.encode_text(pdf.normalize_text(text))
            placed.append(f"BT {(x + PADDING) * pdf.k:.2f} {baseline:.2f} Td {encoded} ET")
        pdf._out(" ".join(placed))  # fpdf2 is pinned (uv.lock): see the docstring
        for x, size, text in smaller:  # the few long values, through fpdf2's own text
            pdf.set_font_size(size)
            pdf.text(x + PADDING, y + ROW_BASELINE, text)
            pdf.set_font_size(points)
        y += ROW_HEIGHT
        pdf.line(left, y, edges[-1], y)
    grid(top, y)
    return bytes(pdf.output())
