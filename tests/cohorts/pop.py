"""A hand-built population loaded into a real DuckDB warehouse, for rule tests."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from popweave.cohorts.data import Data
from popweave.warehouse import load, open_engine
from popweave.warehouse.base import Engine
from tests.warehouse.conftest import rows_to_table


class Pop:
    """Rows per canonical table, added with short helpers; ids are generated."""

    def __init__(self) -> None:
        self.rows: dict[str, list[dict[str, Any]]] = {}
        self._n = 0
        self.area("A1")

    def _id(self, prefix: str) -> str:
        self._n += 1
        return f"{prefix}{self._n:04d}"

    def add(self, table: str, **row: Any) -> None:
        self.rows.setdefault(table, []).append(row)

    def area(self, area_id: str, **values: Any) -> None:
        self.add("area", area_id=area_id, name=f"Area {area_id}", **values)

    def person(
        self,
        pid: str,
        birth: str = "1960-06-15",
        sex: str = "female",
        death: str | None = None,
        enrol: bool = True,
        **extra: Any,
    ) -> str:
        extra.setdefault("area_id", "A1")
        self.add("person", person_id=pid, birth_date=birth, sex=sex, death_date=death, **extra)
        if enrol:
            self.enrol(pid, "2015-01-01", None)
        return pid

    def enrol(self, pid: str, start: str, end: str | None, payer: str = "commercial") -> None:
        self.add(
            "enrollment",
            enrollment_id=self._id("EN"),
            person_id=pid,
            payer=payer,
            start_date=start,
            end_date=end,
        )

    def programme(self, pid: str, name: str, start: str, end: str | None = None) -> None:
        self.add(
            "programme_enrollment",
            programme_enrollment_id=self._id("G"),
            person_id=pid,
            programme=name,
            start_date=start,
            end_date=end,
        )

    def condition(
        self, pid: str, code: str, onset: str = "2015-03-01", abated: str | None = None
    ) -> None:
        self.add(
            "condition",
            condition_id=self._id("CN"),
            person_id=pid,
            onset_date=onset,
            abatement_date=abated,
            code_system="ICD10CM",
            code=code,
        )

    def encounter(self, pid: str, day: str, cls: str = "ambulatory", dx: str | None = None) -> str:
        eid = self._id("E")
        self.add(
            "encounter",
            encounter_id=eid,
            person_id=pid,
            encounter_class=cls,
            start_time=f"{day}T10:00:00",
            end_time=f"{day}T11:00:00",
            code_system="ICD10CM" if dx else None,
            code=dx,
        )
        return eid

    def stay(
        self,
        pid: str,
        admit: str,
        discharge: str,
        disposition: str = "01",
        dx: str | None = None,
    ) -> str:
        """An inpatient stay, admitted 08:00 and discharged 12:00."""
        eid = self._id("IP")
        self.add(
            "encounter",
            encounter_id=eid,
            person_id=pid,
            encounter_class="inpatient",
            start_time=f"{admit}T08:00:00",
            end_time=f"{discharge}T12:00:00",
            discharge_disposition=disposition,
            code_system="ICD10CM" if dx else None,
            code=dx,
        )
        return eid

    def lab(
        self,
        pid: str,
        day: str,
        code: str,
        value: float | None = None,
        answer: str | None = None,
        unit: str | None = None,
    ) -> None:
        self.add(
            "observation",
            observation_id=self._id("O"),
            person_id=pid,
            date=day,
            code_system="LOINC",
            code=code,
            value_num=value,
            value_code=answer,
            unit=unit,
        )

    def hba1c(self, pid: str, day: str, value: float) -> None:
        self.lab(pid, day, "4548-4", value, unit="%")

    def bp(self, pid: str, day: str, systolic: float, diastolic: float) -> None:
        self.lab(pid, day, "8480-6", systolic, unit="mm[Hg]")
        self.lab(pid, day, "8462-4", diastolic, unit="mm[Hg]")

    def procedure(self, pid: str, day: str, code: str, system: str = "CPT") -> None:
        self.add(
            "procedure",
            procedure_id=self._id("PX"),
            person_id=pid,
            date=day,
            code_system=system,
            code=code,
        )

    def drug(self, pid: str, day: str, rxcui: str) -> None:
        self.add(
            "medication",
            medication_id=self._id("M"),
            person_id=pid,
            start_date=day,
            code_system="RXNORM",
            code=rxcui,
            days_supply=30,
        )

    def claim(self, pid: str, day: str, dx: str, pos: str = "11") -> None:
        self.add(
            "claim_line",
            claim_id=self._id("CL"),
            line_number=1,
            person_id=pid,
            service_date=day,
            payer="commercial",
            diagnosis_code=dx,
            place_of_service=pos,
            allowed_amount="100.00",
            paid_amount="80.00",
        )

    def load(self, root: Path) -> Engine:
        engine = open_engine("duckdb:///w.duckdb", root)
        batches = {name: rows_to_table(name, rows) for name, rows in self.rows.items()}
        report = load(engine, batches, source="hand-built", today=dt.date(2026, 1, 1))
        assert report.total_rejected == 0, report.rejected
        return engine


def data(engine: Engine) -> Data:
    return Data.of(engine)
