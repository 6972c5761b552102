"""A resident's time line as the law counts it: permit spans (``permits``) and, beside them,
insurance by month. Pure: frames in, frames out."""

from luodi.kernels.timeline.permits import (
    ENDORSEMENT_WINDOW_DAYS,
    PermitState,
    anniversary_expr,
    permit_timeline,
)

__all__ = [
    "ENDORSEMENT_WINDOW_DAYS",
    "PermitState",
    "anniversary_expr",
    "permit_timeline",
]
