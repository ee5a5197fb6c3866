"""Assignment on the synthetic city: every constraint holds for the optimiser and the greedy
baseline, the optimiser beats greedy on the stated objective, and it matches an independent
MILP solver (HiGHS through scipy) on a small instance."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import coo_matrix

from popweave import measures, risk
from popweave.errors import PopweaveError
from popweave.outreach import worklist
from popweave.outreach.assign import Costs, _problem, assign_worklist, greedy, optimal, violations
from popweave.outreach.roster import areas, load_roster, synthetic_roster
from popweave.warehouse import open_workspace_engine
from popweave.warehouse.base import Engine
from popweave.workspace import Workspace
from tests.synth.conftest import Built, built  # noqa: F401 - the session city fixture

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def city(built: Built, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:  # noqa: F811
    """A copy of the session city with its measures and risk run (so the shared city is
    left as it is)."""
    root = tmp_path_factory.mktemp("outreach_city") / "ws"
    shutil.copytree(Path(built.ws.root), root)
    with open_workspace_engine(Workspace.open(root)) as eng:
        measures.run(eng, 2025)
        risk.run(eng)
        yield eng


@pytest.fixture(scope="module")
def setup(city: Engine) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    ros = synthetic_roster(city, per_practice=3, caseload=80, seed=1)
    pts = worklist(city, top=3000)[["person_id", "priority", "language", "area_id"]]
    return pts, ros, areas(city)


def test_the_city_worklist_has_every_kind_of_reason(city: Engine) -> None:
    w = worklist(city)
    for words in ("high risk tier", "no follow-up", "open gap", "transport need"):
        assert w.reason.str.contains(words).any(), words
    assert w.priority.is_monotonic_decreasing


def test_constraints_hold_and_the_optimiser_beats_greedy(setup: tuple[pd.DataFrame, ...]) -> None:
    pts, ros, xy = setup
    assert pts.language.ne("en").sum() > 100  # the language constraint has work to do
    opt, gr = optimal(pts, ros, xy), greedy(pts, ros, xy)
    for a in (opt, gr):
        assert violations(a, pts, ros) == []
        assert (a.loads <= ros.set_index("coordinator_id").caseload).all()
    assert opt.assigned > 0.9 * ros.caseload.sum()
    assert opt.objective > gr.objective * 1.005, (opt.objective, gr.objective)
    # A patient who needs Spanish is only ever with a Spanish speaker.
    speaks = dict(zip(ros.coordinator_id, ros.languages, strict=True))
    es = set(pts.person_id[pts.language == "es"])
    with_es = opt.table[opt.table.person_id.isin(es)]
    assert len(with_es) > 0 and all("es" in speaks[k] for k in with_es.coordinator_id)


def test_only_required_languages_bind(setup: tuple[pd.DataFrame, ...]) -> None:
    pts, ros, xy = setup
    costs = Costs(required_languages=frozenset({"es"}))
    a = optimal(pts, ros, xy, costs)
    assert violations(a, pts, ros, costs) == []
    lang = dict(zip(pts.person_id, pts.language, strict=True))
    speaks = dict(zip(ros.coordinator_id, ros.languages, strict=True))
    pairs = [
        (lang[p], speaks[k]) for p, k in zip(a.table.person_id, a.table.coordinator_id, strict=True)
    ]
    assert any(x not in s for x, s in pairs if x in ("zh", "vi"))  # with an interpreter
    assert all(x in s for x, s in pairs if x == "es")


def _milp_objective(pts: pd.DataFrame, ros: pd.DataFrame, xy: pd.DataFrame) -> float:
    pr = _problem(pts, ros, xy, Costs())
    rows, cols = np.nonzero(~np.isnan(pr.value))
    k = len(rows)
    a_pat = coo_matrix((np.ones(k), (rows, np.arange(k))), shape=(len(pts), k))
    a_cor = coo_matrix((np.ones(k), (cols, np.arange(k))), shape=(len(ros), k))
    res = milp(
        -pr.value[rows, cols],
        constraints=[
            LinearConstraint(a_pat, 0, 1),
            LinearConstraint(a_cor, 0, ros.caseload.to_numpy()),
        ],
        integrality=np.ones(k),
        bounds=Bounds(0, 1),
    )
    assert res.success
    return float(-res.fun)


def test_the_optimiser_matches_an_independent_milp(setup: tuple[pd.DataFrame, ...]) -> None:
    pts, ros, xy = setup
    small_pts = pts.iloc[::15].reset_index(drop=True)
    small_ros = ros.iloc[:8].assign(caseload=12)
    opt = optimal(small_pts, small_ros, xy)
    assert opt.objective == pytest.approx(_milp_objective(small_pts, small_ros, xy), abs=0.05)
    assert opt.objective >= greedy(small_pts, small_ros, xy).objective


def test_stored_panels_filter_the_worklist(city: Engine) -> None:
    ros = synthetic_roster(city, per_practice=2, caseload=30)
    a = assign_worklist(city, roster=ros)
    k = a.table.coordinator_id.iloc[0]
    panel = worklist(city, coordinator=k)
    assert set(panel.person_id) == set(a.table.person_id[a.table.coordinator_id == k])


def test_roster_csv(city: Engine, tmp_path: Path) -> None:
    f = tmp_path / "roster.csv"
    f.write_text("coordinator_id,practice_id,languages,areas,caseload\nR1,C1,en;es,A1;A2,5\n")
    ros = load_roster(f, city)
    assert ros.languages[0] == frozenset({"en", "es"}) and ros.lat.notna().all()
    f.write_text("coordinator_id,languages,areas,caseload\nR1,en,,5\n")
    with pytest.raises(PopweaveError, match="line 2: coordinator R1 covers no area"):
        load_roster(f)
    f.write_text("coordinator_id,languages\nR1,en\n")
    with pytest.raises(PopweaveError, match="roster columns missing: areas, caseload"):
        load_roster(f)
