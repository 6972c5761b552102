"""积分制总量分析 over HTTP (``/api/v1/analysis``)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response

from luodi.analysis import service
from luodi.errors import MAX_ID
from luodi.web.dependencies import CurrentActor, DbSession

router = APIRouter(prefix="/api/v1/analysis", tags=["analysis 积分分析"])

MEDIA_TYPES = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
}


@router.get(
    "/points",
    response_model=None,
    responses={
        200: {"description": "各表 JSON，或 XLSX / PDF 文件 / every table, or the file"},
        404: {"description": "计分批次不存在或不在范围内 / no such run in reach"},
        422: {"description": "参数无效（分数线、名额、类别）/ invalid parameters"},
    },
)
def points(
    actor: CurrentActor,
    session: DbSession,
    run: Annotated[int, Query(ge=1, le=MAX_ID, description="计分批次 / scoring run id")],
    thresholds: Annotated[
        str, Query(max_length=200, description="分数线，逗号分隔、从低到高 / ascending")
    ] = "60,90,120,150",
    format: Annotated[Literal["json", "xlsx", "pdf"], Query(description="json|xlsx|pdf")] = "json",
    quota: Annotated[
        int | None,
        Query(ge=1, le=10_000_000, description="每类每年可接纳人数（给出则含第一批名单）"),
    ] = None,
    batches: Annotated[int, Query(ge=1, le=50, description="年度批次数 / yearly batches")] = 5,
    class_thresholds: Annotated[
        str | None, Query(max_length=200, description="类别分数线 school:95,housing:60")
    ] = None,
) -> Any:
    """积分制总量分析 / whole-population points analysis of a scoring run. With a quota, the
    first batch's list (masked names and ID numbers) is included and its export recorded in
    the audit log."""
    analysis = service.points_analysis(
        actor,
        session,
        run,
        service.parse_thresholds(thresholds),
        quota=quota,
        batches=batches,
        class_thresholds=service.parse_class_thresholds((class_thresholds or "").split(",")),
    )
    if format == "json":
        body: Any = analysis.as_json()
    else:
        from luodi.analysis import exports

        body = exports.to_xlsx(analysis) if format == "xlsx" else exports.to_pdf(analysis)
    service.record_batch_export(actor, session, analysis, f"api:{format}")
    if format == "json":
        return body
    return Response(
        body,
        media_type=MEDIA_TYPES[format],
        headers={
            "Content-Disposition": f'attachment; filename="points-analysis-run-{run}.{format}"',
            # A batch list names people (masked): never kept by a shared cache.
            "Cache-Control": "no-store",
        },
    )
