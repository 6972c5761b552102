"""The synthetic city's past and the forecast's history at a million residents: generation
with ``--years 0`` and ``--years N`` (in memory, the CSV writing aside), and, given a database
holding a city with a past, ``forecast.repository.history()`` read from it. Wall and CPU
seconds (on a shared machine the wall time stretches with the others' load).

    python bench/history.py [--residents 1000000] [--years 5] [--database URL]

Target (issue 18): 1,000,000 residents with 5 years in well under a minute; the history read
fast enough for the forecast's 10 s whole command.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from luodi.auth.actor import SYSTEM_ACTOR
from luodi.db import create_db_engine, session_scope
from luodi.forecast.repository import history
from luodi.synth.generator import DEFAULT_AS_OF, SynthOptions, generate_city


def measured(what: str, work: object) -> None:
    wall, cpu = time.perf_counter(), time.process_time()
    result = work() if callable(work) else None
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{what}: {wall:.1f} s wall, {cpu:.1f} s CPU, peak {peak:,.0f} MiB", flush=True)
    del result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--residents", type=int, default=1_000_000)
    parser.add_argument("--years", type=int, default=5)
    parser.add_argument("--database", help="a database holding a city with a past")
    arguments = parser.parse_args()
    if arguments.database:
        engine = create_db_engine(arguments.database)
        for attempt in (1, 2):
            with session_scope(engine) as session:
                measured(
                    f"history() read #{attempt}",
                    lambda: history(session, SYSTEM_ACTOR),
                )
        return
    size = arguments.residents
    measured(f"{size:,} residents, today only", lambda: generate_city(SynthOptions(size, 2026)))
    measured(
        f"{size:,} residents, {arguments.years} years of past",
        lambda: generate_city(SynthOptions(size, 2026, DEFAULT_AS_OF, arguments.years)),
    )


if __name__ == "__main__":
    main()
