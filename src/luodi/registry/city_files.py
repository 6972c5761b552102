"""The files of a city directory: what ``luodi synth`` writes and ``luodi load`` reads.

Each names its columns; every row that names a person carries ``id_number``. Dates are ISO
(YYYY-MM-DD); booleans true/false (是/否 accepted on reading).
"""

from __future__ import annotations

TOWNS = "towns.csv"
RESIDENTS = "residents.csv"
PERMITS = "permits.csv"
PERMIT_ENDORSEMENTS = "permit_endorsements.csv"
CHILDREN = "children.csv"
EMPLOYERS = "employers.csv"
EMPLOYMENT = "employment.csv"
SOCIAL_INSURANCE = "social_insurance.csv"
EDUCATION = "education.csv"
HOUSING = "housing.csv"
TAX = "tax.csv"
VOLUNTEERING_HONOURS = "volunteering_honours.csv"
VIOLATIONS = "violations.csv"
MEDICAL_INSURANCE = "medical_insurance.csv"
VACCINATION = "vaccination.csv"
SCHOOLS = "schools.csv"
HOUSING_UNITS = "housing_units.csv"
UNIONS = "unions.csv"
SCHOOL_INTAKES = "school_intakes.csv"

COLUMNS: dict[str, list[str]] = {
    TOWNS: ["code", "name", "kind"],
    RESIDENTS: [
        "id_number",
        "name",
        "sex",
        "birth_date",
        "origin_province",
        "phone",
        "town_code",
        "household_number",
    ],
    PERMITS: ["permit_number", "id_number", "town_code", "issue_date", "expiry_date", "status"],
    PERMIT_ENDORSEMENTS: ["id_number", "permit_number", "endorsed_on"],
    CHILDREN: [
        "id_number",
        "household_number",
        "child_id_number",
        "child_name",
        "birth_date",
        "vaccination_certificate",
        "school_name",
        "grade",
    ],
    EMPLOYERS: ["credit_code", "name", "town_code"],
    EMPLOYMENT: ["id_number", "credit_code", "basis", "start_date", "end_date"],
    SOCIAL_INSURANCE: ["id_number", "period", "months_paid", "back_paid", "credit_code"],
    EDUCATION: ["id_number", "education", "skill_level"],
    HOUSING: ["id_number", "record_number", "housing", "start_date", "end_date", "town_code"],
    TAX: ["id_number", "tax_year", "tax_paid_yuan", "credit_code"],
    VOLUNTEERING_HONOURS: [
        "record_number",
        "id_number",
        "kind",
        "record_date",
        "hours",
        "blood_ml",
        "level",
        "title",
    ],
    VIOLATIONS: ["case_number", "id_number", "kind", "decided_on", "sentence_months"],
    MEDICAL_INSURANCE: ["id_number", "period", "months_paid", "back_paid", "scheme"],
    VACCINATION: ["id_number", "child_id_number", "certificate_number", "checked_on", "complete"],
    SCHOOLS: ["school_id", "name", "town_code", "stage", "entry_grade", "seats", "hot"],
    HOUSING_UNITS: [
        "unit_id",
        "project_id",
        "project_name",
        "town_code",
        "layout",
        "area_m2",
        "monthly_rent_fen",
    ],
    SCHOOL_INTAKES: [
        "school_year",
        "school_id",
        "town_code",
        "grade",
        "seats",
        "applicants",
        "placed",
    ],
}

REGISTRY_FILES = [TOWNS, RESIDENTS, PERMITS, CHILDREN, EMPLOYERS, EMPLOYMENT]
"""Loaded into the registry tables; the other files are department feeds and programs."""

REQUIRED: dict[str, list[str]] = {
    TOWNS: ["code", "name"],
    RESIDENTS: ["id_number", "name", "town_code"],
    PERMITS: ["permit_number", "id_number", "town_code", "issue_date", "expiry_date"],
    CHILDREN: ["household_number", "child_id_number", "child_name"],
    EMPLOYERS: ["credit_code", "name", "town_code"],
    EMPLOYMENT: ["id_number", "credit_code", "basis", "start_date"],
    UNIONS: ["credit_code", "union"],
}

OPTIONAL_COLUMNS: dict[str, list[str]] = {
    RESIDENTS: ["relation_to_head"],
    PERMITS: ["status_date"],
    CHILDREN: ["second_parent_id_number"],
    EMPLOYMENT: ["frontline"],
    UNIONS: ["credit_code", "union", "established_on"],
}
"""Registry columns a file may carry beyond ``COLUMNS`` (the feeds' optional columns: who is
family, frontline posts, employers' unions); the registry reads them when they are there."""

HISTORY_FILES = [SCHOOL_INTAKES]
"""Written by ``luodi synth --years N`` only (N ≥ 1), loaded when present: the entry-grade
intakes of past school years (the forecast's history, ``forecast.models.SchoolIntake``)."""

OPTIONAL_REGISTRY_FILES = [UNIONS]
"""Also loaded into the registry when the directory has them (employers' unions, from the
总工会); a directory without the file leaves the unions the registry has."""


def registry_columns(name: str) -> list[str]:
    """Every column the registry reads from the file ``name``, in order."""
    known = COLUMNS.get(name, [])
    return [*known, *(column for column in OPTIONAL_COLUMNS.get(name, []) if column not in known)]
