"""The programs a deployment declares (``LUODI_PROGRAM_DIR``, the shipped ``programs/`` by
default), read once per change of the folder (names, times and sizes, as ``feeds/catalog``)."""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

from luodi.errors import NotFound
from luodi.programs.models import ProgramCycle
from luodi.programs.spec import ProgramSpec, ProgramSpecError, load_program_spec
from luodi.settings import get_settings

if TYPE_CHECKING:  # a type only: the feeds' catalog (and its spec parser) stays unloaded
    from luodi.feeds.catalog import FolderSignature


def _signature(folder: Path) -> FolderSignature:
    """Names, modification times and sizes: a changed program is read again."""
    return tuple(
        (path.name, stat.st_mtime_ns, stat.st_size)
        for path in sorted(folder.glob("*.yaml"))
        for stat in [path.stat()]
    )


def load_programs(directory: Path | None = None) -> Mapping[str, tuple[ProgramSpec, str]]:
    """Every readable ``*.yaml`` of the folder, checked: program id → (spec, the document's
    text). A malformed file is left out (``broken_programs`` names it), so that one bad
    document does not stop every other program."""
    folder = directory or get_settings().program_dir
    return _catalog(folder, _signature(folder))[0]


def broken_programs(directory: Path | None = None) -> tuple[ProgramSpecError, ...]:
    """The folder's files that could not be read as programs, each with its problems."""
    folder = directory or get_settings().program_dir
    return _catalog(folder, _signature(folder))[1]


@lru_cache(maxsize=8)
def _catalog(
    folder: Path, _signature: FolderSignature
) -> tuple[Mapping[str, tuple[ProgramSpec, str]], tuple[ProgramSpecError, ...]]:
    found: dict[str, tuple[ProgramSpec, str]] = {}
    broken: list[ProgramSpecError] = []
    for path in sorted(folder.glob("*.yaml")):
        try:
            text = path.read_text(encoding="utf-8")
            spec = load_program_spec(text, path.name)
        except UnicodeDecodeError:
            broken.append(ProgramSpecError(path.name, ["不是 UTF-8 编码 / not UTF-8"]))
        except ProgramSpecError as error:
            broken.append(error)
        else:
            found[spec.id] = (spec, text)
    return MappingProxyType(found), tuple(broken)


def broken_note(broken: tuple[ProgramSpecError, ...]) -> tuple[str, str]:
    """(zh, en) naming each malformed program file and its first problems, or empty."""
    if not broken:
        return "", ""
    listing = "; ".join(
        f"{error.source}: {'; '.join(error.problems[:3])}"
        + (
            f" …（共 {len(error.problems)} 处 / {len(error.problems)} in all）"
            if len(error.problems) > 3
            else ""
        )
        for error in broken
    )
    return (
        f"；以下项目文件有误，未能读取：{listing}",
        f"; malformed program files not read: {listing}",
    )


def find_program(program_id: str) -> tuple[ProgramSpec, str]:
    programs = load_programs()
    if program_id not in programs:
        # The program asked for may be the one in a malformed file: say which files failed.
        zh, en = broken_note(broken_programs())
        raise NotFound(
            f"没有项目 {program_id}（可用：{', '.join(programs)}）{zh}",
            f"no program {program_id} (available: {', '.join(programs)}){en}",
        )
    return programs[program_id]


def cycle_spec(cycle: ProgramCycle) -> ProgramSpec:
    """The program as the cycle copied it when it opened (a later edit never applies)."""
    return _spec_of_text(cycle.program_text, cycle.program_id)


@lru_cache(maxsize=32)
def _spec_of_text(text: str, source: str) -> ProgramSpec:
    # Specs are frozen models: one parse per document text serves every request.
    return load_program_spec(text, source)
