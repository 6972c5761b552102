"""The feeds a deployment declares (``LUODI_FEED_DIR``, the shipped ``feeds/`` by default)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType

from luodi.errors import Invalid, NotFound
from luodi.kernels.feeds.spec import Aggregate, Fact, FeedSpec, FeedSpecError, load_feed_spec
from luodi.settings import get_settings


def feed_dir() -> Path:
    return get_settings().feed_dir


def _spec_invalid(error: FeedSpecError) -> Invalid:
    return Invalid(
        f"数据源声明 {error.source} 有错误：{'；'.join(error.problems)}",
        f"feed declaration {error.source} is invalid: {'; '.join(error.problems)}",
    )


FolderSignature = tuple[tuple[str, int, int], ...]


def _signature(folder: Path) -> FolderSignature:
    """Names, modification times and sizes: a changed declaration is read again."""
    return tuple(
        (path.name, stat.st_mtime_ns, stat.st_size)
        for path in sorted(folder.glob("*.yaml"))
        for stat in [path.stat()]
    )


def load_feeds(directory: Path | None = None) -> Mapping[str, FeedSpec]:
    """Every ``*.yaml`` of the folder, checked; the file name must be the feed's id."""
    folder = directory or feed_dir()
    return _catalog(folder, _signature(folder))[0]


@lru_cache(maxsize=8)
def _catalog(
    folder: Path, _signature: FolderSignature
) -> tuple[Mapping[str, FeedSpec], Mapping[str, Variable]]:
    feeds: dict[str, FeedSpec] = {}
    for path in sorted(folder.glob("*.yaml")):
        try:
            spec = load_feed_spec(path.read_text(encoding="utf-8"), path.name)
        except FeedSpecError as error:
            raise _spec_invalid(error) from None
        if spec.id != path.stem:
            raise Invalid(
                f"数据源声明 {path.name} 的 id 应为 {path.stem}，实为 {spec.id}",
                f"feed declaration {path.name} must have id {path.stem}, has {spec.id}",
            )
        feeds[spec.id] = spec
    return MappingProxyType(feeds), MappingProxyType(_check_variables(feeds))


def find_feed(feed_id: str, directory: Path | None = None) -> FeedSpec:
    feeds = load_feeds(directory)
    if feed_id not in feeds:
        raise NotFound(
            f"没有数据源 {feed_id}；可用：{', '.join(feeds) or '（无）'}",
            f"no feed {feed_id}; available: {', '.join(feeds) or '(none)'}",
        )
    return feeds[feed_id]


@dataclass(frozen=True)
class Variable:
    """A policy input that feeds provide, and how facts add up to its value on a date."""

    name: str
    aggregate: Aggregate
    window_years: int | None
    feeds: tuple[str, ...]
    label_zh: str
    label_en: str


def _check_variables(feeds: Mapping[str, FeedSpec]) -> dict[str, Variable]:
    variables: dict[str, Variable] = {}
    for spec in feeds.values():
        for fact in spec.facts:
            seen = variables.get(fact.variable)
            if seen is None:
                variables[fact.variable] = _variable(spec, fact)
                continue
            if (seen.aggregate, seen.window_years) != (fact.aggregate, fact.window_years):
                raise Invalid(
                    f"变量 {fact.variable} 在数据源 {seen.feeds[0]} 与 {spec.id} 中的汇总方式不同",
                    f"variable {fact.variable} is aggregated differently in feeds "
                    f"{seen.feeds[0]} and {spec.id}",
                )
            if spec.id not in seen.feeds:
                variables[fact.variable] = Variable(
                    seen.name,
                    seen.aggregate,
                    seen.window_years,
                    (*seen.feeds, spec.id),
                    seen.label_zh,
                    seen.label_en,
                )
    return variables


def _variable(spec: FeedSpec, fact: Fact) -> Variable:
    label = fact.label or spec.title
    return Variable(
        fact.variable, fact.aggregate, fact.window_years, (spec.id,), label.zh, label.en
    )


def fact_variables(directory: Path | None = None) -> Mapping[str, Variable]:
    """Every variable the declared feeds yield."""
    folder = directory or feed_dir()
    return _catalog(folder, _signature(folder))[1]
