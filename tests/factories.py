"""Small builders for test data: valid ID numbers and credit codes, towns, residents."""

from __future__ import annotations

from datetime import date

from sqlalchemy.orm import Session

from luodi.auth.actor import SYSTEM_ACTOR
from luodi.kernels.identifiers import credit_code_check_character, id_check_character
from luodi.registry import service
from luodi.registry.models import Resident, Town
from luodi.registry.schemas import ResidentCreate, TownCreate


def id_number(region: str = "341522", birth: date = date(1990, 5, 17), sequence: int = 123) -> str:
    first17 = f"{region}{birth:%Y%m%d}{sequence:03d}"
    return first17 + id_check_character(first17)


def credit_code(body: str = "91330282MA2AB1C2D") -> str:
    return body + credit_code_check_character(body)


def town(session: Session, code: str = "330282114", name: str = "周巷镇") -> Town:
    return service.create_town(SYSTEM_ACTOR, session, TownCreate(code=code, name=name))


def resident(
    session: Session, town_code: str = "330282114", number: str | None = None, name: str = "张三"
) -> Resident:
    return service.register_resident(
        SYSTEM_ACTOR,
        session,
        ResidentCreate(
            id_number=number or id_number(), name=name, town_code=town_code, phone="13812345678"
        ),
    )
