"""Policies as files: loading with clear errors, the folder of published policies, and
scoring, explaining and comparing plain input files (the engine without a database)."""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import polars as pl

from luodi.errors import FieldProblem, Invalid, NotFound
from luodi.files import check_writable, read_table, write_table
from luodi.kernels.policy import (
    KEY,
    TOTAL,
    CompiledPolicy,
    InputError,
    Policy,
    PolicyError,
    PolicyProblem,
    prepare_inputs,
)
from luodi.kernels.policy.compare import Comparison, compare_totals
from luodi.kernels.policy.explain import Explanation, explain


def _pointer(problem: PolicyProblem, text: str) -> str:
    """The source line of a problem with a caret under its column."""
    if problem.line is None:
        return ""
    lines = text.splitlines()
    if not 0 < problem.line <= len(lines):
        return ""
    source = lines[problem.line - 1]
    column = max((problem.column or 1) - 1, 0)
    # Wide (CJK) characters take two cells in a terminal: pad the caret to match.
    padding = "".join("  " if ord(ch) > 0x2E80 else " " for ch in source[:column])
    return f"    {source}\n    {padding}^"


def policy_invalid(error: PolicyError, text: str, name: str) -> Invalid:
    count = len(error.problems)
    listing = "\n".join(
        f"  {problem.describe()}\n{_pointer(problem, text)}".rstrip() for problem in error.problems
    )
    return Invalid(
        f"策略文件 {name} 有 {count} 处错误：\n{listing}",
        f"policy {name} has {count} problem(s), listed above",
        [
            FieldProblem(
                problem.path or "document",
                problem.text,
                problem.reason_zh,
                problem.reason_en,
                file=problem.file,
                row=problem.line,
            )
            for problem in error.problems
        ],
    )


def input_invalid(error: InputError, name: str) -> Invalid:
    listing = "\n".join(f"  {problem.describe()}" for problem in error.problems)
    return Invalid(
        f"输入文件 {name} 有 {len(error.problems)} 处问题，未计算任何积分：\n{listing}",
        f"input {name} has {len(error.problems)} problem(s), listed above; nothing was scored",
        [
            FieldProblem(
                problem.column,
                list(problem.resident_ids),
                problem.reason_zh,
                f"{problem.reason_en} ({problem.count} residents)",
                file=name,
            )
            for problem in error.problems
        ],
    )


def compile_text(text: str, name: str) -> CompiledPolicy:
    try:
        return CompiledPolicy.from_text(text, name)
    except PolicyError as error:
        raise policy_invalid(error, text, name) from None


COMPILED_CACHE_SIZE = 32
"""Distinct policy texts kept compiled: a city scores with a handful of versions."""

_compiled: OrderedDict[str, CompiledPolicy] = OrderedDict()
_compiled_lock = threading.Lock()


def compiled_from_text(text: str, name: str = "stored policy") -> CompiledPolicy:
    """The compiled policy of a stored text (a scoring run's), compiled once per digest.

    Parsing and checking the YAML was 72 % of the CPU of a resident's score request; the text
    of a run never changes, so its SHA-256 names the compiled result. A compiled policy is
    never changed after it is built, so request threads share it. The cache is bounded (least
    recently used out first); two threads missing at once both compile, and either result is
    the same."""
    digest = hashlib.sha256(text.encode()).hexdigest()
    with _compiled_lock:
        cached = _compiled.get(digest)
        if cached is not None:
            _compiled.move_to_end(digest)
            return cached
    compiled = compile_text(text, name)
    with _compiled_lock:
        _compiled[digest] = compiled
        _compiled.move_to_end(digest)
        while len(_compiled) > COMPILED_CACHE_SIZE:
            _compiled.popitem(last=False)
    return compiled


def load_policy_file(path: Path, shown: str | None = None) -> CompiledPolicy:
    """A policy document from a file; its problems name it ``shown`` (default: the file's
    name), never by the path it has on the server."""
    if not path.is_file():
        raise NotFound(f"找不到策略文件 {path}", f"policy file not found: {path}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise Invalid(
            f"策略文件 {path.name} 不是 UTF-8 编码", f"policy {path.name} is not UTF-8"
        ) from None
    return compile_text(text, shown or path.name)


# ----------------------------------------------------------------------------- the policy folder


def published_policies(directory: Path | None = None) -> list[CompiledPolicy]:
    """Every policy document in the folder, by id then effective date."""
    from luodi.settings import get_settings  # pydantic-settings is slow to import

    folder = directory or get_settings().policy_dir
    if not folder.is_dir():
        # Named by its setting: the folder's path on the server is nobody's business.
        raise NotFound(
            "策略目录不存在（设置 LUODI_POLICY_DIR）",
            "policy folder not found (setting LUODI_POLICY_DIR)",
        )
    compiled = [
        load_policy_file(path, path.relative_to(folder).as_posix())
        for path in sorted(folder.rglob("*.yaml"))
    ]
    return sorted(compiled, key=lambda item: (item.policy.id, item.policy.effective_from))


def in_force(policy: Policy, on: date) -> bool:
    return policy.effective_from <= on and (
        policy.effective_to is None or on <= policy.effective_to
    )


def find_policy(
    policy_id: str, on: date, version: str | None = None, directory: Path | None = None
) -> CompiledPolicy:
    """The version of ``policy_id`` in force on ``on`` (or the named ``version``)."""
    published = published_policies(directory)
    versions = [item for item in published if item.policy.id == policy_id]
    if not versions:
        known = sorted({item.policy.id for item in published})
        raise NotFound(
            f"没有策略 {policy_id}（已有：{', '.join(known) or '无'}）",
            f"no policy {policy_id} (known: {', '.join(known) or 'none'})",
        )
    if version is not None:
        for item in versions:
            if item.policy.version == version:
                return item
        raise NotFound(
            f"策略 {policy_id} 没有版本 {version}", f"policy {policy_id} has no version {version}"
        )
    current = [item for item in versions if in_force(item.policy, on)]
    if not current:
        listed = ", ".join(
            f"{item.policy.version} ({item.policy.effective_from}–{item.policy.effective_to or ''})"
            for item in versions
        )
        raise NotFound(
            f"策略 {policy_id} 在 {on} 没有生效的版本（{listed}）",
            f"policy {policy_id} has no version in force on {on} ({listed})",
        )
    return current[-1]


def resolve_policy(reference: str, on: date) -> CompiledPolicy:
    """A path to a policy file, or the id of a published policy."""
    path = Path(reference)
    if path.suffix.lower() in (".yaml", ".yml") or path.exists():
        return load_policy_file(path)
    return find_policy(reference, on)


# ----------------------------------------------------------------------------- plain files


def read_inputs(compiled: CompiledPolicy, path: Path) -> pl.DataFrame:
    frame = read_table(path)
    try:
        return prepare_inputs(frame, compiled.policy)
    except InputError as error:
        raise input_invalid(error, path.name) from None


@dataclass(frozen=True)
class ScoreSummary:
    residents: int
    mean: float
    minimum: float
    maximum: float
    output: Path


def score_file(compiled: CompiledPolicy, source: Path, output: Path, as_of: date) -> ScoreSummary:
    check_writable(output)
    points = compiled.score(read_inputs(compiled, source), as_of)
    write_table(points, output)
    stats = points.select(
        pl.len(),
        pl.col(TOTAL).mean().alias("mean"),
        pl.col(TOTAL).min().alias("min"),
        pl.col(TOTAL).max().alias("max"),
    ).row(0)
    return ScoreSummary(stats[0], stats[1] or 0.0, stats[2] or 0.0, stats[3] or 0.0, output)


def explain_file(
    compiled: CompiledPolicy, source: Path, resident_id: str, as_of: date
) -> Explanation:
    inputs = read_inputs(compiled, source)
    try:
        return explain(compiled, inputs, resident_id, as_of)
    except KeyError:
        raise NotFound(
            f"输入文件 {source.name} 中没有居民 {resident_id}",
            f"no resident {resident_id} in {source.name}",
        ) from None


def compare_files(
    old: CompiledPolicy,
    new: CompiledPolicy,
    source: Path,
    as_of: date,
    thresholds: list[float],
    top: int,
    output: Path | None = None,
) -> Comparison:
    if output is not None:
        check_writable(output)
    frame = read_table(source)
    scored = []
    for compiled in (old, new):
        try:
            inputs = prepare_inputs(frame, compiled.policy)
        except InputError as error:
            raise input_invalid(
                error, f"{source.name} ({compiled.policy.id} {compiled.policy.version})"
            ) from None
        scored.append(compiled.score(inputs, as_of).select(KEY, TOTAL))
    if scored[0].height == 0:
        raise Invalid(f"输入文件 {source.name} 没有数据行", f"input {source.name} has no rows")
    comparison = compare_totals(scored[0], scored[1], thresholds=thresholds, top=top)
    if output is not None:
        write_table(comparison.per_resident, output)
    return comparison
