"""Reading the development SMS gateway (``auth.codes.FileSender``'s outbox) back in tests:
the code the last text to a phone carried."""

from __future__ import annotations

import re
from pathlib import Path

CODE = re.compile(r"验证码为 ([0-9]{6,8})")


def read_last_code(path: Path, phone: str) -> str:
    """The code in the last text the outbox holds for ``phone`` (AssertionError if none)."""
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    for line in reversed(lines):
        _time, to, text = line.split("\t", 2)
        if to == phone:
            found = CODE.search(text)
            assert found, f"no code in the text {text!r}"
            return found.group(1)
    raise AssertionError(f"no text to {phone} in {path}")
