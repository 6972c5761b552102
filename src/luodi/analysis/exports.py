"""The points analysis as files: XLSX (one sheet per table, native charts) and PDF (the
summary, the charts drawn as bars, the key tables), with Noto CJK as the notices' PDFs.

XlsxWriter and fpdf2 are imported inside the functions (start-up of every other command).
Personal data: only the first batch's masked names and ID numbers (``batch_one``), and only
when a quota was given; the caller records its export in the audit log.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

import polars as pl

from luodi.analysis.service import DIMENSIONS, PointsAnalysis
from luodi.kernels.analysis.points import threshold_column

if TYPE_CHECKING:
    from fpdf import FPDF

SHEETS: Final = {
    "summary": "概况 summary",
    "histogram": "分布 histogram",
    "by_town": "镇街 town",
    "by_origin": "来源省份 origin",
    "by_age_band": "年龄段 age",
    "by_sector": "就业类型 sector",
    "by_permit_years": "居住证年限 permit",
    "indicators": "指标 indicators",
    "indicators_by_town": "指标×镇街 by town",
    "thresholds_over_runs": "历次达线 over runs",
    "movement_summary": "跨线 movement",
    "movement": "跨线指标 by indicator",
    "classes": "类别 classes",
    "layers": "分层分类 layers",
    "batches": "分批 batches",
    "batch_one": "第一批名单 batch 1",
}
"""Table → sheet name (≤ 31 characters, Chinese first)."""


def _title(analysis: PointsAnalysis) -> str:
    run = analysis.run
    subject = f"计分数据集 {analysis.dataset}" if analysis.dataset else f"计分批次 {run.id}"
    return f"积分制总量分析 · {subject}（{run.policy_id} {run.policy_version}，计分日 {run.as_of}）"


def _notes(analysis: PointsAnalysis) -> list[str]:
    return [f"{zh} / {en}" for zh, en in analysis.notes]


def _write_table(sheet: Any, frame: pl.DataFrame, top: int, left: int, bold: Any) -> None:
    for index, name in enumerate(frame.columns):
        sheet.write_string(top, left + index, name, bold)
    for r, row in enumerate(frame.iter_rows(), start=top + 1):
        for c, value in enumerate(row, start=left):
            if value is None:
                continue
            if isinstance(value, int | float) and not isinstance(value, bool):
                sheet.write_number(r, c, value)
            else:
                # Text stays text (strings_to_formulas is off): a label is never a formula.
                sheet.write_string(r, c, str(value))


def to_xlsx(analysis: PointsAnalysis) -> bytes:
    import xlsxwriter

    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"strings_to_formulas": False, "in_memory": True})
    bold = book.add_format({"bold": True})
    big = book.add_format({"bold": True, "font_size": 14})
    sheets: dict[str, Any] = {}
    tables = analysis.tables()
    for name, frame in tables.items():
        sheet = book.add_worksheet(SHEETS[name])
        sheets[name] = sheet
        top = 0
        if name == "summary":
            sheet.write_string(0, 0, _title(analysis), big)
            sheet.write_string(
                1, 0, "分数线 thresholds: " + ", ".join(f"{t:g}" for t in analysis.thresholds)
            )
            notes = _notes(analysis)
            for index, note in enumerate(notes):
                sheet.write_string(2 + index, 0, note)
            top = 3 + len(notes)
        _write_table(sheet, frame, top, 0, bold)
        sheet.freeze_panes(top + 1, 0)
        sheet.set_column(0, max(frame.width - 1, 0), 14)

    histogram = tables["histogram"]
    if histogram.height:
        chart = book.add_chart({"type": "column"})
        sheet_name = SHEETS["histogram"]
        chart.add_series(
            {
                "name": "居民 residents",
                "categories": [sheet_name, 1, 0, histogram.height, 0],
                "values": [sheet_name, 1, 1, histogram.height, 1],
                "gap": 10,
            }
        )
        chart.set_title({"name": "总分分布 distribution of totals"})
        chart.set_x_axis({"name": "总分（每柱起点）points (bar start)"})
        chart.set_y_axis({"name": "居民 residents"})
        chart.set_legend({"none": True})
        sheets["histogram"].insert_chart(1, 3, chart, {"x_scale": 1.6, "y_scale": 1.3})

    over_runs = tables["thresholds_over_runs"]
    if over_runs.height:
        # The chart wants one column per threshold: the long table pivoted beside it.
        wide = over_runs.with_columns(
            pl.col("threshold").map_elements(threshold_column, return_dtype=pl.String)
        ).pivot("threshold", index=["run_id", "as_of"], values="residents")
        wide = wide.with_columns(pl.col("as_of").cast(pl.String))
        sheet_name = SHEETS["thresholds_over_runs"]
        left = over_runs.width + 1
        _write_table(sheets["thresholds_over_runs"], wide, 0, left, bold)
        chart = book.add_chart({"type": "line"})
        for offset in range(2, wide.width):
            chart.add_series(
                {
                    "name": [sheet_name, 0, left + offset],
                    "categories": [sheet_name, 1, left + 1, wide.height, left + 1],
                    "values": [sheet_name, 1, left + offset, wide.height, left + offset],
                    "marker": {"type": "circle"},
                }
            )
        chart.set_title({"name": "历次计分达线人数 residents at each threshold, by run"})
        chart.set_y_axis({"name": "居民 residents"})
        sheets["thresholds_over_runs"].insert_chart(wide.height + 3, left, chart)

    by_town = tables["by_town"]
    if by_town.height:
        chart = book.add_chart({"type": "bar"})
        sheet_name = SHEETS["by_town"]
        for threshold in analysis.thresholds:
            column = by_town.columns.index(threshold_column(threshold))
            chart.add_series(
                {
                    "name": f"≥{threshold:g}",
                    "categories": [sheet_name, 1, 1, by_town.height, 1],
                    "values": [sheet_name, 1, column, by_town.height, column],
                }
            )
        chart.set_title({"name": "各镇街达线人数 residents at each threshold by town"})
        chart.set_y_axis({"reverse": True})
        sheets["by_town"].insert_chart(
            by_town.height + 3, 0, chart, {"x_scale": 1.5, "y_scale": 1.5}
        )
    book.close()
    return buffer.getvalue()


# ----------------------------------------------------------------------------------- PDF
PDF_HEADERS: Final = {
    "label": "名称",
    "residents": "人数",
    "mean": "平均",
    "median": "中位数",
    "p90": "P90",
    "indicator": "指标",
    "residents_with_points": "得分人数",
    "total_points": "分值合计",
    "share_of_points": "占比 %",
    "threshold": "分数线",
    "residents_in_both": "两批均在",
    "before": "上批达线",
    "after": "本批达线",
    "crossed_up": "向上跨线",
    "crossed_down": "向下跨线",
    "class": "类别",
    "label_zh": "名称",
    "label_en": "name",
    "batch": "批次",
    "year": "年份",
    "admitted": "接纳",
    "cumulative": "累计",
    "lowest_total": "最低分",
    "highest_total": "最高分",
}
"""The PDF's column headers in Chinese (the XLSX keeps the API's column names)."""


def _header(name: str) -> str:
    if name.startswith("at_least_"):
        return "≥" + name.removeprefix("at_least_")
    return PDF_HEADERS.get(name, name)


MARGIN = 12.0
PAGE_WIDTH = 210.0 - 2 * MARGIN
ROW = 5.0


def _bars(
    pdf: FPDF, title: str, labels: Sequence[str], values: Sequence[float], height: float = 55
) -> None:
    """A bar chart: one column per value, labels under every ``step``-th bar, the largest
    value on the axis."""
    from luodi.notices.exports import SIMPLIFIED_CHINESE  # noqa: F401 - same font setup

    pdf.set_font("cjk", size=10)
    pdf.cell(0, 7, title, new_x="LMARGIN", new_y="NEXT")
    if not values:
        pdf.cell(0, ROW, "（无数据 no data）", new_x="LMARGIN", new_y="NEXT")
        return
    if pdf.get_y() + height + 12 > pdf.h - MARGIN:
        pdf.add_page()
    top = pdf.get_y()
    left = MARGIN + 14
    width = PAGE_WIDTH - 14
    highest = max(max(values), 1)
    bar = width / len(values)
    pdf.set_font("cjk", size=6)
    pdf.text(MARGIN, top + 3, f"{highest:,.0f}")
    pdf.text(MARGIN, top + height, "0")
    pdf.line(left, top, left, top + height)
    pdf.line(left, top + height, left + width, top + height)
    pdf.set_fill_color(70, 110, 170)
    step = max(1, len(values) // 12)
    for index, (label, value) in enumerate(zip(labels, values, strict=True)):
        h = height * value / highest
        x = left + index * bar
        if h > 0:
            pdf.rect(x + bar * 0.1, top + height - h, bar * 0.8, h, style="F")
        if index % step == 0:
            pdf.text(x + bar * 0.1, top + height + 3.5, label[:8])
    pdf.set_fill_color(0)
    pdf.set_y(top + height + 7)


def _table(pdf: FPDF, title: str, frame: pl.DataFrame, limit: int = 40) -> None:
    pdf.set_font("cjk", size=10)
    if pdf.get_y() + 20 > pdf.h - MARGIN:
        pdf.add_page()
    pdf.cell(0, 7, title, new_x="LMARGIN", new_y="NEXT")
    if frame.width == 0:
        return
    width = PAGE_WIDTH / frame.width
    pdf.set_font("cjk", size=6.5)

    def header() -> None:
        pdf.set_fill_color(230, 236, 245)
        for name in frame.columns:
            pdf.cell(width, ROW, _header(name)[:22], border=1, fill=True)
        pdf.ln(ROW)

    header()
    for row in frame.head(limit).iter_rows():
        if pdf.get_y() + ROW > pdf.h - MARGIN:
            pdf.add_page()
            header()
        for value in row:
            text = (
                "" if value is None else f"{value:,.2f}" if isinstance(value, float) else str(value)
            )
            pdf.cell(width, ROW, text[:24], border=1)
        pdf.ln(ROW)
    if frame.height > limit:
        pdf.cell(
            0,
            ROW,
            f"… 另有 {frame.height - limit} 行，见 XLSX / {frame.height - limit} more rows in the XLSX",
            new_x="LMARGIN",
            new_y="NEXT",
        )
    pdf.ln(2)


def to_pdf(analysis: PointsAnalysis) -> bytes:
    """Raises 503 naming the Debian package when the CJK font is missing."""
    from fpdf import FPDF

    from luodi.notices.exports import SIMPLIFIED_CHINESE, font_path

    pdf = FPDF(orientation="P", format="A4")
    pdf.set_margins(MARGIN, MARGIN, MARGIN)
    pdf.set_auto_page_break(auto=True, margin=MARGIN)
    pdf.add_font("cjk", fname=str(font_path()), collection_font_number=SIMPLIFIED_CHINESE)
    pdf.set_title(_title(analysis))
    pdf.add_page()
    pdf.set_font("cjk", size=13)
    pdf.multi_cell(0, 7, _title(analysis), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("cjk", size=9)
    summary = analysis.summary
    lines = [
        f"计分人数 residents {analysis.residents:,}；分数线 thresholds "
        + ", ".join(f"{t:g}" for t in analysis.thresholds),
        "平均 mean {mean:.2f} · P10 {p10:g} · 中位数 median {median:g} · P90 {p90:g} · "
        "最高 highest {highest:g}".format(**summary)
        if summary
        else "（无人计分 nobody scored）",
    ]
    counts = analysis.thresholds_over_runs.filter(pl.col("run_id") == analysis.run.id)
    lines.append(
        "达线人数 at or above: "
        + "；".join(
            f"≥{t:g}: {n:,}" for t, n in counts.select("threshold", "residents").iter_rows()
        )
    )
    if analysis.previous_run_id is not None:
        lines.append(f"对比上一批次 against run {analysis.previous_run_id}")
    lines += _notes(analysis)
    for line in lines:
        pdf.multi_cell(0, 5, line, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)

    histogram = analysis.histogram
    _bars(
        pdf,
        "总分分布 distribution of totals",
        [f"{start:g}" for start in histogram["start"].to_list()],
        [float(v) for v in histogram["residents"].to_list()],
    )
    over_runs = analysis.thresholds_over_runs
    first = analysis.thresholds[0]
    runs = over_runs.filter(pl.col("threshold") == first)
    _bars(
        pdf,
        f"历次计分 ≥{first:g} 人数 residents at or above {first:g}, by run",
        [f"#{run} {as_of}" for run, as_of in runs.select("run_id", "as_of").iter_rows()],
        [float(v) for v in runs["residents"].to_list()],
        40,
    )
    towns = analysis.by_dimension["town"]
    _bars(
        pdf,
        f"各镇街 ≥{first:g} 人数 residents at or above {first:g} by town",
        towns["label"].to_list(),
        [float(v) for v in towns[threshold_column(first)].to_list()],
        45,
    )
    pdf.add_page()
    _table(pdf, f"{DIMENSIONS['town'][0]} by town", towns.drop("group"))
    _table(
        pdf,
        "指标 indicators",
        analysis.indicators.drop("label").with_columns(pl.col("share_of_points") * 100),
    )
    _table(pdf, "跨线 movement", analysis.movement_summary)
    _table(pdf, "分类 classes", analysis.classes.drop("source"))
    _table(pdf, "分批 batches", analysis.batches.drop("class_label"))
    data = pdf.output()
    return bytes(data)
