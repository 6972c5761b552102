"""What a public notice says of each decision: the outcome in the program's own words and,
for anyone not placed, a short reason code (条件不符：社保), never the person's facts.

The allocation stores a reason for the applicant and the staff (``reason_zh``: the labels of
the failed rules, or why no choice was reached). The public list gets a code derived from
it: each failed rule's ``public_reason`` (the program document's short word; the rule's
label when it declares none), and a fixed word for the other reasons. A reason this module
does not recognise is published as ``其他`` rather than as stored: whatever a future reason
holds, it does not reach the public list unreviewed (docs/programs.md, "Notices").
"""

from __future__ import annotations

from collections.abc import Iterable

import polars as pl

from luodi.kernels.allocation.programs import Outcome
from luodi.programs.spec import ProgramKind, ProgramSpec, Rule

NOT_MET = "条件不符"
OTHER = "其他"

OUTCOME_WORDS: dict[ProgramKind, dict[str, str]] = {
    ProgramKind.SCHOOL_ADMISSION: {
        Outcome.PLACED: "录取",
        Outcome.UNPLACED: "未录取",
        Outcome.INELIGIBLE: "未录取",
        Outcome.WAITLISTED: "轮候",
    },
    ProgramKind.PUBLIC_HOUSING: {
        Outcome.PLACED: "配租",
        Outcome.WAITLISTED: "轮候",
        Outcome.UNPLACED: "轮候",
        Outcome.INELIGIBLE: "不予配租",
        Outcome.SUBSIDY: "租赁补贴",
    },
    ProgramKind.QUOTA_BENEFIT: {
        Outcome.PLACED: "核准",
        Outcome.UNPLACED: "未核准",
        Outcome.INELIGIBLE: "未核准",
        Outcome.WAITLISTED: "轮候",
    },
    ProgramKind.TIERED_BENEFIT: {
        Outcome.PLACED: "核准",
        Outcome.UNPLACED: "未核准",
        Outcome.INELIGIBLE: "未核准",
        Outcome.WAITLISTED: "轮候",
    },
    ProgramKind.ENTITLEMENT: {
        Outcome.PLACED: "核准",
        Outcome.UNPLACED: "未核准",
        Outcome.INELIGIBLE: "未核准",
        Outcome.WAITLISTED: "轮候",
    },
}
"""The word a notice of each program kind uses for each outcome (a housing application with
no flat left is on the waiting list: 轮候)."""

QUALIFIED, NOT_QUALIFIED = "资格审核通过", "资格审核未通过"
"""The outcome words of a qualification notice (资格公示): eligible or not, nothing else."""
QUALIFICATION_TITLE = "资格审核结果"

TITLE_WORDS = {
    ProgramKind.SCHOOL_ADMISSION: "录取结果",
    ProgramKind.PUBLIC_HOUSING: "配租结果",
    ProgramKind.QUOTA_BENEFIT: "核准名单",
    ProgramKind.TIERED_BENEFIT: "核准名单",
    ProgramKind.ENTITLEMENT: "核准名单",
}

# The allocation's own reasons (``kernels/allocation/programs.py`` and
# ``allocation/service.py``), by their exact text or prefix, and the code published for each.
FAILED_PREFIX = "不符合条件："
NO_PERMIT = "不在所用计分批次中"
FIXED_CODES = {
    "志愿均已满额（按排名未轮到）": "志愿已满",
    "房源已配完，进入轮候": "房源已配完",
    "所选项目没有适合家庭人数的房型": "无适合房型",
    "未达到最低一档": "未达最低档",
    "志愿未录取，由镇街统筹安排到有空余学位的学校": "镇街统筹",
    "本镇街学校已满，统筹安排到最近的有空余学位的镇街": "镇街统筹",
    "直接申请：按报名先后录取到有空余学位的志愿学校": "直接申请",
    "本学段所有学校均无可入读的空余学位": "学位已满",
    "本镇街及可统筹的镇街均无可入读的空余学位": "学位已满",
    "无居住镇街记录，无法就近或统筹安排": "无镇街记录",
}
HOT_SCHOOL_PREFIX = "所填学校学位紧张，要求"
NOT_MET_PREFIX = "不符合："


def rule_code(rule: Rule) -> str:
    return rule.public_reason or rule.label.zh


def _failed_codes(rules: list[Rule], text: str) -> list[str] | None:
    """The codes of the rules whose labels ``text`` lists (``rules.failed_rules``: the
    labels of the failed rules in the document's order, joined by 、), or None when the text
    is not such a list."""
    codes: list[str] = []
    rest = text
    for rule in rules:
        label = rule.label.zh
        if rest == label or rest.startswith(label + "、"):
            codes.append(rule_code(rule))
            rest = rest[len(label) + 1 :]
            if not rest:
                return codes
    return None


def _joined(codes: Iterable[str]) -> str:
    unique = list(dict.fromkeys(codes))
    return f"{NOT_MET}：" + "、".join(unique)


def public_reason(spec: ProgramSpec, outcome: str, reason_zh: str | None) -> str | None:
    """The short code a public notice shows for one stored reason."""
    if reason_zh is None or reason_zh == "":
        return None
    if reason_zh in FIXED_CODES:
        code = FIXED_CODES[reason_zh]
        # A quota benefit has one list, not choices: the kernel's words are the schools'.
        return "名额已满" if code == "志愿已满" and spec.kind is ProgramKind.QUOTA_BENEFIT else code
    if reason_zh.startswith(NO_PERMIT):
        return f"{NOT_MET}：居住证"
    if reason_zh.startswith(FAILED_PREFIX):
        codes = _failed_codes(list(spec.eligibility), reason_zh.removeprefix(FAILED_PREFIX))
        return _joined(codes) if codes else NOT_MET
    school = spec.school
    if school is not None and reason_zh == HOT_SCHOOL_PREFIX + school.full_year_rule.label.zh:
        return _joined([rule_code(school.full_year_rule)])
    if school is not None and reason_zh == NOT_MET_PREFIX + school.current_rule.label.zh:
        return _joined([rule_code(school.current_rule)])
    if outcome == Outcome.INELIGIBLE:
        return NOT_MET
    return OTHER


def public_reasons(spec: ProgramSpec, outcome: pl.Series, reason_zh: pl.Series) -> pl.Series:
    """``public_reason`` of each row, computed once per distinct (outcome, reason): a run
    has a handful of distinct reasons however many rows it has."""
    pairs = pl.DataFrame({"outcome": outcome, "reason_zh": reason_zh})
    distinct = pairs.unique()
    codes = distinct.with_columns(
        code=pl.Series(
            [public_reason(spec, o, r) for o, r in distinct.iter_rows()], dtype=pl.String
        )
    )
    return pairs.join(
        codes, on=["outcome", "reason_zh"], how="left", nulls_equal=True, maintain_order="left"
    )["code"]
