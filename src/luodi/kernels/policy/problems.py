"""Errors of the policy kernel. The kernel imports nothing outside kernels/, so it has its own
error types; the CLI and the services turn them into the shared typed errors."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class PolicyProblem:
    """One mistake in a policy document: where (file, line, column, path), what text, why."""

    path: str
    reason_zh: str
    reason_en: str
    file: str | None = None
    line: int | None = None
    column: int | None = None
    text: str | None = None

    def describe(self) -> str:
        where = ":".join(
            str(part) for part in (self.file or "<policy>", self.line, self.column) if part
        )
        shown = f" `{self.text}`" if self.text else ""
        return f"{where}: {self.path}:{shown} {self.reason_zh} / {self.reason_en}"


@dataclass(eq=False)
class PolicyError(Exception):
    """A policy document that cannot be compiled; lists every problem found."""

    problems: list[PolicyProblem]

    def __str__(self) -> str:
        return "\n".join(problem.describe() for problem in self.problems)


@dataclass(frozen=True)
class ColumnProblem:
    """One input column with bad values: which column, why, some of the residents, how many."""

    column: str
    reason_zh: str
    reason_en: str
    count: int = 0
    resident_ids: tuple[str, ...] = ()
    values: tuple[str, ...] = ()

    def describe(self) -> str:
        ids = ", ".join(self.resident_ids)
        examples = f"; 例 e.g. {', '.join(self.values)}" if self.values else ""
        residents = f" — {self.count} 人 residents: {ids}" if self.count else ""
        return f"列 column {self.column}: {self.reason_zh} / {self.reason_en}{residents}{examples}"


@dataclass(eq=False)
class InputError(Exception):
    """Inputs that cannot be scored; every bad column is listed, nothing is scored."""

    problems: list[ColumnProblem] = field(default_factory=list)

    def __str__(self) -> str:
        return "\n".join(problem.describe() for problem in self.problems)
