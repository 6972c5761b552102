"""``luodi job list | show | watch | run-pending`` on the city's database."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import BaseModel
from sqlalchemy import Engine

from luodi.auth.actor import SYSTEM_ACTOR, Actor, Role
from luodi.db import session_scope
from luodi.errors import Conflict
from luodi.jobs import service
from luodi.jobs.handlers import HANDLERS, Handler, Reach
from tests.test_cli import run_luodi
from tests.web.conftest import AS_OF


@pytest.fixture(scope="module")
def env(loaded_engine: Engine) -> dict[str, str]:
    return {"LUODI_DATABASE_URL": loaded_engine.url.render_as_string(hide_password=False)}


@pytest.fixture(scope="module", autouse=True)
def refusing_kind() -> Iterator[None]:
    def refuse(*_args: Any) -> dict[str, Any]:
        raise Conflict("周期已确定", "the cycle is final")

    HANDLERS["test_refuse"] = Handler(
        label=("测试", "test"),
        roles=(Role.ADMIN,),
        params=Nothing,
        authorize=lambda *_args: Reach(),
        run=refuse,
    )
    yield
    del HANDLERS["test_refuse"]


class Nothing(BaseModel):
    pass


def submit(engine: Engine, actor: Actor, kind: str, params: dict[str, Any]) -> int:
    with session_scope(engine) as session:
        return service.submit(actor, session, kind, params).id


def test_run_pending_then_show_list_and_watch(
    loaded_engine: Engine, env: dict[str, str], accounts: dict[str, Actor]
) -> None:
    scored = submit(
        loaded_engine, accounts["operator"], "score", {"policy_id": "zj-cixi", "as_of": str(AS_OF)}
    )
    failed = submit(loaded_engine, SYSTEM_ACTOR, "test_refuse", {})
    ran = run_luodi("job", "run-pending", env=env)
    assert ran.returncode == 0, ran.stderr
    assert f"任务 {scored} 计分 score：完成 done" in ran.stdout
    assert (
        f"任务 {failed} 测试 test_refuse：失败 failed 周期已确定 / the cycle is final" in ran.stdout
    )
    assert "运行了 2 个任务 / ran 2 jobs" in ran.stdout
    shown = run_luodi("job", "show", str(scored), env=env)
    assert shown.returncode == 0 and '"run_id":' in shown.stdout and "已完成 done" in shown.stdout
    listed = run_luodi("job", "list", "--kind", "score", env=env)
    assert listed.returncode == 0 and f"\n│ {scored} " in listed.stdout.replace("┃", "│")
    watched = run_luodi("job", "watch", str(scored), env=env)
    assert watched.returncode == 0 and f"任务 {scored} 已完成" in watched.stdout
    watched = run_luodi("job", "watch", str(failed), env=env)
    assert watched.returncode == 1 and "Traceback" not in watched.stderr
    assert f"任务 {failed} 失败" in watched.stderr and "the cycle is final" in watched.stderr
    queued = run_luodi(
        "job", "submit", "score", "-p", "policy_id=zj-cixi", "-p", f"as_of={AS_OF}", env=env
    )
    assert queued.returncode == 0 and "已排队" in queued.stdout
    refused = run_luodi("job", "submit", "score", "-p", "policy_id", env=env)
    assert refused.returncode == 1 and "name=value" in refused.stderr
    refused = run_luodi("job", "submit", "allocate", "-p", "cycle_id=x", "-p", "seed=s", env=env)
    assert refused.returncode == 1 and "params.cycle_id" in refused.stderr
    assert run_luodi("job", "run-pending", env=env).returncode == 0
    missing = run_luodi("job", "show", "999999", env=env)
    assert missing.returncode == 1 and "没有任务 999999" in missing.stderr
