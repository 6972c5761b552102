"""The allocation kernel's names that need no arrays: the methods and a tie-break column.

Apart so that what only names them (a program's document, taking applications) imports
neither NumPy nor the mechanisms: ``luodi program apply`` starts without them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Method(StrEnum):
    DEFERRED_ACCEPTANCE = "deferred-acceptance"
    SERIAL_DICTATORSHIP = "serial-dictatorship"
    RANKED_QUOTA = "ranked-quota"
    LOTTERY = "lottery"
    """Serial choice in an order drawn by lot (within each priority group): points and
    tie-breaks play no part (住建部令第11号: 配租 by 综合评分 *or* 随机摇号)."""


METHOD_LABELS = {
    Method.DEFERRED_ACCEPTANCE: "延迟接受（志愿优先、积分排序）",
    Method.SERIAL_DICTATORSHIP: "顺序选择（按排名依次选房）",
    Method.RANKED_QUOTA: "按名额排序录取",
    Method.LOTTERY: "随机摇号（按摇号顺序依次选房）",
}


@dataclass(frozen=True)
class TieBreakColumn:
    column: str
    higher_first: bool = True
