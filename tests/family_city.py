"""A hand-built city of one family and its neighbours, for the tests of who is family
(tests/registry/test_family.py) and of the applicant's context (tests/programs/test_context.py).

周巷镇 household H1: 父 (户主, 1988), 母 (配偶, in Chinese), an uncle (兄弟姐妹), a grandmother
(父母); two children: C1 of 父 and 母, C2 of 父 and a mother registered elsewhere (only her ID
number). 白沙路 household H2: S alone (户主). W has no household. Employers: E1 has a union
since 2020, E2 has none, E3 was never named by the 总工会.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from luodi.registry import city_files
from tests.factories import credit_code, id_number

ZHOUXIANG = "330282114"
BAISHA = "330282001"

FATHER = id_number("341522", date(1988, 3, 2), 131)
MOTHER = id_number("510104", date(1990, 7, 9), 242)
UNCLE = id_number("341522", date(1985, 1, 20), 351)
GRANDMOTHER = id_number("341522", date(1960, 6, 1), 462)
SINGLE = id_number("420102", date(1995, 11, 30), 571)
LONER = id_number("360102", date(2000, 2, 29), 682)
ELSEWHERE = id_number("510104", date(1991, 4, 4), 782)  # C2's mother, not registered here
C1 = id_number("330282", date(2020, 3, 1), 111)
C2 = id_number("330282", date(2019, 9, 15), 222)

E1 = credit_code("91330282MA2AB1C2D")
E2 = credit_code("91330282MA2AB1C3E")
E3 = credit_code("91330282MA2AB1C4F")

FILES = {
    city_files.TOWNS: f"code,name,kind\n{ZHOUXIANG},周巷镇,town\n{BAISHA},白沙路街道,subdistrict\n",
    city_files.RESIDENTS: (
        "id_number,name,town_code,household_number,relation_to_head\n"
        f"{FATHER},父,{ZHOUXIANG},H1,head\n"
        f"{MOTHER},母,{ZHOUXIANG},H1,配偶\n"
        f"{UNCLE},叔,{ZHOUXIANG},H1,兄弟姐妹\n"
        f"{GRANDMOTHER},奶奶,{ZHOUXIANG},H1,parent\n"
        f"{SINGLE},单,{BAISHA},H2,户主\n"
        f"{LONER},独,{BAISHA},,\n"
    ),
    city_files.PERMITS: "permit_number,id_number,town_code,issue_date,expiry_date\n",
    city_files.CHILDREN: (
        "id_number,household_number,child_id_number,child_name,second_parent_id_number\n"
        f"{FATHER},H1,{C1},一,{MOTHER}\n"
        f"{FATHER},H1,{C2},二,{ELSEWHERE}\n"
    ),
    city_files.EMPLOYERS: (
        f"credit_code,name,town_code\n{E1},甲厂,{ZHOUXIANG}\n{E2},乙厂,{BAISHA}\n"
        f"{E3},丙店,{ZHOUXIANG}\n"
    ),
    city_files.EMPLOYMENT: (
        "id_number,credit_code,basis,start_date,end_date,frontline\n"
        f"{FATHER},{E1},labour_contract,2022-01-01,,true\n"
        f"{MOTHER},{E2},labour_contract,2021-05-01,,否\n"
        f"{UNCLE},{E3},business_licence,2020-01-01,,\n"
        f"{SINGLE},{E1},labour_contract,2019-01-01,2023-12-31,true\n"
        f"{SINGLE},{E2},labour_contract,2024-01-01,,是\n"
    ),
    city_files.UNIONS: f"credit_code,union,established_on\n{E1},是,2020-06-01\n{E2},false,\n",
}


def write_family_city(folder: Path, **replace: str) -> Path:
    """The files into ``folder`` (a file's text replaced by ``replace[file stem]``)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in FILES.items():
        (folder / name).write_text(replace.get(name.removesuffix(".csv"), text), encoding="utf-8")
    return folder
