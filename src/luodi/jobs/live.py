"""The progress of the jobs running in this process, held in memory.

The worker writes progress to the ``jobs`` row in short transactions of its own, but on
SQLite a job that has started writing holds the database's one write lock until it commits:
progress cannot be written then (the worker does not wait for it, ``worker.Reporter``). The
pages served by the same process (``luodi serve`` runs the worker in it) read the progress
from here instead, so the bar still moves.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class Progress:
    phase: str
    done: int
    total: int


_lock = threading.Lock()
_running: dict[int, Progress] = {}


def report(job_id: int, progress: Progress) -> None:
    with _lock:
        _running[job_id] = progress


def forget(job_id: int) -> None:
    with _lock:
        _running.pop(job_id, None)


def current(job_id: int) -> Progress | None:
    with _lock:
        return _running.get(job_id)
