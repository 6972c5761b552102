"""The school-place forecast over HTTP (``/api/v1/forecast``)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response

from luodi.forecast import exports, service
from luodi.kernels.forecast import MAX_HORIZON
from luodi.web.dependencies import CurrentActor, DbSession
from luodi.workdays import today

router = APIRouter(prefix="/api/v1/forecast", tags=["forecast 学位预测"])

FORBIDDEN: dict[int | str, dict[str, Any]] = {
    401: {"description": "未登录 / sign in first"},
    403: {"description": "无权查看学位预测 / not for this role"},
    422: {"description": "参数无效 / bad parameters"},
}


def _file(content: bytes, kind: str, name: str) -> Response:
    return Response(
        content,
        media_type=exports.MEDIA[kind],
        headers={"Content-Disposition": f'attachment; filename="{name}.{kind}"'},
    )


@router.get("/schools", responses=FORBIDDEN)
def schools(
    actor: CurrentActor,
    session: DbSession,
    as_of: Annotated[date, Query(description="预测日期 / as-of date")],
    horizon: Annotated[int, Query(ge=1, le=MAX_HORIZON, description="预测年数 / years")] = 3,
    method: Annotated[Literal["auto", "cohort", "trend"], Query()] = "auto",
    inflow_growth: Annotated[
        float, Query(ge=service.INFLOW_GROWTH_RANGE[0], le=service.INFLOW_GROWTH_RANGE[1])
    ] = 0.0,
    capture_rate: Annotated[float | None, Query(gt=0, le=1)] = None,
    file_format: Annotated[Literal["json", "csv", "xlsx"], Query(alias="format")] = "json",
) -> Any:
    """按镇街、学校的入学预测与预警 / the forecast per town and school with its warnings."""
    scenario = service.Scenario(inflow_growth=inflow_growth, capture_rate=capture_rate)
    result = service.forecast_schools(actor, session, as_of, horizon, method, scenario)
    name = f"forecast-{as_of.isoformat()}-{horizon}y"
    if file_format == "csv":
        return _file(exports.forecast_csv(result.rows), "csv", name)
    if file_format == "xlsx":
        return _file(exports.forecast_xlsx(result.rows, result.backtest), "xlsx", name)
    return {
        "as_of": result.as_of.isoformat(),
        "horizon": result.horizon,
        "method": result.method,
        "scenario": asdict(result.scenario),
        "rows": exports.json_rows(result.rows),
        "backtest": exports.json_rows(result.backtest),
        "unplaced": result.unplaced.to_dicts(),
        "changes": [asdict(change) for change in result.changes],
        "towns": result.towns,
    }


@router.get("/backtest", responses=FORBIDDEN)
def backtest(
    actor: CurrentActor,
    session: DbSession,
    as_of: Annotated[date | None, Query(description="回测截止日期；默认今天 / as of")] = None,
    file_format: Annotated[Literal["json", "csv"], Query(alias="format")] = "json",
) -> Any:
    """各方法各年限的回测误差 MAPE（%）/ the backtest's MAPE per town, method and horizon."""
    on = as_of or today()
    mape = service.backtest(actor, session, on)
    if file_format == "csv":
        return _file(exports.backtest_csv(mape), "csv", f"forecast-backtest-{on.isoformat()}")
    return {"as_of": on.isoformat(), "rows": exports.json_rows(mape)}
