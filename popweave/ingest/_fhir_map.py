"""FHIR R4 resources to canonical rows: one function per resource type.

Shared by the fast path (resources as parsed by orjson) and the validating path (resources
checked by fhir.resources first), so both give the same rows. Every value is handed to the
loader as text (or None); the loader reads and checks types, so a wrongly typed FHIR value
(``"birthDate": 12``) is quarantined by the loader with reason ``wrong_type``.

Conventions:
- ids are the referenced resource's ``id``; references may be relative (``Patient/1``),
  absolute (``https://server/fhir/Patient/1/_history/2``), ``urn:uuid:`` (Bundle fullUrl),
  contained (``#id``) or conditional (``Practitioner?identifier=system|value``, resolved
  through identifiers of resources read earlier, else the identifier's value);
- dates are the calendar date as recorded (``2020-05-01T23:00:00-05:00`` -> 2020-05-01);
  partial dates are completed to the first day (``1980`` -> 1980-01-01);
- timestamps keep their offset; the loader converts them to UTC wall-clock times;
- popweave data FHIR has no element for is carried in extensions ``EXT + column name``.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

import pyarrow as pa

from popweave.model import TABLES
from popweave.model.tables import CODE_SYSTEMS

Json = dict[str, Any]
Row = tuple[Any, ...]

EXT = "https://popweave.org/fhir/StructureDefinition/"
"""Base URL of popweave's extensions; the extension's name is the canonical column name."""
AREA_TAG = {"system": EXT + "kind", "code": "area"}
"""meta.tag marking a Location that is a popweave area (neighbourhood)."""

US_CORE = "http://hl7.org/fhir/us/core/StructureDefinition/"
US_RACE = US_CORE + "us-core-race"
US_ETHNICITY = US_CORE + "us-core-ethnicity"
OMB_SYSTEM = "urn:oid:2.16.840.1.113883.6.238"
NULL_FLAVOR = "http://terminology.hl7.org/CodeSystem/v3-NullFlavor"
BCP47 = "urn:ietf:bcp:47"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
NUBC = "http://www.nubc.org/patient-discharge"
SOPT = "urn:oid:2.16.840.1.113883.3.221.5"
POS = "https://www.cms.gov/Medicare/Coding/place-of-service-codes/Place_of_Service_Code_Set"
ADJUDICATION = "http://terminology.hl7.org/CodeSystem/adjudication"
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
UCUM = "http://unitsofmeasure.org"

SYSTEMS: dict[str, str] = {uri: name for name, uri in CODE_SYSTEMS.items()} | {
    "urn:oid:2.16.840.1.113883.6.90": "ICD10CM",
    "http://hl7.org/fhir/sid/icd-10": "ICD10CM",
    "urn:oid:2.16.840.1.113883.6.96": "SNOMED",
    "urn:oid:2.16.840.1.113883.6.12": "CPT",
    "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets": "HCPCS",
    "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets": "HCPCS",
    "urn:oid:2.16.840.1.113883.6.4": "ICD10PCS",
    "http://www.cms.gov/Medicare/Coding/ICD10PCS": "ICD10PCS",
    "urn:oid:2.16.840.1.113883.6.1": "LOINC",
    "urn:oid:2.16.840.1.113883.6.88": "RXNORM",
    "urn:oid:2.16.840.1.113883.6.69": "NDC",
    "urn:oid:2.16.840.1.113883.12.292": "CVX",
}
"""Code system URIs (and common OIDs) to popweave's code system names."""

RACE = {
    "1002-5": "american_indian_alaska_native",
    "2028-9": "asian",
    "2054-5": "black",
    "2076-8": "native_hawaiian_pacific_islander",
    "2106-3": "white",
    "2131-1": "other",
    "UNK": "unknown",
    "ASKU": "unknown",
}
ETHNICITY = {"2135-2": "hispanic", "2186-5": "not_hispanic", "UNK": "unknown", "ASKU": "unknown"}

ENCOUNTER_CLASS = {
    "AMB": "ambulatory",
    "EMER": "emergency",
    "IMP": "inpatient",
    "ACUTE": "inpatient",
    "NONAC": "snf",
    "OBSENC": "observation",
    "SS": "observation",
    "HH": "home",
    "VR": "virtual",
    "PRENC": "ambulatory",
    "FLD": "outpatient",
}
"""v3 ActCode encounter classes to canonical ones."""

DISPOSITION = {
    "home": "01",
    "hosp": "02",
    "snf": "03",
    "other-hcf": "05",
    "aadvice": "07",
    "exp": "20",
    "rehab": "62",
    "long": "63",
    "psy": "65",
}
"""HL7 discharge-disposition codes to NUBC patient discharge status."""

ALLOWED_WORDS = ("eligible", "allowed", "line_alowd_chrg_amt")
PAID_WORDS = ("benefit", "paid", "paidtoprovider", "payment", "line_nch_pmt_amt")

OBS_CATEGORIES = frozenset(TABLES["observation"].column("category").allowed or ())

RESOURCE_TABLE: dict[str, str] = {
    "Location": "area",
    "Organization": "practice",
    "Practitioner": "provider",
    "Patient": "person",
    "Coverage": "enrollment",
    "EpisodeOfCare": "programme_enrollment",
    "Encounter": "encounter",
    "Condition": "condition",
    "Observation": "observation",
    "MedicationRequest": "medication",
    "Immunization": "medication",
    "Procedure": "procedure",
    "ExplanationOfBenefit": "claim_line",
    "Claim": "claim_line",
}
"""Which canonical table each imported resource type fills."""

LEVEL: dict[str, int] = {
    "Medication": 0,
    "Location": 0,
    "Organization": 1,
    "PractitionerRole": 2,
    "Practitioner": 3,
    "Patient": 4,
    "Coverage": 5,
    "EpisodeOfCare": 5,
    "Encounter": 5,
    "Condition": 6,
    "Observation": 6,
    "MedicationRequest": 6,
    "Immunization": 6,
    "Procedure": 6,
    "ExplanationOfBenefit": 6,
    "Claim": 7,
}
"""Resource types in load order: a level only references levels before it (the loader
checks references against rows loaded earlier). Medication and PractitionerRole are read
for what other resources refer to; they fill no table themselves."""
LEVELS = max(LEVEL.values()) + 1

SUBJECT: dict[str, str] = {
    "Coverage": "beneficiary",
    "EpisodeOfCare": "patient",
    "Encounter": "subject",
    "Condition": "subject",
    "Observation": "subject",
    "MedicationRequest": "subject",
    "Immunization": "patient",
    "Procedure": "subject",
    "ExplanationOfBenefit": "patient",
    "Claim": "patient",
}
"""The element naming the patient: a resource without it is invalid (nothing to attach to)."""


class Invalid(Exception):
    """The resource breaks FHIR's rules in a way that leaves no row to make."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def txt(v: Any) -> str | None:
    """A JSON value as the loader's text: numbers and booleans as JSON spells them."""
    if v is None or type(v) is str:
        return v
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, dt.date):
        return v.isoformat()
    return str(v)


def date(v: Any) -> str | None:
    """The calendar date of a FHIR date or dateTime; partial dates get the first day."""
    if type(v) is str:
        n = len(v)
        if n >= 10:
            return v[:10]
        if n == 4:
            return v + "-01-01"
        if n == 7:
            return v + "-01"
        return v
    return txt(v)


def _crosswalk() -> Callable[[str], str | None] | None:
    """SNOMED -> ICD-10-CM from popweave.terminology, when that module is installed."""
    try:
        from popweave.terminology import crosswalk  # type: ignore[attr-defined,unused-ignore]
    except ImportError:
        return None
    fn: Any = getattr(crosswalk, "snomed_to_icd10", None)
    if fn is None:
        return None
    if isinstance(fn, Mapping):
        table = fn

        def look(code: str) -> str | None:
            got = table.get(code)
            return got if isinstance(got, str) else None

        return look
    if callable(fn):

        @lru_cache(maxsize=65536)
        def call(code: str) -> str | None:
            try:  # vectorised over an Arrow array of codes
                got = fn(pa.array([code], pa.string()))[0].as_py()
            except (TypeError, AttributeError, pa.ArrowException):
                got = fn(code)
            if isinstance(got, list | tuple):
                got = got[0] if got else None
            return got if isinstance(got, str) and got else None

        return call
    return None


def _coding_pairs(cc: Any) -> list[tuple[str | None, Any, Json]]:
    """(popweave system name or None, code, coding) for each coding of a CodeableConcept."""
    if not isinstance(cc, dict):
        return []
    out = []
    for c in cc.get("coding") or ():
        if isinstance(c, dict):
            out.append((SYSTEMS.get(str(c.get("system"))), c.get("code"), c))
    return out


def pick(cc: Any, prefer: tuple[str, ...]) -> tuple[str | None, str | None]:
    """The (system, code) of the first coding in the preferred systems' order."""
    if type(cc) is dict:
        codings = cc.get("coding")
        if type(codings) is list and len(codings) == 1:  # the common case, fast
            c = codings[0]
            if type(c) is dict:
                system = SYSTEMS.get(c.get("system"))  # type: ignore[arg-type]
                code = c.get("code")
                if system in prefer and code is not None:
                    return system, code if type(code) is str else txt(code)
                return None, None
    pairs = _coding_pairs(cc)
    for want in prefer:
        for sys, code, _ in pairs:
            if sys == want and code is not None:
                return sys, txt(code)
    return None, None


def _first(v: Any) -> Any:
    if isinstance(v, list):
        return v[0] if v else None
    return v


def extensions(r: Json) -> dict[str, Any]:
    """popweave's extensions of ``r`` by column name, with their values."""
    out: dict[str, Any] = {}
    found = r.get("extension")
    if not found:
        return out
    for e in found:
        if not isinstance(e, dict):
            continue
        url = e.get("url")
        if isinstance(url, str) and url.startswith(EXT):
            for k, val in e.items():
                if k.startswith("value"):
                    out[url[len(EXT) :]] = val
                    break
    return out


def _zip(v: Any) -> str | None:
    if type(v) is str and len(v) in (9, 10) and v[:5].isdigit():
        return v[:5]
    return txt(v)


class Mapper:
    """Turns resources into rows; keeps what later resources refer to (identifiers,
    Medications, Coverage payers, PractitionerRoles)."""

    def __init__(self) -> None:
        self.rows: dict[str, list[Row]] = {t: [] for t in set(RESOURCE_TABLE.values())}
        self.skipped: Counter[str] = Counter()
        self.identifiers: dict[str, str] = {}
        self.full_urls: dict[str, tuple[str, str]] = {}
        self.medications: dict[str, tuple[str | None, str | None]] = {}
        self.coverage_payer: dict[str, str] = {}
        self.roles: dict[str, tuple[str | None, str | None]] = {}
        self.claims_from_eob: set[str] = set()
        self.snomed_icd10 = _crosswalk()
        self.handlers: dict[str, Callable[[Json, str, int], None]] = {
            "Medication": self.medication_resource,
            "Location": self.location,
            "Organization": self.organization,
            "PractitionerRole": self.practitioner_role,
            "Practitioner": self.practitioner,
            "Patient": self.patient,
            "Coverage": self.coverage,
            "EpisodeOfCare": self.episode_of_care,
            "Encounter": self.encounter,
            "Condition": self.condition,
            "Observation": self.observation,
            "MedicationRequest": self.medication_request,
            "Immunization": self.immunization,
            "Procedure": self.procedure,
            "ExplanationOfBenefit": self.eob,
            "Claim": self.claim,
        }

    # -- references ---------------------------------------------------------------------

    def ref(self, ref: Any) -> tuple[str | None, str | None]:
        """(resource type or None, id) that a Reference points to."""
        if not isinstance(ref, dict):
            return None, None
        r = ref.get("reference")
        if type(r) is str:
            typ, sep, rid = r.partition("/")
            if sep and "/" not in rid and "?" not in r and ":" not in typ:  # "Patient/123"
                return typ, rid
            if r.startswith("urn:"):
                hit = self.full_urls.get(r)
                if hit:
                    return hit
                return None, r.rsplit(":", 1)[-1]
            if r.startswith("#"):
                return None, r[1:]
            q = r.find("?")
            if q >= 0:
                rtype = r[:q].rsplit("/", 1)[-1]
                for part in r[q + 1 :].split("&"):
                    name, _, param = part.partition("=")
                    if name == "identifier":
                        found = self.identifiers.get(f"{rtype}|{param}")
                        return rtype, found or param.rsplit("|", 1)[-1]
                return rtype, None
            parts = r.split("/")
            if "_history" in parts:
                parts = parts[: parts.index("_history")]
            if len(parts) >= 2:
                return parts[-2], parts[-1]
            return ref.get("type"), r
        ident = ref.get("identifier")
        if isinstance(ident, dict):
            kind: Any = ref.get("type")
            value = ident.get("value")
            key = f"{ident.get('system')}|{value}"
            if kind:
                found = self.identifiers.get(f"{kind}|{key}")
                if found:
                    return kind, found
            for t in ("Organization", "Practitioner", "Location"):
                found = self.identifiers.get(f"{t}|{key}")
                if found:
                    return t, found
            return kind, txt(value)
        return None, None

    def ref_id(self, ref: Any) -> str | None:
        if type(ref) is dict:  # the common "Patient/123", without a second call
            r = ref.get("reference")
            if type(r) is str:
                typ, sep, rid = r.partition("/")
                if sep and "/" not in rid and "?" not in r and ":" not in typ:
                    return rid
        return self.ref(ref)[1]

    def subject(self, r: Json, element: str) -> str:
        pid = self.ref_id(r.get(element))
        if not pid:
            raise Invalid(element, f"{r.get('resourceType')} without a {element} reference")
        return pid

    def index_identifiers(self, r: Json, typ: str, rid: str) -> None:
        for ident in r.get("identifier") or ():
            if isinstance(ident, dict) and ident.get("value") is not None:
                self.identifiers[f"{typ}|{ident.get('system')}|{ident.get('value')}"] = rid

    @staticmethod
    def rid(r: Json) -> str:
        rid = r.get("id")
        if rid is None or rid == "":
            raise Invalid("id", f"{r.get('resourceType')} without an id")
        return rid if type(rid) is str else str(rid)

    @staticmethod
    def contained(r: Json, local: str) -> Json | None:
        for c in r.get("contained") or ():
            if isinstance(c, dict) and c.get("id") == local:
                return c
        return None

    # -- directory resources ------------------------------------------------------------

    def medication_resource(self, r: Json, file: str, line: int) -> None:
        self.medications[self.rid(r)] = pick(r.get("code"), ("RXNORM", "NDC", "CVX"))

    def location(self, r: Json, file: str, line: int) -> None:
        rid = self.rid(r)
        self.index_identifiers(r, "Location", rid)
        tags = (r.get("meta") or {}).get("tag") or ()
        ext = extensions(r)
        if AREA_TAG not in tags and not ext:
            self.skipped["Location"] += 1
            return
        addr = _first(r.get("address")) or {}
        pos = r.get("position") or {}
        self.rows["area"].append(
            (
                rid,
                txt(r.get("name")),
                txt(addr.get("district")),
                _zip(addr.get("postalCode")),
                txt(ext.get("geometry")),
                pos.get("latitude"),
                pos.get("longitude"),
                *(ext.get(c) for c in AREA_EXT),
                file,
                line,
            )
        )

    def organization(self, r: Json, file: str, line: int) -> None:
        rid = self.rid(r)
        self.index_identifiers(r, "Organization", rid)
        ext = extensions(r)
        self.rows["practice"].append(
            (rid, txt(r.get("name")), *(ext.get(c) for c in PRACTICE_EXT), file, line)
        )

    def practitioner_role(self, r: Json, file: str, line: int) -> None:
        _, org = self.ref(r.get("organization"))
        specialty = None
        for cc in r.get("specialty") or r.get("code") or ():
            if isinstance(cc, dict):
                specialty = cc.get("text") or next(
                    (c.get("display") for c in cc.get("coding") or () if c.get("display")), None
                )
                if specialty:
                    break
        prac = r.get("practitioner")
        if isinstance(prac, dict):
            if "reference" in prac:
                self.roles[f"id|{self.ref_id(prac)}"] = (org, specialty)
            ident = prac.get("identifier")
            if isinstance(ident, dict):
                self.roles[f"{ident.get('system')}|{ident.get('value')}"] = (org, specialty)

    def practitioner(self, r: Json, file: str, line: int) -> None:
        rid = self.rid(r)
        self.index_identifiers(r, "Practitioner", rid)
        name = None
        n = _first(r.get("name"))
        if isinstance(n, dict):
            name = n.get("text")
            if not name:
                given = n.get("given") or []
                parts = [*(n.get("prefix") or []), *given, n.get("family")]
                name = " ".join(str(p) for p in parts if p) or None
        role = self.roles.get(f"id|{rid}")
        if role is None:
            for ident in r.get("identifier") or ():
                if isinstance(ident, dict):
                    role = self.roles.get(f"{ident.get('system')}|{ident.get('value')}")
                    if role:
                        break
        ext = extensions(r)
        practice = ext.get("practice_id") or (role[0] if role else None)
        specialty = ext.get("specialty") or (role[1] if role else None)
        self.rows["provider"].append((rid, txt(name), txt(practice), txt(specialty), file, line))

    # -- people -------------------------------------------------------------------------

    def patient(self, r: Json, file: str, line: int) -> None:
        rid = self.rid(r)
        race = ethnicity = None
        for e in r.get("extension") or ():
            url = e.get("url") if isinstance(e, dict) else None
            if url == US_RACE:
                race = _omb(e, RACE)
            elif url == US_ETHNICITY:
                ethnicity = _omb(e, ETHNICITY)
        ext = extensions(r)
        language = None
        comms = r.get("communication") or ()
        chosen = next((c for c in comms if isinstance(c, dict) and c.get("preferred")), None)
        chosen = chosen or _first(comms)
        if isinstance(chosen, dict):
            lang = chosen.get("language") or {}
            code = next((c.get("code") for c in lang.get("coding") or () if c.get("code")), None)
            if type(code) is str:
                language = code.split("-")[0].lower()
        addr = r.get("address") or ()
        home = next((a for a in addr if isinstance(a, dict) and a.get("use") == "home"), None)
        home = home or _first(addr)
        zip_ = _zip(home.get("postalCode")) if isinstance(home, dict) else None
        pcp = practice = None
        for gp in r.get("generalPractitioner") or ():
            typ, gid = self.ref(gp)
            if typ == "Organization":
                practice = practice or gid
            elif pcp is None:
                pcp = gid
        if r.get("managingOrganization"):
            practice = self.ref_id(r.get("managingOrganization"))
        death = r.get("deceasedDateTime")
        self.rows["person"].append(
            (
                rid,
                date(r.get("birthDate")),
                date(death) if death is not None else None,
                txt(r.get("gender")),
                race,
                ethnicity,
                language,
                txt(ext.get("area_id")),
                zip_,
                pcp,
                practice,
                file,
                line,
            )
        )

    def coverage(self, r: Json, file: str, line: int) -> None:
        rid = self.rid(r)
        pid = self.subject(r, "beneficiary")
        payer = payer_of(r)
        self.coverage_payer[rid] = payer
        plan = None
        for c in r.get("class") or ():
            if isinstance(c, dict) and pick_code(c.get("type")) == "plan":
                plan = c.get("name") or c.get("value")
                break
        ext = extensions(r)
        plan = ext.get("plan", plan)
        period = r.get("period") or {}
        self.rows["enrollment"].append(
            (
                rid,
                pid,
                payer,
                txt(plan),
                date(period.get("start")),
                date(period.get("end")),
                file,
                line,
            )
        )

    def episode_of_care(self, r: Json, file: str, line: int) -> None:
        """A programme membership: the programme is the first type's code (or its text)."""
        rid = self.rid(r)
        pid = self.subject(r, "patient")
        programme = None
        for t in r.get("type") or ():
            programme = pick_code(t) or (txt(t.get("text")) if isinstance(t, dict) else None)
            if programme:
                break
        period = r.get("period") or {}
        self.rows["programme_enrollment"].append(
            (rid, pid, programme, date(period.get("start")), date(period.get("end")), file, line)
        )

    # -- events -------------------------------------------------------------------------

    def encounter(self, r: Json, file: str, line: int) -> None:
        rid = self.rid(r)
        pid = self.subject(r, "subject")
        ext = extensions(r)
        cls = ext.get("encounter_class")
        if cls is None:
            c = r.get("class")
            if isinstance(c, list):  # R5: a list of CodeableConcepts
                c = _first((_first(c) or {}).get("coding"))
            code = c.get("code") if isinstance(c, dict) else None
            cls = ENCOUNTER_CLASS.get(code, code) if type(code) is str else txt(code)
        period = r.get("period") or {}
        provider = None
        for p in r.get("participant") or ():
            if isinstance(p, dict):
                typ, ind = self.ref(p.get("individual") or p.get("actor"))
                if ind and typ in (None, "Practitioner"):
                    provider = ind
                    break
        disposition = None
        hosp = r.get("hospitalization") or r.get("admission") or {}
        dd = hosp.get("dischargeDisposition") if isinstance(hosp, dict) else None
        for c in (dd or {}).get("coding") or ():
            code = c.get("code")
            if type(code) is str:
                disposition = code.zfill(2) if code.isdigit() else DISPOSITION.get(code, code)
                break
        system = code_ = None
        for cc in r.get("reasonCode") or ():
            system, code_ = self.diagnosis(cc)
            if code_:
                break
        self.rows["encounter"].append(
            (
                rid,
                pid,
                txt(cls),
                txt(period.get("start")),
                txt(period.get("end")),
                self.ref_id(r.get("serviceProvider")),
                provider,
                disposition,
                system,
                code_,
                file,
                line,
            )
        )

    def diagnosis(self, cc: Any) -> tuple[str | None, str | None]:
        """ICD-10-CM if coded so (or mapped from SNOMED when the crosswalk is installed)."""
        system, code = pick(cc, ("ICD10CM", "SNOMED"))
        if system == "SNOMED" and code and self.snomed_icd10:
            mapped = self.snomed_icd10(code)
            if mapped:
                return "ICD10CM", mapped
        return system, code

    def condition(self, r: Json, file: str, line: int) -> None:
        rid = self.rid(r)
        pid = self.subject(r, "subject")
        cc = r.get("code")
        system, code = pick(cc, ("ICD10CM", "SNOMED"))
        src_system = src_code = None
        if system == "ICD10CM":
            src_system, src_code = pick(cc, ("SNOMED",))
        elif system == "SNOMED":
            src_system, src_code = system, code
            if code and self.snomed_icd10:
                mapped = self.snomed_icd10(code)
                if mapped:
                    system, code = "ICD10CM", mapped
        elif cc:
            pairs = _coding_pairs(cc)
            if pairs:  # an unknown system: the loader says unknown_code_system
                c = pairs[0][2]
                system, code = txt(c.get("system")), txt(c.get("code"))
        onset = r.get("onsetDateTime")
        if onset is None:
            onset = (r.get("onsetPeriod") or {}).get("start") or r.get("recordedDate")
        abate = r.get("abatementDateTime")
        if abate is None:
            abate = (r.get("abatementPeriod") or {}).get("end")
        self.rows["condition"].append(
            (
                rid,
                pid,
                self.ref_id(r.get("encounter")),
                date(onset),
                date(abate),
                system,
                code,
                src_system,
                src_code,
                file,
                line,
            )
        )

    def observation(self, r: Json, file: str, line: int) -> None:
        rid = self.rid(r)
        pid = self.subject(r, "subject")
        enc = self.ref_id(r.get("encounter"))
        when = r.get("effectiveDateTime")
        if when is None:
            when = (
                (r.get("effectivePeriod") or {}).get("start")
                or r.get("effectiveInstant")
                or r.get("issued")
            )
        day = date(when)
        category = _observation_category(r.get("category"))
        rows = self.rows["observation"]
        comps = r.get("component") or ()
        has_value = bool(comps) and any(k.startswith("value") for k in r)
        if has_value or not comps:
            system, code = _observation_code(r.get("code"))
            ext = extensions(r)
            num, text, vcode, unit = _value(r)
            rows.append(
                (
                    rid,
                    pid,
                    enc,
                    day,
                    category,
                    system,
                    code,
                    ext.get("value_num", num),
                    txt(ext.get("value_text", text)),
                    txt(ext.get("value_code", vcode)),
                    txt(ext.get("unit", unit)),
                    file,
                    line,
                )
            )
        for i, comp in enumerate(comps):
            if not isinstance(comp, dict):
                continue
            system, code = _observation_code(comp.get("code"))
            num, text, vcode, unit = _value(comp)
            rows.append(
                (
                    f"{rid}-c{i + 1}",
                    pid,
                    enc,
                    day,
                    category,
                    system,
                    code,
                    num,
                    text,
                    vcode,
                    unit,
                    file,
                    line,
                )
            )

    def medication_request(self, r: Json, file: str, line: int) -> None:
        rid = self.rid(r)
        pid = self.subject(r, "subject")
        med = r.get("medicationCodeableConcept")
        system = code = None
        if med is not None:
            system, code = pick(med, ("RXNORM", "NDC", "CVX"))
        else:
            m = r.get("medicationReference") or r.get("medication")
            if isinstance(m, dict) and "concept" in m:  # R5 CodeableReference
                system, code = pick(m.get("concept"), ("RXNORM", "NDC", "CVX"))
                m = m.get("reference")
            if code is None and isinstance(m, dict):
                ref = m.get("reference")
                _, mid = self.ref(m)
                if type(ref) is str and ref.startswith("#"):
                    local = self.contained(r, ref[1:])
                    if local is not None:
                        system, code = pick(local.get("code"), ("RXNORM", "NDC", "CVX"))
                elif mid in self.medications:
                    system, code = self.medications[mid]
        dispense = r.get("dispenseRequest") or {}
        validity = dispense.get("validityPeriod") or {}
        start = r.get("authoredOn") or validity.get("start")
        supply = dispense.get("expectedSupplyDuration") or {}
        days = supply.get("value") if isinstance(supply, dict) else None
        if isinstance(days, int | float) and supply.get("code") in ("wk", "mo"):
            days = days * (7 if supply.get("code") == "wk" else 30)
        if isinstance(days, float) and days.is_integer():
            days = int(days)
        self.rows["medication"].append(
            (
                rid,
                pid,
                self.ref_id(r.get("encounter")),
                date(start),
                date(validity.get("end")),
                system,
                code,
                days,
                file,
                line,
            )
        )

    def immunization(self, r: Json, file: str, line: int) -> None:
        if r.get("status") == "not-done":
            self.skipped["Immunization (not done)"] += 1
            return
        rid = self.rid(r)
        pid = self.subject(r, "patient")
        system, code = pick(r.get("vaccineCode"), ("CVX", "NDC", "RXNORM"))
        ext = extensions(r)
        self.rows["medication"].append(
            (
                rid,
                pid,
                self.ref_id(r.get("encounter")),
                date(r.get("occurrenceDateTime")),
                txt(ext.get("end_date")),
                system,
                code,
                ext.get("days_supply"),
                file,
                line,
            )
        )

    def procedure(self, r: Json, file: str, line: int) -> None:
        rid = self.rid(r)
        pid = self.subject(r, "subject")
        when = r.get("performedDateTime")
        if when is None:
            when = (r.get("performedPeriod") or {}).get("start") or r.get("occurrenceDateTime")
        system, code = pick(r.get("code"), ("CPT", "HCPCS", "ICD10PCS", "SNOMED", "LOINC"))
        self.rows["procedure"].append(
            (rid, pid, self.ref_id(r.get("encounter")), date(when), system, code, file, line)
        )

    def eob(self, r: Json, file: str, line: int) -> None:
        claim = self.ref_id(r.get("claim"))
        if claim:
            self.claims_from_eob.add(claim)
        self.claim_lines(r, claim or self.rid(r), file, line)

    def claim(self, r: Json, file: str, line: int) -> None:
        rid = self.rid(r)
        if rid in self.claims_from_eob:
            self.skipped["Claim (with an ExplanationOfBenefit)"] += 1
            return
        self.claim_lines(r, rid, file, line)

    def claim_lines(self, r: Json, claim_id: str, file: str, line: int) -> None:
        pid = self.subject(r, "patient")
        payer = None
        for ins in r.get("insurance") or ():
            if not isinstance(ins, dict):
                continue
            cov = ins.get("coverage")
            ref = cov.get("reference") if isinstance(cov, dict) else None
            if type(ref) is str and ref.startswith("#"):
                local = self.contained(r, ref[1:])
                payer = payer_of(local) if local else None
            else:
                payer = self.coverage_payer.get(self.ref_id(cov) or "")
                if payer is None and isinstance(cov, dict):
                    payer = _payer_words(cov.get("display"))
            if payer and (ins.get("focal") or payer):
                break
        ext = extensions(r)
        payer = ext.get("payer", payer)
        diagnoses: dict[Any, str | None] = {}
        principal = None
        for d in r.get("diagnosis") or ():
            if isinstance(d, dict):
                _, code = pick(d.get("diagnosisCodeableConcept"), ("ICD10CM",))
                diagnoses[d.get("sequence")] = code
                if principal is None:
                    principal = code
        per_item = any(
            isinstance(it, dict) and it.get("diagnosisSequence") for it in r.get("item") or ()
        )
        billable = (r.get("billablePeriod") or {}).get("start") or r.get("created")
        enc_top = self.ref_id(_first(r.get("encounter")))
        rows = self.rows["claim_line"]
        for k, it in enumerate(r.get("item") or ()):
            if not isinstance(it, dict):
                continue
            when = it.get("servicedDate") or (it.get("servicedPeriod") or {}).get("start")
            system, code = pick(
                it.get("productOrService"), ("CPT", "HCPCS", "ICD10PCS", "RXNORM", "NDC")
            )
            dx = principal
            if per_item:
                seqs = it.get("diagnosisSequence") or ()
                dx = diagnoses.get(seqs[0]) if seqs else None
            _, pos = _plain_code(it.get("locationCodeableConcept"))
            allowed = paid = None
            for adj in it.get("adjudication") or ():
                if not isinstance(adj, dict):
                    continue
                word = pick_code(adj.get("category"))
                amount = (adj.get("amount") or {}).get("value")
                if word is None:
                    continue
                word = word.rsplit("/", 1)[-1]
                if word in ALLOWED_WORDS:
                    allowed = amount
                elif word in PAID_WORDS:
                    paid = amount
            if allowed is None:
                allowed = (it.get("net") or {}).get("value")
            item_ext = extensions(it)
            rows.append(
                (
                    claim_id,
                    it.get("sequence", k + 1),
                    pid,
                    self.ref_id(_first(it.get("encounter"))) or enc_top,
                    date(when or billable),
                    txt(item_ext.get("payer", payer)),
                    txt(item_ext.get("code_system", system)),
                    code,
                    dx,
                    pos,
                    allowed,
                    paid,
                    file,
                    line,
                )
            )


AREA_NATIVE = ("area_id", "name", "county", "zip", "geometry", "centroid_lat", "centroid_lon")
AREA_EXT = tuple(c for c in TABLES["area"].column_names if c not in AREA_NATIVE)
PRACTICE_EXT = tuple(c for c in TABLES["practice"].column_names if c not in ("practice_id", "name"))


def _omb(e: Json, codes: dict[str, str]) -> str | None:
    cats: list[str] = []
    text = None
    for sub in e.get("extension") or ():
        if not isinstance(sub, dict):
            continue
        if sub.get("url") == "ombCategory":
            code = (sub.get("valueCoding") or {}).get("code")
            cats.append(codes.get(code, "other") if type(code) is str else "other")
        elif sub.get("url") == "text":
            text = sub.get("valueString")
    known = {c for c in cats if c != "unknown"}
    if len(known) > 1:
        return "multiple"
    if known:
        return known.pop()
    if cats:
        return "unknown"
    if type(text) is str:
        t = text.lower()
        if "multiple" in t or "two or more" in t:
            return "multiple"
        if "other" in t:
            return "other"
        if "unknown" in t or "declined" in t:
            return "unknown"
    return None


def pick_code(cc: Any) -> str | None:
    """The first code of a CodeableConcept, whatever its system."""
    if isinstance(cc, dict):
        for c in cc.get("coding") or ():
            if isinstance(c, dict) and c.get("code") is not None:
                return txt(c.get("code"))
    return None


def _plain_code(cc: Any) -> tuple[None, str | None]:
    return None, pick_code(cc)


def _payer_words(text: Any) -> str | None:
    if type(text) is not str:
        return None
    t = text.lower()
    if "dual" in t:
        return "dual"
    if "medicare" in t:
        return "medicare"
    if "medicaid" in t:
        return "medicaid"
    if "no insurance" in t or "uninsured" in t or "self" in t:
        return "uninsured"
    return None


def payer_of(cov: Json) -> str:
    """The canonical payer type of a Coverage: popweave extension, payer typology code
    (PHDSC Source of Payment Typology), or the payer's name."""
    ext = extensions(cov)
    if "payer" in ext:
        return str(ext["payer"])
    for _, code, c in _coding_pairs(cov.get("type")):
        if c.get("system") == SOPT and type(code) is str and code:
            if code.startswith("14"):
                return "dual"
            if code[0] == "1":
                return "medicare"
            if code[0] == "2":
                return "medicaid"
            if code[0] in "56":
                return "commercial"
            if code[0] == "8":
                return "uninsured"
            return "other"
    texts: list[Any] = [(cov.get("type") or {}).get("text")]
    texts += [p.get("display") for p in cov.get("payor") or () if isinstance(p, dict)]
    for t in texts:
        found = _payer_words(t)
        if found:
            return found
    return "commercial" if any(texts) else "other"


def _observation_category(categories: Any) -> str | None:
    """The first code of the categories that is a canonical category, else "other"
    (None when there are no categories)."""
    if not categories:
        return None
    for cc in categories:
        if isinstance(cc, dict):
            for c in cc.get("coding") or ():
                if isinstance(c, dict):
                    code = c.get("code")
                    if code in OBS_CATEGORIES:
                        return str(code)
    return "other"


def _observation_code(cc: Any) -> tuple[str | None, str | None]:
    system, code = pick(cc, ("LOINC", "SNOMED"))
    if code is None:
        pairs = _coding_pairs(cc)
        if pairs:
            c = pairs[0][2]
            return txt(c.get("system")), txt(c.get("code"))
    return system, code


def _value(r: Json) -> tuple[Any, str | None, str | None, str | None]:
    """(value_num, value_text, value_code, unit) of an Observation or its component."""
    q = r.get("valueQuantity")
    if isinstance(q, dict):
        unit = q.get("code") if q.get("system") == UCUM and q.get("code") else q.get("unit")
        return q.get("value"), None, None, txt(unit)
    cc = r.get("valueCodeableConcept")
    if isinstance(cc, dict):
        coding = next((c for c in cc.get("coding") or () if isinstance(c, dict)), None)
        if coding is not None:
            return None, txt(coding.get("display") or cc.get("text")), txt(coding.get("code")), None
        return None, txt(cc.get("text")), None, None
    if "valueString" in r:
        return None, txt(r["valueString"]), None, None
    if "valueInteger" in r:
        return r["valueInteger"], None, None, None
    if "valueBoolean" in r:
        return None, txt(r["valueBoolean"]), None, None
    if "valueDateTime" in r:
        return None, txt(r["valueDateTime"]), None, None
    return None, None, None, None
