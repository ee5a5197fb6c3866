"""The medication list of a care plan, drawn from the warehouse: each drug's latest order or
fill in the look-back, read through the same authorisation and audit as care records."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from popweave.care import _guard
from popweave.care.store import CareStore
from popweave.security.policy import Actor, Operation


@dataclass(frozen=True)
class MedicationView:
    """One drug on the list: its code, the last fill or order and how long it lasts."""

    code_system: str
    code: str
    last_date: dt.date
    days_supply: int | None
    fills: int
    current: bool  # the last fill still covers ``as_of`` (start + days supply)


def medication_list(
    store: CareStore,
    engine: Any,
    *,
    actor: Actor,
    person_id: str,
    reason: str,
    as_of: dt.date | None = None,
    lookback_days: int = 365,
) -> tuple[MedicationView, ...]:
    """The drugs ``person_id`` had ordered or dispensed in the ``lookback_days`` before
    ``as_of`` (default today), newest first; one audit event per drug (one for an empty list)."""
    day = as_of or dt.date.today()
    start = day - dt.timedelta(days=lookback_days - 1)
    with store.begin() as s:
        _guard.authorise(s, actor, Operation.READ_PATIENT, person_id, reason=reason)
        m = engine.table("medication")
        mine = m.filter((m.person_id == person_id) & m.start_date.between(start, day))
        last = mine.group_by(["code_system", "code"]).aggregate(
            last_date=mine.start_date.max(),
            fills=mine.count(),
        )
        j = last.join(
            mine,
            [
                last.code_system == mine.code_system,
                last.code == mine.code,
                last.last_date == mine.start_date,
            ],
        )
        per = j.group_by([j.code_system, j.code, j.last_date, j.fills]).aggregate(
            days_supply=j.days_supply.max()
        )
        df = per.order_by([per.last_date.desc(), per.code]).execute()
        out = []
        for r in df.itertuples():
            last_day = r.last_date.date() if hasattr(r.last_date, "date") else r.last_date
            supply = None if r.days_supply != r.days_supply else int(r.days_supply)  # NaN
            covers = supply is not None and last_day + dt.timedelta(days=supply) > day
            out.append(
                MedicationView(
                    str(r.code_system), str(r.code), last_day, supply, int(r.fills), covers
                )
            )
        rows: list[tuple[str | None, object]] = [
            (person_id, f"{v.code_system}|{v.code}") for v in out
        ] or [(person_id, None)]
        _guard.audited(
            s,
            actor,
            action="read",
            op=Operation.READ_PATIENT,
            entity="medication",
            rows=rows,
            reason=reason,
            detail=f"{len(out)} drugs in {lookback_days} days to {day}",
        )
    return tuple(out)
