"""Stratifiers: each person's age band, sex, race/ethnicity, payer, area and deprivation
quintile on the period's last day."""

from __future__ import annotations

from typing import Any

import ibis

from popweave.cohorts.data import Data, age_on
from popweave.cohorts.deprivation import area_deprivation
from popweave.cohorts.enrolment import payer_on
from popweave.cohorts.period import Period

AGE_BANDS = ((0, 17), (18, 44), (45, 64), (65, 74), (75, 200))


def band_label(lo: int, hi: int) -> str:
    return f"{lo}+" if hi >= 200 else f"{lo}-{hi}"


def strata(data: Data, period: Period) -> Any:
    """``(person_id, age_band, sex, race_ethnicity, payer, area, deprivation_quintile)``."""
    p = data.person
    age = age_on(p.birth_date, period.end)
    band = ibis.cases(
        *[((age >= lo) & (age <= hi), band_label(lo, hi)) for lo, hi in AGE_BANDS],
        else_="unknown",
    )
    race = ibis.cases((p.ethnicity == "hispanic", "hispanic"), else_=p.race.fill_null("unknown"))
    base = p.select(
        person_id=p.person_id,
        age_band=band,
        sex=p.sex.fill_null("unknown"),
        race_ethnicity=race,
        area=p.area_id.fill_null("unknown"),
    )
    pay = payer_on(data, period.end)
    dep = area_deprivation(data)
    j = base.left_join(pay, "person_id").select(base, pay.payer)
    j = j.mutate(payer=j.payer.fill_null("uninsured"))
    k = j.left_join(dep, j.area == dep.area_id).select(j, dep.deprivation_quintile)
    return k.mutate(deprivation_quintile=k.deprivation_quintile.cast("string").fill_null("unknown"))
