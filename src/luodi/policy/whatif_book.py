"""The what-if's workbook, made from its result (``policy.whatif.run_whatif``) whenever it is
asked for: the CLI writes it, the console sends it. Sheets: summary, bands (overall, by town,
by origin) with a stacked bar chart, thresholds, the distribution with a chart of both
policies' bars, and the school effect. Native xlsxwriter charts (no images)."""

from __future__ import annotations

import io
from typing import Any

from luodi.kernels.policy.whatif import BAND_LABELS, BANDS

SHEETS = ("摘要 summary", "分段 bands", "达线 thresholds", "分布 distribution", "入学 school")


def _band_headers() -> list[str]:
    return [f"{zh} {en}" for zh, en in (BAND_LABELS[band] for band in BANDS)]


def workbook(result: dict[str, Any]) -> bytes:
    import xlsxwriter  # slow to import; only the export needs it

    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True, "strings_to_formulas": False})
    bold = book.add_format({"bold": True})
    wrap = book.add_format({"text_wrap": True, "valign": "top"})

    def table(sheet: Any, row: int, title: str, headers: list[str], rows: list[list[Any]]) -> int:
        """Writes a titled table at ``row``; the row after it."""
        sheet.write(row, 0, title, bold)
        sheet.write_row(row + 1, 0, headers, bold)
        for offset, values in enumerate(rows):
            sheet.write_row(row + 2 + offset, 0, values)
        return row + 3 + len(rows)

    summary = book.add_worksheet(SHEETS[0])
    summary.set_column(0, 0, 100, wrap)
    summary.write(0, 0, "政策试算摘要 / policy what-if summary", bold)
    lines = result["summary"]
    for index, (zh, en) in enumerate(zip(lines["zh"], lines["en"], strict=True)):
        summary.write(2 + index, 0, f"{zh}\n{en}")
    row = 3 + len(lines["zh"])
    base, draft = result["baseline"], result["draft"]
    facts = [
        ["计分日 as of", result["as_of"]],
        ["现行 published", f"{base['id']} {base['version']} sha256 {base['digest'][:16]}"],
        ["草稿 draft", f"{draft['name']} {draft['version']} sha256 {draft['digest'][:16]}"],
        ["计分人数 residents", result["residents"]],
        *[[f"未计分 not scored: {state}", count] for state, count in result["not_scored"].items()],
        ["按默认值的输入 defaulted inputs", ", ".join(result["defaulted"]) or "—"],
    ]
    for offset, (name, value) in enumerate(facts):
        summary.write(row + offset, 0, f"{name}: {value}")

    headers = _band_headers()
    bands = book.add_worksheet(SHEETS[1])
    bands.set_column(0, 0, 24)
    bands.set_column(1, 7, 14)
    overall = result["bands"]
    row = table(
        bands,
        0,
        "全体 overall",
        ["", "人数 residents", *headers],
        [["全体 all", result["residents"], *[overall[band] for band in BANDS]]],
    )
    town_rows = [
        [town["town_name"] or "未登记 none", town["residents"], *[town[band] for band in BANDS]]
        for town in result["by_town"]
    ]
    town_start = row + 1
    row = table(bands, row, "按镇街 by town", ["镇街 town", "人数 residents", *headers], town_rows)
    table(
        bands,
        row,
        "按户籍省份 by origin province",
        ["省份 province", "人数 residents", *headers],
        [
            [item["origin_province"] or "未知 unknown", item["residents"]]
            + [item[band] for band in BANDS]
            for item in result["by_origin"]
        ],
    )
    if town_rows:
        chart = book.add_chart({"type": "bar", "subtype": "stacked"})
        first, last = town_start + 1, town_start + len(town_rows)
        for index, header in enumerate(headers):
            chart.add_series(
                {
                    "name": header,
                    "categories": [SHEETS[1], first, 0, last, 0],
                    "values": [SHEETS[1], first, 2 + index, last, 2 + index],
                }
            )
        chart.set_title({"name": "各镇街升降分段 gainers and losers by town"})
        chart.set_size({"width": 720, "height": max(320, 24 * len(town_rows))})
        bands.insert_chart(0, 9, chart)

    thresholds = book.add_worksheet(SHEETS[2])
    thresholds.set_column(0, 4, 18)
    table(
        thresholds,
        0,
        "达线与跨线 thresholds",
        ["分数线 threshold", "现行达线 published ≥", "草稿达线 draft ≥", "跨过 up", "跌落 down"],
        [
            [row["threshold"], row["old"], row["new"], row["up"], row["down"]]
            for row in result["crossings"]
        ],
    )

    distribution = book.add_worksheet(SHEETS[3])
    distribution.set_column(0, 2, 18)
    width = result["histogram_width"]
    bars = result["histogram"]
    table(
        distribution,
        0,
        f"总分分布（每 {width:g} 分一档） distribution of totals",
        ["分数段 from", "现行 published", "草稿 draft"],
        [[f"{bar['start']:g}–{bar['start'] + width:g}", bar["old"], bar["new"]] for bar in bars],
    )
    if bars:
        chart = book.add_chart({"type": "column"})
        for column, name in ((1, "现行 published"), (2, "草稿 draft")):
            chart.add_series(
                {
                    "name": name,
                    "categories": [SHEETS[3], 2, 0, 1 + len(bars), 0],
                    "values": [SHEETS[3], 2, column, 1 + len(bars), column],
                    "gap": 20,
                }
            )
        chart.set_title({"name": "总分分布 distribution"})
        chart.set_size({"width": 720, "height": 360})
        distribution.insert_chart(0, 4, chart)

    school_sheet = book.add_worksheet(SHEETS[4])
    school_sheet.set_column(0, 8, 16)
    school = result["school"]
    if school is None:
        note = result["school_note"]
        school_sheet.write(0, 0, f"{note['zh']}\n{note['en']}", wrap)
    else:
        row = table(
            school_sheet,
            0,
            f"入学周期 {school['cycle_name']}（周期 {school['cycle_id']}，摇号种子 {school['seed']}）",
            [
                "申请 applications",
                "现行录取 placed",
                "草稿录取 placed",
                "获得 gain",
                "失去 lose",
                "换校 moved",
            ],
            [
                [
                    school["applications"],
                    school["placed_old"],
                    school["placed_new"],
                    school["gained"],
                    school["lost"],
                    school["moved"],
                ]
            ],
        )
        row = table(
            school_sheet,
            row,
            "按家庭所在镇街 by the family's town",
            ["镇街 town", "获得 gain", "失去 lose", "换校 moved"],
            [
                [town["town_name"] or "未登记 none", town["gained"], town["lost"], town["moved"]]
                for town in school["by_town"]
            ],
        )
        table(
            school_sheet,
            row,
            "各校最低录取分 cut-off per school",
            [
                "学校 school",
                "名称 name",
                "镇街 town",
                "学位 seats",
                "现行录取 placed",
                "草稿录取 placed",
                "现行最低分 cut-off",
                "草稿最低分 cut-off",
            ],
            [
                [
                    item["target_id"],
                    item["name"],
                    item["town_code"],
                    item["capacity"],
                    item["placed_old"],
                    item["placed_new"],
                    item["cutoff_old"],
                    item["cutoff_new"],
                ]
                for item in school["schools"]
            ],
        )
    book.close()
    return buffer.getvalue()
