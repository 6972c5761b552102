"""How a one-time code reaches a resident's registered phone: a ``CodeSender``.

The city's SMS gateway is one implementation of the protocol; luodi ships two for
development and tests, chosen by ``LUODI_CODE_SENDER``:

- ``file`` (the default): each text appended to ``LUODI_CODE_OUTBOX`` (``var/outbox.txt``) as
  one line ``<UTC time>\\t<phone>\\t<text>``: the stand-in for the gateway, which a test (or a
  developer) reads the code back from;
- ``console``: the text printed on the server's console with the phone masked
  (``138****5678``); the code itself is shown, which is the point in development.

A sender is called after the request's transaction committed (``send_all``), never inside
it: a text is not sent for a code that was rolled back, and a slow gateway holds no database
connection."""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from luodi.kernels.masking import mask_phone
from luodi.settings import Settings, get_settings

logger = logging.getLogger("luodi.codes")


@dataclass(frozen=True)
class Outgoing:
    """A text to send once the transaction that made its code has committed."""

    phone: str
    text: str


class CodeSender(Protocol):
    def send(self, phone: str, text: str) -> None: ...


class FileSender:
    """Appends each text to a file (one line each); parallel sends do not interleave."""

    _lock = threading.Lock()

    def __init__(self, path: Path) -> None:
        self.path = path

    def send(self, phone: str, text: str) -> None:
        line = f"{datetime.now(UTC).isoformat(timespec='seconds')}\t{phone}\t{text}\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as outbox:
                outbox.write(line)
        logger.info("code text to %s appended to %s", mask_phone(phone), self.path)


class ConsoleSender:
    """Prints each text on the server's console (standard error), the phone masked."""

    def send(self, phone: str, text: str) -> None:
        print(f"[短信 SMS → {mask_phone(phone)}] {text}", file=sys.stderr, flush=True)


def configured_sender(settings: Settings | None = None) -> CodeSender:
    """The sender ``LUODI_CODE_SENDER`` names."""
    settings = settings or get_settings()
    if settings.code_sender == "console":
        return ConsoleSender()
    return FileSender(settings.code_outbox)


def send_all(sender: CodeSender, outgoing: Iterable[Outgoing]) -> None:
    for message in outgoing:
        sender.send(message.phone, message.text)
