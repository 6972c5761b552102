"""Imports every domain's models so that ``Base.metadata`` knows all tables (Alembic, tests)."""

from luodi.allocation import models as allocation_models
from luodi.audit import models as audit_models
from luodi.auth import models as auth_models
from luodi.db import Base
from luodi.facts import models as facts_models
from luodi.feeds import models as feeds_models
from luodi.forecast import models as forecast_models
from luodi.jobs import models as jobs_models
from luodi.notices import models as notices_models
from luodi.programs import models as programs_models
from luodi.ratings import models as ratings_models
from luodi.registry import models as registry_models
from luodi.scoring import models as scoring_models

__all__ = [
    "Base",
    "allocation_models",
    "audit_models",
    "auth_models",
    "facts_models",
    "feeds_models",
    "forecast_models",
    "jobs_models",
    "notices_models",
    "programs_models",
    "ratings_models",
    "registry_models",
    "scoring_models",
]
