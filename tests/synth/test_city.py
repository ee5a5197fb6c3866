"""The synthetic city: valid against the model, plausible rates, planted truths visible."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest

from popweave.model import CANONICAL, validate
from popweave.synth import CONDITIONS, build_city
from popweave.synth.population import DEPRIVATION_INDICATORS, deprivation_index, quintiles
from tests.synth.conftest import PEOPLE, Built

END = "DATE '2025-12-31'"
START = "DATE '2023-01-01'"


def test_every_table_is_loaded_and_valid(built: Built) -> None:
    assert built.report.total_rejected == 0
    for t in CANONICAL:
        rows = built.db.sql(f'SELECT * FROM "{t.name}"').to_arrow_table()
        assert rows.num_rows > 0, t.name
        again = validate(t, rows, today=__import__("datetime").date(2026, 1, 1))
        assert again.n_rejected == 0, (t.name, again.rejects.slice(0, 5).to_pylist())
    assert built.one("SELECT count(*) FROM person") == PEOPLE


def test_foreign_keys_resolve(built: Built) -> None:
    for t in CANONICAL:
        for c in t.columns:
            if c.references:
                rt, rc = c.references.split(".")
                orphans = built.one(
                    f'SELECT count(*) FROM "{t.name}" x WHERE x."{c.name}" IS NOT NULL AND NOT '
                    f'EXISTS (SELECT 1 FROM "{rt}" r WHERE r."{rc}" = x."{c.name}")'
                )
                assert orphans == 0, f"{t.name}.{c.name}"


def test_areas_are_many_and_drawn(built: Built) -> None:
    n = built.one("SELECT count(*) FROM area")
    assert n >= 12
    geo = built.rows("SELECT geometry FROM area LIMIT 1")[0][0]
    assert '"Polygon"' in geo
    # Indicators move together: poverty and no-vehicle rise as income falls.
    corr = built.one("SELECT corr(ln(median_income), pct_poverty) FROM area")
    assert corr < -0.5
    assert built.one("SELECT corr(pct_poverty, pct_no_vehicle) FROM area") > 0.5


@pytest.mark.parametrize("spec", CONDITIONS, ids=lambda c: c.name)
def test_adult_prevalence_in_cited_range(built: Built, spec: object) -> None:
    lo, hi = spec.cited_range  # type: ignore[attr-defined]
    prev = built.one(
        f"""SELECT count(DISTINCT c.person_id) * 1.0 / (SELECT count(*) FROM person
             WHERE date_diff('year', birth_date, {END}) >= 18)
            FROM condition c JOIN person p USING (person_id)
            WHERE c.code = '{spec.icd10}'  -- type: ignore
              AND date_diff('year', p.birth_date, {END}) >= 18"""
    )
    assert lo <= prev <= hi


def test_prevalence_rises_with_deprivation(built: Built) -> None:
    q5 = tuple(built.truth["deprivation"]["most_deprived_quintile_areas"])
    rows = dict(
        built.rows(
            f"""SELECT p.area_id IN {q5!r}, avg((c.person_id IS NOT NULL)::INT)
                FROM person p LEFT JOIN (SELECT DISTINCT person_id FROM condition
                WHERE code = 'E11.9') c USING (person_id)
                WHERE date_diff('year', p.birth_date, {END}) >= 18 GROUP BY 1"""
        )
    )
    assert rows[True] > rows[False]


def _person_years(b: Built) -> float:
    return float(
        b.one(
            f"""SELECT sum(date_diff('day', greatest(birth_date, {START}),
                coalesce(death_date, {END})) + 1) / 365.25 FROM person"""
        )
    )


def test_utilisation_rates_in_cited_ranges(built: Built) -> None:
    py = _person_years(built)
    per = dict(built.rows("SELECT encounter_class, count(*) FROM encounter GROUP BY 1"))
    assert 2.5 <= per["ambulatory"] / py <= 4.0  # NAMCS 2019 ~3 office visits/person-year
    assert 0.30 <= per["emergency"] / py <= 0.55  # NHAMCS 2021: 42 per 100 persons
    assert 60 <= 1000 * per["inpatient"] / py <= 120  # HCUP 2019 ~80-100 per 1,000
    los = built.one(
        "SELECT avg(date_diff('day', start_time, end_time) + 1) FROM encounter "
        "WHERE encounter_class = 'inpatient'"
    )
    assert 3.8 <= los <= 5.5  # HCUP 2019 mean 4.6 days


def test_coverage_mix(built: Built) -> None:
    people = {
        k: v
        for k, v in built.rows(
            f"""SELECT payer, count(DISTINCT person_id) FROM enrollment
                WHERE start_date <= {START} AND coalesce(end_date, {END}) >= {START}
                GROUP BY 1"""
        )
    }
    n = PEOPLE
    assert 0.15 <= (people["medicaid"]) / n <= 0.35
    assert 0.40 <= people["commercial"] / n <= 0.70
    assert 0.12 <= (people["medicare"] + people["dual"]) / n <= 0.25
    uninsured = n - sum(people.values())
    assert 0.04 <= uninsured / n <= 0.14
    # Churn: some people hold more than one span.
    assert (
        built.one(
            "SELECT count(*) FROM (SELECT person_id FROM enrollment GROUP BY 1 HAVING count(*) > 1)"
        )
        > 0.03 * n
    )


def test_diabetes_control_and_blood_pressure(built: Built) -> None:
    last = built.rows(
        """SELECT avg((v > 9)::INT), avg((v < 8)::INT) FROM (
             SELECT person_id, arg_max(value_num, date) v FROM observation
             WHERE code = '4548-4' GROUP BY 1)"""
    )[0]
    assert 0.10 <= last[0] <= 0.35  # HEDIS HbA1c > 9% among tested
    assert 0.40 <= last[1] <= 0.75  # HEDIS HbA1c < 8%
    only_diabetics = built.one(
        """SELECT count(*) FROM (SELECT DISTINCT person_id FROM observation WHERE code='4548-4')
           o WHERE NOT EXISTS (SELECT 1 FROM condition c WHERE c.person_id = o.person_id
           AND c.code = 'E11.9')"""
    )
    assert only_diabetics == 0
    controlled = built.one(
        """WITH bp AS (SELECT person_id, encounter_id,
              max(value_num) FILTER (WHERE code = '8480-6') s,
              max(value_num) FILTER (WHERE code = '8462-4') d, max(date) dt
            FROM observation WHERE code IN ('8480-6', '8462-4') GROUP BY 1, 2),
           last AS (SELECT person_id, arg_max(s, dt) s, arg_max(d, dt) d FROM bp GROUP BY 1)
           SELECT avg((s < 140 AND d < 90)::INT) FROM last
           WHERE person_id IN (SELECT person_id FROM condition WHERE code = 'I10')"""
    )
    assert 0.45 <= controlled <= 0.80  # HEDIS CBP ~60%


def test_deprivation_quintiles_match_truth(built: Built) -> None:
    tbl = built.db.sql("SELECT * FROM area ORDER BY area_id").to_arrow_table()
    ind = {c: tbl.column(c).to_numpy() for c in DEPRIVATION_INDICATORS}
    q = quintiles(deprivation_index(ind))
    ids = tbl.column("area_id").to_pylist()
    mine = sorted(a for a, k in zip(ids, q, strict=True) if k == 5)
    assert mine == sorted(built.truth["deprivation"]["most_deprived_quintile_areas"])


def _readmission_by(b: Built, flag_sql: str) -> dict[bool | None, tuple[int, int]]:
    """(index stays, readmitted) by a person-level flag, index stays as truth.json defines."""
    rows = b.rows(
        f"""WITH ip AS (
              SELECT e.person_id, e.encounter_id, e.start_time::DATE s, e.end_time::DATE d,
                     e.discharge_disposition disp FROM encounter e
              WHERE encounter_class = 'inpatient'),
            idx AS (
              SELECT ip.* FROM ip JOIN person p USING (person_id)
              WHERE disp IN ('01', '06', '03') AND d <= {END} - INTERVAL 30 DAY
                AND (p.death_date IS NULL OR p.death_date > d + INTERVAL 30 DAY)),
            flagged AS (
              SELECT idx.*, EXISTS (SELECT 1 FROM ip r WHERE r.person_id = idx.person_id
                       AND r.s > idx.d AND r.s <= idx.d + INTERVAL 30 DAY) readmitted,
                     ({flag_sql}) f
              FROM idx JOIN person p USING (person_id))
            SELECT f, count(*), sum(readmitted::INT) FROM flagged GROUP BY 1"""
    )
    return {None if f is None else bool(f): (int(n), int(r)) for f, n, r in rows}


def _ratio_ci(g: dict[bool | None, tuple[int, int]]) -> tuple[float, float, float]:
    (n1, x1), (n0, x0) = g[True], g[False]
    rr = (x1 / n1) / (x0 / n0)
    se = math.sqrt(1 / x1 - 1 / n1 + 1 / x0 - 1 / n0)  # Katz log method
    return rr, rr * math.exp(-1.96 * se), rr * math.exp(1.96 * se)


def test_planted_readmission_ratio_no_vehicle_is_visible(built: Built) -> None:
    # Households without a vehicle are those answering Yes to the transport question.
    flag = """p.person_id IN (SELECT person_id FROM observation
               WHERE code = '93030-5' AND value_code = 'LA33-6')"""
    screened = """p.person_id IN (SELECT person_id FROM observation WHERE code = '93030-5')"""
    g = _readmission_by(built, f"CASE WHEN {screened} THEN {flag} END")
    g = {k: v for k, v in g.items() if k is not None}
    rr, lo, hi = _ratio_ci(g)
    truth = built.truth["readmission"]["expected_crude_ratio_no_vehicle"]
    assert lo <= truth <= hi, (rr, lo, hi, truth)
    assert lo > 1.0  # the disparity is detectable at this size


def test_planted_readmission_ratio_deprived_quintile_is_visible(built: Built) -> None:
    q5 = tuple(built.truth["deprivation"]["most_deprived_quintile_areas"])
    rr, lo, hi = _ratio_ci(_readmission_by(built, f"p.area_id IN {q5!r}"))
    truth = built.truth["readmission"]["expected_crude_ratio_most_deprived_quintile"]
    assert lo <= truth <= hi, (rr, lo, hi, truth)
    overall = built.truth["readmission"]["expected_rate"]
    assert 0.12 <= overall <= 0.18  # CMS hospital-wide readmission ~14.5-15.5%


def test_pilot_is_in_a_deprived_area_and_mid_period(built: Built) -> None:
    pilot = built.truth["pilot"]
    assert pilot["area_id"] in built.truth["deprivation"]["most_deprived_quintile_areas"]
    assert "2024-01-01" <= pilot["start_date"] <= "2025-01-01"
    assert pilot["readmission_rate_ratio"] < 1
    assert pilot["expected_index_stays_exposed"] > 0


def test_truth_records_the_prevalence_model(built: Built) -> None:
    model = built.truth["prevalence_model"]["conditions"]
    assert set(model) == {c.name for c in CONDITIONS}
    for c in CONDITIONS:
        assert model[c.name]["source"] == c.source


def _arrow_tables(people: int, seed: int) -> dict[str, pa.Table]:
    out: dict[str, list[pa.Table]] = {}
    for name, chunk in build_city(people, seed).tables(chunk_rows=5_000):
        out.setdefault(name, []).append(chunk)
    return {k: pa.concat_tables(v) for k, v in out.items()}


def test_same_seed_same_data_other_seed_other_data() -> None:
    a, b, c = _arrow_tables(1500, 7), _arrow_tables(1500, 7), _arrow_tables(1500, 8)
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].equals(b[k]), k
    assert not a["encounter"].equals(c["encounter"])


def test_chunking_does_not_change_the_data() -> None:
    city = build_city(1200, 3)
    whole: dict[str, list[pa.Table]] = {}
    for name, chunk in city.tables(chunk_rows=10**9):
        whole.setdefault(name, []).append(chunk)
    parts: dict[str, list[pa.Table]] = {}
    for name, chunk in city.tables(chunk_rows=777):
        parts.setdefault(name, []).append(chunk)
    for k in whole:
        assert pa.concat_tables(whole[k]).equals(pa.concat_tables(parts[k])), k
    assert city.row_count() >= sum(pa.concat_tables(v).num_rows for v in whole.values())


def test_tiny_city_still_valid() -> None:
    for name, chunk in build_city(1, 0).tables():
        from popweave.model import table

        assert validate(table(name), chunk).n_rejected == 0, name
    assert np.isfinite(1.0)


@pytest.mark.parametrize("years", [1, 5])
def test_other_period_lengths_are_valid(years: int) -> None:
    from popweave.model import table
    from popweave.synth import Params

    city = build_city(1500, 5, Params(years=years))
    for name, chunk in city.tables():
        assert validate(table(name), chunk).n_rejected == 0, name
    assert city.truth["period"]["start"] == f"{2026 - years}-01-01"
    assert city.truth["period"]["start"] < city.truth["pilot"]["start_date"] < "2025-12-31"
