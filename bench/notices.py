"""A public notice read by anonymous clients: the page (HTML, 200 rows), the JSON first page
(1,000 rows) and the PDF download, at ~12,600 and ~100,000 rows; milliseconds per request
(median), and what publishing costs. Each (code, size) runs in a fresh process on a new
SQLite file holding a synthetic city whose score ranking is published as the notice.

    python bench/notices.py [--rows 12600 100000] [--repeat 5] [--before REV]

``--before REV`` measures the ``src/`` of an earlier commit beside this one (the same city
files, the same requests), as ``bench/cli.py`` does.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.cli import export_sources
from bench.report import markdown_table, write_section

ROOT = Path(__file__).resolve().parent.parent
AS_OF = "2026-03-01"
SCORED_SHARE = 0.81
"""About this share of a synthetic city holds a valid permit and is scored (calibrated on
the generator; the table reports the real row count)."""


def worker(city: Path, database: Path, repeat: int, pdf_repeat: int) -> dict[str, float]:
    """Load, score, publish, then time anonymous requests (in this process: the code on the
    path is the code measured)."""
    from datetime import date

    from fastapi.testclient import TestClient

    from luodi import migrate
    from luodi.app import create_app
    from luodi.auth.actor import SYSTEM_ACTOR
    from luodi.db import create_db_engine, session_scope
    from luodi.notices import service as notices
    from luodi.policy.service import find_policy
    from luodi.registry.loading import load_city
    from luodi.scoring import service as scoring

    engine = create_db_engine(f"sqlite:///{database}")
    migrate.upgrade(engine)
    as_of = date.fromisoformat(AS_OF)
    with session_scope(engine) as session:
        load_city(SYSTEM_ACTOR, session, city)
    with session_scope(engine) as session:
        run_id = scoring.score_registry(
            SYSTEM_ACTOR, session, find_policy("zj-cixi", as_of), as_of
        ).run.id
    started = time.perf_counter()
    with session_scope(engine) as session:
        notice = notices.publish(SYSTEM_ACTOR, session, scoring_run_id=run_id)
        notice_id, rows = notice.id, notice.row_count
    publish = time.perf_counter() - started

    def timed(client: TestClient, url: str, times: int) -> float:
        spent = []
        for _ in range(times):
            begin = time.perf_counter()
            response = client.get(url)
            spent.append(time.perf_counter() - begin)
            assert response.status_code == 200, (url, response.status_code, response.text[:200])
        return statistics.median(spent) * 1000

    with TestClient(create_app(engine)) as client:
        client.get(f"/notices/{notice_id}")  # templates compiled, connections opened
        result = {
            "rows": rows,
            "publish_s": publish,
            "html_ms": timed(client, f"/notices/{notice_id}", repeat),
            "json_ms": timed(client, f"/api/v1/notices/{notice_id}", repeat),
            "pdf_ms": timed(client, f"/api/v1/notices/{notice_id}/pdf", pdf_repeat),
        }
    engine.dispose()
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, nargs="+", default=[12_600, 100_000])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--before", help="an earlier commit to measure beside this one")
    parser.add_argument("--worker", nargs=4, metavar=("CITY", "DB", "REPEAT", "PDF"))
    options = parser.parse_args()
    if options.worker:
        city, database, repeat, pdf_repeat = options.worker
        print(json.dumps(worker(Path(city), Path(database), int(repeat), int(pdf_repeat))))
        return

    from luodi.synth.generator import SynthOptions
    from luodi.synth.service import write_city

    table = []
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        variants = {"now": {}}
        if options.before:
            source = export_sources(options.before, folder / "before")
            for shared in ("policies", "programs", "feeds"):  # found beside src/
                (source.parent / shared).symlink_to(ROOT / shared)
            variants[f"before ({options.before})"] = {"PYTHONPATH": str(source)}
        for target in options.rows:
            city = folder / f"city-{target}"
            write_city(SynthOptions(residents=round(target / SCORED_SHARE), seed=11), city)
            for label, environment in variants.items():
                # The code before re-rendered the PDF on every request (seconds each): it is
                # timed once there.
                pdf_repeat = options.repeat if label == "now" else 1
                database = folder / f"{label.split()[0]}-{target}.db"
                completed = subprocess.run(
                    [
                        sys.executable,
                        __file__,
                        "--worker",
                        str(city),
                        str(database),
                        str(options.repeat),
                        str(pdf_repeat),
                    ],
                    env={**_environment(), **environment},
                    capture_output=True,
                    text=True,
                    check=True,
                    cwd=ROOT,
                )
                measured = json.loads(completed.stdout.strip().splitlines()[-1])
                table.append(
                    [
                        f"{measured['rows']:,}",
                        label,
                        f"{measured['html_ms']:,.0f}",
                        f"{measured['json_ms']:,.0f}",
                        f"{measured['pdf_ms']:,.0f}",
                        f"{measured['publish_s']:,.1f}",
                    ]
                )
                print(" | ".join(table[-1]), flush=True)
    body = (
        f"`python bench/notices.py --rows {' '.join(map(str, options.rows))} --repeat "
        f"{options.repeat}{f' --before {options.before}' if options.before else ''}`: a "
        "published score ranking of a synthetic city on SQLite, read anonymously in process "
        "(FastAPI TestClient); milliseconds per request, median. *Page* is `/notices/{id}` "
        "(200 rows), *JSON* `/api/v1/notices/{id}` (first 1,000 rows), *PDF* the download. "
        "*Publish* is the whole publication in seconds: since the files are rendered once "
        "there, it now carries the PDF's cost that every download used to pay.\n\n"
        + markdown_table(
            ["rows", "code", "page (ms)", "JSON (ms)", "PDF (ms)", "publish (s)"], table
        )
    )
    print(body)
    write_section("Notices", body)


def _environment() -> dict[str, str]:
    import os

    return dict(os.environ)


if __name__ == "__main__":
    main()
