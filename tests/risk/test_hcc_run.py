"""`popweave run hcc` end to end on a synthetic city: who is scored, what is stored, reruns."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from tests.ingest._cli import cli


@pytest.fixture
def ws(city_ws: Path) -> Path:
    return city_ws


def printed_counts(stdout: str) -> list[int]:
    """The whole numbers in the cells of the tables a command printed."""
    return [int(n.replace(",", "")) for n in re.findall(r"│\s*([\d,]+)\s*│", stdout)]


def query(ws: Path, sql: str) -> pd.DataFrame:
    with duckdb.connect(str(ws / "warehouse.duckdb"), read_only=True) as con:
        return con.sql(sql).df()


def test_scores_everyone_with_medicare_on_1_february_and_stores_the_factors(ws: Path) -> None:
    res = cli("run", "hcc", "-w", ws, cwd=ws.parent)
    assert res.returncode == 0, res.stderr
    assert "payment year 2026" in res.stdout and "Stored in the warehouse" in res.stdout
    # No count of fewer than 11 people is printed: segments are suppressed (with one more
    # where the rest would give them away from the total), HCCs shown as "<11".
    shown = printed_counts(res.stdout)
    assert shown and min(shown) >= 11, res.stdout
    assert "Counts under 11 people are not shown" in res.stdout
    # Who: Medicare or dual coverage on 2026-02-01 (the synthetic data end in 2025).
    covered = query(
        ws,
        "SELECT DISTINCT person_id FROM enrollment WHERE payer IN ('medicare', 'dual') "
        "AND start_date <= DATE '2026-02-01' "
        "AND (end_date IS NULL OR end_date >= DATE '2026-02-01')",
    )
    scores = query(ws, "SELECT * FROM hcc_score").set_index("person_id")
    assert len(covered) > 50
    assert set(scores.index) == set(covered.person_id)
    assert set(scores.payment_year) == {2026} and set(scores.version) == {"v28"}
    # Segments from the age on 1 February of the payment year.
    born = query(ws, "SELECT person_id, birth_date FROM person").set_index("person_id")
    for pid, row in scores.head(40).iterrows():
        b = pd.Timestamp(born.loc[pid, "birth_date"]).date()
        day = dt.date(2026, 2, 1)
        age = day.year - b.year - ((day.month, day.day) < (b.month, b.day))
        assert row.segment.endswith("A" if age >= 65 else "D"), (pid, age, row.segment)
    # The factors add up to the score, and the HCCs listed are the factor rows' HCCs.
    factors = query(ws, "SELECT * FROM hcc_factor")
    total = factors.groupby("person_id").coefficient.sum()
    assert (scores.score - total.reindex(scores.index, fill_value=0.0)).abs().max() < 5e-4
    hcc_rows = factors[factors.variable.str.fullmatch(r"HCC\d+")]
    listed = hcc_rows.groupby("person_id").variable.apply(set)
    for pid, row in scores[scores.hcc_count > 0].iterrows():
        assert set(row.hccs.split(",")) == listed[pid]
    assert (scores.hcc_count > 0).sum() > 10


def test_reruns_replace_and_versions_sit_side_by_side(ws: Path) -> None:
    assert cli("run", "hcc", "-w", ws, cwd=ws.parent).returncode == 0
    before = query(ws, "SELECT version, count(*) AS n FROM hcc_score GROUP BY 1")
    assert cli("run", "hcc", "-w", ws, cwd=ws.parent).returncode == 0
    res = cli("run", "hcc", "--version", "v24", "--normalisation", "1.1", "-w", ws, cwd=ws.parent)
    assert res.returncode == 0, res.stderr
    after = query(ws, "SELECT version, count(*) AS n FROM hcc_score GROUP BY 1 ORDER BY 1")
    assert after.set_index("version").n.to_dict() == {
        "v24": int(before.n.iloc[0]),
        "v28": int(before.n.iloc[0]),
    }
    v24 = query(ws, "SELECT score, risk_score FROM hcc_score WHERE version = 'v24'")
    assert (v24.risk_score - (v24.score / 1.1).round(3)).abs().max() < 1e-3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--year", "2031"], "needs diagnoses of 2030; the data end on"),
        (["--version", "v99"], "unknown CMS-HCC version 'v99'"),
        (["--coding-adjustment", "1.5"], "coding adjustment must be in [0, 1)"),
    ],
)
def test_errors_are_one_line(ws: Path, args: list[str], message: str) -> None:
    res = cli("run", "hcc", *args, "-w", ws, cwd=ws.parent)
    assert res.returncode != 0
    assert message in res.stderr and "Traceback" not in res.stderr


def test_small_counts_are_not_printed(tmp_path: Path) -> None:
    assert cli("init", tmp_path / "ws", cwd=tmp_path).returncode == 0
    res = cli("synth", "--people", "400", "--seed", "5", "-w", tmp_path / "ws", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    res = cli("run", "hcc", "-w", tmp_path / "ws", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    shown = printed_counts(res.stdout)
    assert all(n >= 11 for n in shown), res.stdout
    # This small city has HCCs paid to fewer than 11 people: they are listed, count hidden.
    assert "<11" in res.stdout, res.stdout
    stored = query(tmp_path / "ws", "SELECT hccs FROM hcc_score WHERE hcc_count > 0")
    assert len(stored) > 0  # the table itself keeps every row
