"""The canonical tables, defined once: warehouse DDL, validation and docs derive from here."""

from __future__ import annotations

from popweave.model.schema import Column, Kind, Table

S, INT, F, B, D, TS, M = (
    Kind.STRING,
    Kind.INTEGER,
    Kind.FLOAT,
    Kind.BOOLEAN,
    Kind.DATE,
    Kind.TIMESTAMP,
    Kind.MONEY,
)

CODE_SYSTEMS: dict[str, str] = {
    "ICD10CM": "http://hl7.org/fhir/sid/icd-10-cm",
    "ICD10PCS": "http://www.cms.gov/Medicare/Coding/ICD10",
    "SNOMED": "http://snomed.info/sct",
    "CPT": "http://www.ama-assn.org/go/cpt",
    "HCPCS": "urn:oid:2.16.840.1.113883.6.285",
    "LOINC": "http://loinc.org",
    "RXNORM": "http://www.nlm.nih.gov/research/umls/rxnorm",
    "NDC": "http://hl7.org/fhir/sid/ndc",
    "CVX": "http://hl7.org/fhir/sid/cvx",
}
"""Code systems popweave knows, with their canonical FHIR URIs."""

SEX = ("female", "male", "other", "unknown")
RACE = (
    "white",
    "black",
    "asian",
    "american_indian_alaska_native",
    "native_hawaiian_pacific_islander",
    "other",
    "multiple",
    "unknown",
)
ETHNICITY = ("hispanic", "not_hispanic", "unknown")
PAYERS = ("medicare", "medicaid", "dual", "commercial", "uninsured", "other")
ENCOUNTER_CLASSES = (
    "inpatient",
    "emergency",
    "ambulatory",
    "outpatient",
    "urgentcare",
    "wellness",
    "home",
    "virtual",
    "observation",
    "snf",
    "hospice",
)
DISCHARGE_DISPOSITIONS = (
    "01",
    "02",
    "03",
    "04",
    "05",
    "06",
    "07",
    "20",
    "21",
    "43",
    "50",
    "51",
    "62",
    "63",
    "65",
    "70",
)
"""NUBC UB-04 patient discharge status codes (FL 17): 01 home, 02 short-term hospital,
03 SNF, 06 home health, 07 left against advice, 20 expired, 50/51 hospice, ..."""
OBSERVATION_CATEGORIES = ("vital-signs", "laboratory", "social-history", "survey", "exam", "other")
PLACES_OF_SERVICE = (
    "01",
    "02",
    "10",
    "11",
    "12",
    "19",
    "20",
    "21",
    "22",
    "23",
    "31",
    "32",
    "34",
    "41",
    "49",
    "50",
    "65",
    "71",
    "72",
    "81",
    "99",
)
"""CMS place-of-service codes: 01 pharmacy, 11 office, 21 inpatient hospital, 23 ED, ..."""

ENCOUNTER_CODE_SYSTEMS = ("ICD10CM", "SNOMED")
CONDITION_CODE_SYSTEMS = ("ICD10CM", "SNOMED")
PROCEDURE_CODE_SYSTEMS = ("CPT", "HCPCS", "SNOMED", "ICD10PCS", "LOINC")
MEDICATION_CODE_SYSTEMS = ("RXNORM", "NDC", "CVX")
OBSERVATION_CODE_SYSTEMS = ("LOINC", "SNOMED")
CLAIM_CODE_SYSTEMS = ("CPT", "HCPCS", "ICD10PCS", "RXNORM", "NDC")

EARLIEST = "1900-01-01"


def _id(name: str, description: str) -> Column:
    return Column(name, S, required=True, description=description)


def _person_ref(required: bool = True) -> Column:
    return Column(
        "person_id",
        S,
        required=required,
        references="person.person_id",
        description="The person this row is about.",
    )


def _encounter_ref() -> Column:
    return Column(
        "encounter_id",
        S,
        references="encounter.encounter_id",
        description="The encounter this row was recorded in, if any.",
    )


def _code_pair(systems: tuple[str, ...], what: str, required: bool = True) -> tuple[Column, Column]:
    return (
        Column(
            "code_system",
            S,
            required=required,
            allowed=systems,
            description=f"Code system of the {what}.",
        ),
        Column(
            "code",
            S,
            required=required,
            description=f"The {what} code.",
            icd10cm="code_system" if "ICD10CM" in systems else None,
        ),
    )


PERSON = Table(
    "person",
    "One row per person in the population.",
    (
        _id("person_id", "Stable identifier of the person."),
        Column("birth_date", D, required=True, not_future=True, not_before=EARLIEST),
        Column("death_date", D, not_future=True, not_before=EARLIEST),
        Column("sex", S, required=True, allowed=SEX, description="Administrative sex."),
        Column("race", S, allowed=RACE, description="OMB race category."),
        Column("ethnicity", S, allowed=ETHNICITY, description="OMB ethnicity category."),
        Column("language", S, description="Preferred language, ISO 639-1 code (en, es, ...)."),
        Column("area_id", S, references="area.area_id", description="Home area."),
        Column("zip", S, description="Five-digit ZIP code of residence."),
        Column(
            "pcp_provider_id",
            S,
            references="provider.provider_id",
            description="Attributed primary care provider.",
        ),
        Column(
            "practice_id",
            S,
            references="practice.practice_id",
            description="Attributed practice (clinic).",
        ),
    ),
    key=("person_id",),
    grain="person",
    ordered=(("birth_date", "death_date"),),
)

AREA = Table(
    "area",
    "Neighbourhoods (census tract, ZIP or similar) with social-determinant indicators.",
    (
        _id("area_id", "Identifier of the area (e.g. census tract GEOID)."),
        Column("name", S, required=True),
        Column("county", S),
        Column("zip", S, description="Main ZIP code of the area."),
        Column("geometry", S, description="GeoJSON Polygon of the area's boundary (WGS84)."),
        Column("centroid_lat", F, minimum=-90, maximum=90),
        Column("centroid_lon", F, minimum=-180, maximum=180),
        Column("population", INT, minimum=0),
        Column("median_income", F, minimum=0, description="Median household income, USD."),
        Column(
            "pct_poverty",
            F,
            minimum=0,
            maximum=100,
            description="% of people below the federal poverty level.",
        ),
        Column(
            "pct_no_vehicle",
            F,
            minimum=0,
            maximum=100,
            description="% of households without a vehicle.",
        ),
        Column(
            "pct_no_high_school",
            F,
            minimum=0,
            maximum=100,
            description="% of adults 25+ without a high-school diploma.",
        ),
        Column(
            "food_access_miles",
            F,
            minimum=0,
            description="Mean distance to a full-service grocery store, miles.",
        ),
        Column(
            "housing_cost_burden",
            F,
            minimum=0,
            maximum=100,
            description="% of households spending more than 30% of income on housing.",
        ),
    ),
    key=("area_id",),
    grain="area",
)

PRACTICE = Table(
    "practice",
    "Clinics (primary care practices) with hours and care-coordination capacity.",
    (
        _id("practice_id", "Identifier of the practice."),
        Column("name", S, required=True),
        Column("area_id", S, references="area.area_id"),
        Column("lat", F, minimum=-90, maximum=90),
        Column("lon", F, minimum=-180, maximum=180),
        Column("hours_per_week", F, minimum=0, maximum=168),
        Column("evening_hours", B, description="Open after 18:00 at least one weekday."),
        Column("coordinators", INT, minimum=0, description="Care coordinators (FTE, rounded)."),
        Column(
            "coordinator_capacity",
            INT,
            minimum=0,
            description="Patients the practice's coordinators can actively manage.",
        ),
    ),
    key=("practice_id",),
    grain="practice",
)

PROVIDER = Table(
    "provider",
    "Clinicians.",
    (
        _id("provider_id", "Identifier of the clinician (NPI where known)."),
        Column("name", S),
        Column("practice_id", S, references="practice.practice_id"),
        Column("specialty", S, description="Specialty, e.g. family medicine, cardiology."),
    ),
    key=("provider_id",),
    grain="provider",
)

ENROLLMENT = Table(
    "enrollment",
    "Coverage spans: who was covered by which payer when (member-months, PMPM).",
    (
        _id("enrollment_id", "Identifier of the span."),
        _person_ref(),
        Column("payer", S, required=True, allowed=PAYERS),
        Column("plan", S),
        Column("start_date", D, required=True, not_before=EARLIEST),
        Column("end_date", D, description="Last covered day; empty while ongoing."),
    ),
    key=("enrollment_id",),
    grain="coverage span",
    ordered=(("start_date", "end_date"),),
)

PROGRAMME_ENROLLMENT = Table(
    "programme_enrollment",
    "Membership of care-management, education or engagement programmes (a pilot, a "
    "diabetes self-management course): who took part in which programme when.",
    (
        _id("programme_enrollment_id", "Identifier of the membership."),
        _person_ref(),
        Column(
            "programme", S, required=True, description="Programme code, e.g. pilot_transitions."
        ),
        Column("start_date", D, required=True, not_future=True, not_before=EARLIEST),
        Column("end_date", D, description="Last day in the programme; empty while ongoing."),
    ),
    key=("programme_enrollment_id",),
    grain="programme membership",
    ordered=(("start_date", "end_date"),),
)

ENCOUNTER = Table(
    "encounter",
    "Contacts with the health system: visits, ED visits, hospital stays.",
    (
        _id("encounter_id", "Identifier of the encounter."),
        _person_ref(),
        Column(
            "encounter_class",
            S,
            required=True,
            allowed=ENCOUNTER_CLASSES,
            description="FHIR Encounter.class, simplified.",
        ),
        Column("start_time", TS, required=True, not_future=True, not_before=EARLIEST),
        Column("end_time", TS),
        Column("practice_id", S, references="practice.practice_id"),
        Column("provider_id", S, references="provider.provider_id"),
        Column(
            "discharge_disposition",
            S,
            allowed=DISCHARGE_DISPOSITIONS,
            description="NUBC discharge status for inpatient stays.",
        ),
        *_code_pair(ENCOUNTER_CODE_SYSTEMS, "primary diagnosis or reason", required=False),
    ),
    key=("encounter_id",),
    grain="encounter",
    ordered=(("start_time", "end_time"),),
)

CONDITION = Table(
    "condition",
    "Diagnoses and problems.",
    (
        _id("condition_id", "Identifier of the condition record."),
        _person_ref(),
        _encounter_ref(),
        Column("onset_date", D, required=True, not_future=True, not_before=EARLIEST),
        Column("abatement_date", D),
        *_code_pair(CONDITION_CODE_SYSTEMS, "diagnosis"),
        Column(
            "source_code_system",
            S,
            allowed=CONDITION_CODE_SYSTEMS,
            description="Code system of the code as received (e.g. SNOMED).",
        ),
        Column("source_code", S, description="The code as received, kept beside the mapped one."),
    ),
    key=("condition_id",),
    grain="condition record",
    ordered=(("onset_date", "abatement_date"),),
)

PROCEDURE = Table(
    "procedure",
    "Procedures and screenings.",
    (
        _id("procedure_id", "Identifier of the procedure record."),
        _person_ref(),
        _encounter_ref(),
        Column("date", D, required=True, not_future=True, not_before=EARLIEST),
        *_code_pair(PROCEDURE_CODE_SYSTEMS, "procedure"),
    ),
    key=("procedure_id",),
    grain="procedure",
)

MEDICATION = Table(
    "medication",
    "Medication orders and dispensings.",
    (
        _id("medication_id", "Identifier of the order or fill."),
        _person_ref(),
        _encounter_ref(),
        Column("start_date", D, required=True, not_future=True, not_before=EARLIEST),
        Column("end_date", D),
        *_code_pair(MEDICATION_CODE_SYSTEMS, "drug"),
        Column("days_supply", INT, minimum=0, maximum=400),
    ),
    key=("medication_id",),
    grain="order or fill",
    ordered=(("start_date", "end_date"),),
)

OBSERVATION = Table(
    "observation",
    "Labs, vital signs and social-needs screening answers (LOINC-coded).",
    (
        _id("observation_id", "Identifier of the observation."),
        _person_ref(),
        _encounter_ref(),
        Column("date", D, required=True, not_future=True, not_before=EARLIEST),
        Column("category", S, allowed=OBSERVATION_CATEGORIES),
        *_code_pair(OBSERVATION_CODE_SYSTEMS, "observation"),
        Column("value_num", F, description="Numeric result."),
        Column("value_text", S, description="Text or coded answer (its display)."),
        Column("value_code", S, description="Coded answer, e.g. a LOINC answer code LA..."),
        Column("unit", S, description="UCUM unit of value_num."),
    ),
    key=("observation_id",),
    grain="observation",
)

CLAIM_LINE = Table(
    "claim_line",
    "Claim lines with allowed and paid amounts.",
    (
        Column("claim_id", S, required=True),
        Column("line_number", INT, required=True, minimum=1),
        _person_ref(),
        _encounter_ref(),
        Column("service_date", D, required=True, not_future=True, not_before=EARLIEST),
        Column("payer", S, required=True, allowed=PAYERS),
        *_code_pair(CLAIM_CODE_SYSTEMS, "billed service", required=False),
        Column(
            "diagnosis_code",
            S,
            description="Principal ICD-10-CM diagnosis on the claim.",
            icd10cm="always",
        ),
        Column("place_of_service", S, allowed=PLACES_OF_SERVICE),
        Column("allowed_amount", M, required=True, minimum=0),
        Column("paid_amount", M, required=True, minimum=0),
    ),
    key=("claim_id", "line_number"),
    grain="claim line",
)

LOAD_LOG = Table(
    "load_log",
    "One row per table per load: what was accepted, rejected, when, and the content hash.",
    (
        Column("load_id", S, required=True),
        Column("source", S, required=True),
        Column("table_name", S, required=True),
        Column("rows_accepted", INT, required=True, minimum=0),
        Column("rows_rejected", INT, required=True, minimum=0),
        Column("started", TS, required=True),
        Column("finished", TS, required=True),
        Column("content_hash", S, required=True, description="SHA-256 of the accepted rows."),
        Column("input_hash", S, description="SHA-256 of the input files (re-runs are skipped)."),
    ),
    key=("load_id", "table_name"),
    grain="table per load",
)

CANONICAL: tuple[Table, ...] = (
    AREA,
    PRACTICE,
    PROVIDER,
    PERSON,
    ENROLLMENT,
    PROGRAMME_ENROLLMENT,
    ENCOUNTER,
    CONDITION,
    PROCEDURE,
    MEDICATION,
    OBSERVATION,
    CLAIM_LINE,
)
"""Clinical and community tables, in load order (referenced tables first)."""

ALL_TABLES: tuple[Table, ...] = (*CANONICAL, LOAD_LOG)
TABLES: dict[str, Table] = {t.name: t for t in ALL_TABLES}


def table(name: str) -> Table:
    """The table definition called ``name``."""
    try:
        return TABLES[name]
    except KeyError:
        known = ", ".join(TABLES)
        raise KeyError(f"unknown table {name!r}; known tables: {known}") from None
