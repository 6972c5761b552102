"""Parameters shared by the routers.

An object id in a path is a positive 32-bit integer (the ``INTEGER`` of both databases): a
larger number, a negative one or text cannot name an object, so the app answers 404 for it
(``app.py`` turns a path parameter that fails validation into "not found") instead of letting
the database driver overflow into a 500.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

from luodi.errors import MAX_ID

ObjectId = Annotated[int, Path(ge=1, le=MAX_ID)]
