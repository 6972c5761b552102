"""Kernels on one resident's few rows: which Polars engine runs them, and their results kept.

The kernels are written for a city (one columnar query for everybody) and also answer for one
resident: a score's explanation, their permit time line, how their insurance records counted.
On a handful of rows, Polars' own start-up is most of the time:

* Polars 2 runs a query on its streaming engine unless told otherwise. On a city that is the
  fast one; on one resident's rows its start-up dominates: the permit time line of one
  resident took 17.9 ms streaming and 8.4 ms in memory, the same answer. ``engine_for``
  chooses by the number of input rows.
* A kernel is a pure function of its frames: ``small_memo`` keeps its results on small inputs
  by the inputs' rows themselves (not by who they belong to), so a resident opening ``/my``
  then ``/my/points`` does not pay twice, and a changed row is a different key — a result can
  never be stale. Bounded (least recently used out first), shared by request threads; each
  caller gets its own copy of a kept frame.
"""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from datetime import date
from typing import Any, Literal, ParamSpec, TypeVar, overload

import polars as pl

SMALL_ROWS = 10_000
"""Up to this many input rows a query is run in memory."""
MEMO_ROWS = 1_000
"""Inputs of up to this many rows (each frame) have their results kept."""
MEMO_SIZE = 2_048
"""Results kept per kernel: the residents seen last (one resident's insurance records, key
and result, are some 30 kB: at most about 60 MB for that kernel, less for the others)."""

P = ParamSpec("P")
R = TypeVar("R")


def engine_for(rows: int) -> Literal["in-memory", "auto"]:
    """The engine for a query over ``rows`` input rows: in memory when few, else Polars'
    choice."""
    return "in-memory" if rows <= SMALL_ROWS else "auto"


class _Large(Exception):
    """An argument that is not kept by value (a large or lazy frame, an unhashable value)."""


def _key_of(value: object) -> Hashable:
    if isinstance(value, pl.DataFrame):
        if value.height > MEMO_ROWS:
            raise _Large
        # The schema with the rows: the same values under other types are another input.
        return (
            "frame",
            tuple((name, str(kind)) for name, kind in value.schema.items()),
            tuple(value.rows()),
        )
    if isinstance(value, pl.LazyFrame):
        raise _Large
    if isinstance(value, float):
        # -0.0 == 0.0 and 1.0 == 1 as keys; the kernel may tell them apart.
        return ("float", value.hex())
    if isinstance(value, str | int | bool | date | type(None)):
        return (type(value).__name__, value)
    if isinstance(value, tuple | list | frozenset):
        return (type(value).__name__, tuple(_key_of(item) for item in value))
    raise _Large


def _copy(result: Any) -> Any:
    """What a caller may change of a kept result, copied (a list of frozen values, a frame)."""
    if isinstance(result, pl.DataFrame):
        return result.clone()
    if isinstance(result, list):
        return list(result)
    return result


@overload
def small_memo(function: Callable[P, R]) -> Callable[P, R]: ...


@overload
def small_memo(*, key: Callable[[Any], Hashable]) -> Callable[[Callable[P, R]], Callable[P, R]]: ...


def small_memo(
    function: Callable[P, R] | None = None, *, key: Callable[[Any], Hashable] | None = None
) -> Callable[P, R] | Callable[[Callable[P, R]], Callable[P, R]]:
    """Keep ``function``'s results on small inputs (frames of at most ``MEMO_ROWS`` rows and
    plain values: numbers, text, dates, tuples). ``key`` gives the part of the key that is
    not an argument's value (the compiled policy's digest for a method of it: ``self``).
    The function must be pure: its result depends on its arguments' values only."""

    def decorate(inner: Callable[P, R]) -> Callable[P, R]:
        kept: OrderedDict[Hashable, R] = OrderedDict()
        lock = threading.Lock()

        @functools.wraps(inner)
        def memoised(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                plain = args[1:] if key is not None else args
                found_key: Hashable = (
                    key(args[0]) if key is not None else None,
                    tuple(_key_of(value) for value in plain),
                    tuple(sorted((name, _key_of(value)) for name, value in kwargs.items())),
                )
                hash(found_key)
            except (_Large, TypeError):
                return inner(*args, **kwargs)
            with lock:
                if found_key in kept:
                    kept.move_to_end(found_key)
                    result = kept[found_key]
                    return _copy(result)  # type: ignore[no-any-return]
            result = inner(*args, **kwargs)
            with lock:
                kept[found_key] = result
                while len(kept) > MEMO_SIZE:
                    kept.popitem(last=False)
            return _copy(result)  # type: ignore[no-any-return]

        def cache_clear() -> None:
            with lock:
                kept.clear()

        memoised.cache_clear = cache_clear  # type: ignore[attr-defined]
        memoised.cache_size = lambda: len(kept)  # type: ignore[attr-defined]
        return memoised

    if function is not None:
        return decorate(function)
    return decorate
