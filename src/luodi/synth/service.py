"""Writing a synthetic city to a directory of CSV files, one per department feed."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from luodi.synth.generator import SynthOptions, generate_city


def write_city(options: SynthOptions, directory: Path) -> dict[str, int]:
    """Generate and write every file; returns the rows written per file."""
    return write_frames(generate_city(options), directory)


def write_frames(frames: dict[str, pl.DataFrame], directory: Path) -> dict[str, int]:
    """Write generated frames as the city's CSV files; returns the rows written per file."""
    directory.mkdir(parents=True, exist_ok=True)
    written: dict[str, int] = {}
    for name, frame in frames.items():
        target = directory / name
        partial = target.with_suffix(".csv.partial")
        frame.write_csv(partial, date_format="%Y-%m-%d", float_precision=1)
        partial.replace(target)  # a reader never sees half a file
        written[name] = frame.height
    return written
