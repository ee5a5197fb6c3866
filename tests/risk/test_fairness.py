"""The fairness audit: the label-choice check on hand-made data, and on a synthetic city
where one group gets less care at equal need (Params.access_gap) -- a cost-labelled model is
flagged, a need-labelled one is not (Obermeyer et al., Science 2019)."""

from __future__ import annotations

import datetime as dt
import doctest
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from popweave.cohorts import Data
from popweave.risk import fairness
from popweave.risk.deprivation import AreaDeprivationIndex
from popweave.risk.fairness import audit, need_ratio
from popweave.risk.model import RiskModel
from popweave.risk.run import LABELS, frame
from popweave.synth import Params, build_city
from popweave.warehouse import load, open_workspace_engine, rebuilding
from popweave.workspace import Workspace


def test_docstring_example_runs() -> None:
    assert doctest.testmod(fairness).failed == 0


def test_need_ratio_is_one_at_equal_need_and_two_at_double() -> None:
    rng = np.random.default_rng(3)
    n = 20000
    g = rng.random(n) < 0.3
    score_bin = rng.integers(1, 11, n)
    need = rng.poisson(score_bin * 0.3)
    r, lo, hi = need_ratio(need.astype(float), g, score_bin)
    assert lo < 1 < hi and r == pytest.approx(1, abs=0.03)
    doubled = np.where(g, 2 * need, need).astype(float)
    r, lo, hi = need_ratio(doubled, g, score_bin)
    assert r == pytest.approx(2, rel=0.05) and lo > 1.8


def test_small_groups_are_reported_but_not_flagged() -> None:
    rng = np.random.default_rng(4)
    n = 3000
    df = pd.DataFrame({"score": rng.uniform(0.25, 0.35, n), "outcome": rng.random(n) < 0.3})
    df["group"] = np.where(np.arange(n) < 50, "tiny", "big")
    df["need"] = np.where(df.group == "tiny", 5, 1) * (1 + rng.poisson(1, n))
    a = audit(df, attributes=("group",))
    row = a.table.set_index("group").loc["tiny"]
    assert row.need_ratio > 3 and row["flags"] == "" and not a.flagged
    assert set(a.curves.columns) == {
        "attribute",
        "group",
        "score_bin",
        "n",
        "mean_score",
        "observed",
        "mean_need",
    }
    assert a.curves.groupby("group").n.sum().to_dict() == {"big": 2950, "tiny": 50}


@pytest.fixture(scope="module")
def biased_city(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """20,000 people; Black residents get 40% of the care (visits, ED, stays) at equal need."""
    ws = Workspace.init(Path(tmp_path_factory.mktemp("biased")) / "ws")
    city = build_city(20_000, 8, Params(access_gap=0.6, access_gap_group="black"))
    with rebuilding(ws.engine_url, ws.root) as eng:
        load(eng, city.tables(), source="biased city", quarantine_dir=ws.quarantine_dir)
    eng = open_workspace_engine(ws)
    data = Data.of(eng)
    area = AreaDeprivationIndex().fit(data).transform(data)
    train = frame(data, dt.date(2023, 12, 31), area)
    test = frame(data, dt.date(2024, 12, 31), area)
    yield train, test
    eng.close()


def _audit(train: pd.DataFrame, test: pd.DataFrame, label: str) -> fairness.Audit:
    fn = LABELS[label]
    m = RiskModel().fit(train, fn(train))
    return audit(test.assign(score=m.score(test), outcome=fn(test)))


@pytest.mark.slow
def test_audit_flags_the_cost_label_on_a_city_with_unequal_access(biased_city: Any) -> None:
    train, test = biased_city
    a = _audit(train, test, "high_cost")
    found = {(f.attribute, f.group, f.kind) for f in a.flags}
    assert ("race_ethnicity", "black", "label_choice") in found, a.table.to_string()
    row = a.table.set_index(["attribute", "group"]).loc[("race_ethnicity", "black")]
    assert row.need_lower > 1.05


@pytest.mark.slow
def test_audit_passes_the_need_label_on_the_same_city(biased_city: Any) -> None:
    train, test = biased_city
    a = _audit(train, test, "high_need")
    assert not a.flagged, [f.message for f in a.flags]
    row = a.table.set_index(["attribute", "group"]).loc[("race_ethnicity", "black")]
    assert row.need_lower < 1.05
