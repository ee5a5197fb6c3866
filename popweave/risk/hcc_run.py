"""CMS-HCC risk scores of a payment year on a warehouse (``popweave run hcc``).

As CMS does for the community model: the diagnoses of the data collection year (the calendar
year before the payment year; conditions active in it, encounter and claim-line diagnoses
dated in it) and the people with Medicare or dual coverage on 1 February of the payment year,
their age taken that day (:func:`~popweave.risk.hcc.hcc_people`). Results go to warehouse
tables, replaced per (payment year, version): ``hcc_score`` (one row per person: segment,
score, risk score, payment HCCs) and ``hcc_factor`` (the relative factors behind each score).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pyarrow as pa

from popweave.cohorts.data import Data
from popweave.errors import PopweaveError
from popweave.risk._codes import diagnoses, rows
from popweave.risk.hcc import check_options, hcc_factors, hcc_people, hcc_score_table
from popweave.risk.run import last_day

SCORE_TABLE = "hcc_score"
FACTOR_TABLE = "hcc_factor"


@dataclass(frozen=True)
class HccRun:
    """What one run wrote: the scores (one row per person) and the HCCs most often paid."""

    payment_year: int
    version: str
    as_of: dt.date
    scores: pd.DataFrame
    #: ``hcc, label, people, share`` of the payment HCCs, most frequent first.
    top_hccs: pd.DataFrame


def default_payment_year(last: dt.date) -> int:
    """The year after the last complete calendar year of data ending on ``last``."""
    complete = last.year if (last.month, last.day) == (12, 31) else last.year - 1
    return complete + 1


def run_hcc(
    source: Any,
    payment_year: int | None = None,
    *,
    version: str = "v28",
    normalisation: float = 1.0,
    coding_adjustment: float = 0.0,
    progress: Callable[[str], None] | None = None,
) -> HccRun:
    """Score everyone with Medicare coverage for ``payment_year`` and store the results.

    ``source``: an engine or :class:`~popweave.cohorts.data.Data`. ``normalisation`` and
    ``coding_adjustment``: CMS's published factors of the payment year (see
    :func:`~popweave.risk.hcc.hcc_scores`).
    """
    say = progress or (lambda _: None)
    try:
        check_options(version, normalisation, coding_adjustment)
    except ValueError as exc:
        raise PopweaveError(str(exc)) from None
    data = source if isinstance(source, Data) else Data.of(source)
    engine = None if isinstance(source, Data) else source
    last = last_day(data)
    year = payment_year or default_payment_year(last)
    start, end = dt.date(year - 1, 1, 1), dt.date(year - 1, 12, 31)
    if start > last:
        raise PopweaveError(
            f"payment year {year} needs diagnoses of {year - 1}; the data end on {last}"
        )
    as_of = dt.date(year, 2, 1)
    say(f"CMS-HCC {version.upper()} for {year}: diagnoses of {year - 1}")
    dx = diagnoses(data, start, end)
    people = hcc_people(data, as_of=as_of)
    options = {"normalisation": normalisation, "coding_adjustment": coding_adjustment}
    # Loads store ICD-10-CM codes in canonical spelling, so they are matched as they are.
    scores = hcc_score_table(dx, people, version=version, hccs=True, codes="canonical", **options)
    if scores.num_rows == 0:
        raise PopweaveError(f"nobody has Medicare or dual coverage on {as_of}")
    say("the factors behind each score")
    factors = hcc_factors(dx, people, version=version, codes="canonical").to_pyarrow()
    if engine is not None:
        say("storing hcc_score and hcc_factor")
        keys = {"payment_year": year, "version": version}
        engine.save_result(SCORE_TABLE, _with(scores, keys), replace=keys)
        engine.save_result(FACTOR_TABLE, _with(factors, keys), replace=keys)
    return HccRun(year, version, as_of, scores.to_pandas(), _top(factors, version, scores))


def _with(table: pa.Table, keys: dict[str, Any]) -> pa.Table:
    n = table.num_rows
    out = table.append_column("payment_year", pa.array([keys["payment_year"]] * n, pa.int32()))
    return out.append_column("version", pa.array([keys["version"]] * n, pa.string()))


def _top(factors: pa.Table, version: str, scores: pa.Table) -> pd.DataFrame:
    f = factors.to_pandas()
    hccs = f[f.variable.str.fullmatch(r"HCC\d+")]
    counts = hccs.groupby("variable").person_id.nunique().sort_values(ascending=False)
    labels = {r["hcc"]: r["label"] for r in rows(f"hcc_{version}_labels")}
    return pd.DataFrame(
        {
            "hcc": counts.index,
            "label": [labels.get(h, "") for h in counts.index],
            "people": counts.to_numpy(),
            "share": counts.to_numpy() / scores.num_rows,
        }
    )
