"""Imports every domain's models so that ``Base.metadata`` knows all tables (Alembic, tests)."""

from luodi.db import Base
from luodi.registry import models as registry_models

__all__ = ["Base", "registry_models"]
