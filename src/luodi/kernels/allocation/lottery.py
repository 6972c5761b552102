"""The published lottery (DESIGN.md, "Contracts"): anyone holding a run's seed can recompute
every draw with nothing but SHA-256."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt


def lottery_number(seed: str | int, applicant_id: str) -> int:
    """First 8 bytes, big-endian, of SHA-256 of ``"{seed}:{applicant_id}"``; smaller wins."""
    digest = hashlib.sha256(f"{seed}:{applicant_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def lottery_numbers(seed: str | int, applicant_ids: Sequence[str]) -> npt.NDArray[np.uint64]:
    """The lottery number of every applicant, as unsigned 64-bit integers."""
    prefix = f"{seed}:".encode()
    sha256 = hashlib.sha256
    # One C call per applicant and no intermediate objects but the digest: about a million a
    # second, which is most of what a run of a million applicants costs.
    return np.fromiter(
        (
            int.from_bytes(sha256(prefix + applicant_id.encode()).digest()[:8], "big")
            for applicant_id in applicant_ids
        ),
        dtype=np.uint64,
        count=len(applicant_ids),
    )
