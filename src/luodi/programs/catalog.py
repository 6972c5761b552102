"""The programs a deployment declares (``LUODI_PROGRAM_DIR``, the shipped ``programs/`` by
default), read once per change of the folder (names, times and sizes, as ``feeds/catalog``)."""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType

from luodi.errors import Invalid, NotFound
from luodi.feeds.catalog import FolderSignature
from luodi.programs.models import ProgramCycle
from luodi.programs.spec import ProgramSpec, ProgramSpecError, load_program_spec
from luodi.settings import get_settings


def _signature(folder: Path) -> FolderSignature:
    """Names, modification times and sizes: a changed program is read again."""
    return tuple(
        (path.name, stat.st_mtime_ns, stat.st_size)
        for path in sorted(folder.glob("*.yaml"))
        for stat in [path.stat()]
    )


def load_programs(directory: Path | None = None) -> Mapping[str, tuple[ProgramSpec, str]]:
    """Every ``*.yaml`` of the folder, checked: program id → (spec, the document's text)."""
    folder = directory or get_settings().program_dir
    return _catalog(folder, _signature(folder))


@lru_cache(maxsize=8)
def _catalog(folder: Path, _signature: FolderSignature) -> Mapping[str, tuple[ProgramSpec, str]]:
    found: dict[str, tuple[ProgramSpec, str]] = {}
    for path in sorted(folder.glob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        try:
            spec = load_program_spec(text, path.name)
        except ProgramSpecError as error:
            raise Invalid(
                f"项目文件 {path.name} 有误：{'; '.join(error.problems)}",
                f"program file {path.name} is invalid: {'; '.join(error.problems)}",
            ) from None
        found[spec.id] = (spec, text)
    return MappingProxyType(found)


def find_program(program_id: str) -> tuple[ProgramSpec, str]:
    programs = load_programs()
    if program_id not in programs:
        raise NotFound(
            f"没有项目 {program_id}（可用：{', '.join(programs)}）",
            f"no program {program_id} (available: {', '.join(programs)})",
        )
    return programs[program_id]


def cycle_spec(cycle: ProgramCycle) -> ProgramSpec:
    """The program as the cycle copied it when it opened (a later edit never applies)."""
    return _spec_of_text(cycle.program_text, cycle.program_id)


@lru_cache(maxsize=32)
def _spec_of_text(text: str, source: str) -> ProgramSpec:
    # Specs are frozen models: one parse per document text serves every request.
    return load_program_spec(text, source)
