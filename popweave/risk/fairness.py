"""Subgroup fairness audit of a risk score: discrimination, calibration and label choice.

For each attribute (race/ethnicity, sex, deprivation quintile) and each of its groups, the
audit reports AUROC and calibration of the score against the outcome it was trained on, and
the *label-choice check* of Obermeyer et al. (Science 2019;366:447-53): at equal score, do
patients of one group carry more illness than the others? A model trained on a proxy label
such as cost inherits the proxy's bias -- a group that receives less care costs less at equal
need, so it scores lower when it is as sick -- and stays well calibrated on its own label,
which is why calibration alone does not reveal it.

The check is an indirect standardisation over bins of the score (deciles of the whole
population): the group's observed active chronic conditions are divided by those expected if
its members had the mean of the *other* groups in the same score bin. The ratio's 95% interval
uses the delta method on the log ratio, with the within-bin variances of both sides. A ratio of
1.26 means the group carries 26% more chronic illness than others with the same score.

A group is flagged for one of three reasons, each needing both a material size (beyond
``tolerance``) and a 95% interval that excludes no difference:

- ``label_choice``: need ratio above 1 + tolerance (the group is sicker than others with the
  same score, so a programme enrolling by score under-serves it; the mirror image, a group
  healthier at equal score, is the other side of the same finding and is not flagged again);
- ``calibration``: observed / expected outcome ratio outside the same band;
- ``discrimination``: AUROC more than ``auroc_gap`` below that of everyone else.

Groups smaller than ``min_group`` are reported but never flagged.

>>> import numpy as np, pandas as pd
>>> rng = np.random.default_rng(0)
>>> need = rng.poisson(1.5, 4000)
>>> group = np.where(rng.random(4000) < 0.3, "b", "a")
>>> score = need * np.where(group == "b", 0.5, 1.0) + rng.normal(0, 0.3, 4000)
>>> df = pd.DataFrame({"score": 1 / (1 + np.exp(-score + 2)), "outcome": need > 2,
...                    "need": need, "group": group})
>>> a = audit(df, attributes=("group",))
>>> [(f.group, f.kind) for f in a.flags if f.kind == "label_choice"]
[('b', 'label_choice')]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from popweave.risk.model import auroc, evaluate

ATTRIBUTES = ("race_ethnicity", "sex", "deprivation_quintile")
Z95 = 1.959963984540054


@dataclass(frozen=True)
class Flag:
    """One finding of the audit."""

    attribute: str
    group: str
    kind: str
    message: str


@dataclass
class Audit:
    """The audit's table (one row per attribute and group), the plot-ready curves (one row
    per attribute, group and score bin) and the flags."""

    table: pd.DataFrame
    curves: pd.DataFrame
    flags: list[Flag] = field(default_factory=list)

    @property
    def flagged(self) -> bool:
        return bool(self.flags)

    def kinds(self) -> set[str]:
        return {f.kind for f in self.flags}


def _bins(score: np.ndarray, bins: int) -> np.ndarray:
    ranks = pd.Series(score).rank(method="first").to_numpy()
    out: np.ndarray = np.minimum((ranks - 1) * bins // len(score), bins - 1).astype(int) + 1
    return out


def need_ratio(
    need: np.ndarray, in_group: np.ndarray, score_bin: np.ndarray
) -> tuple[float, float, float]:
    """Observed / expected need of the group at equal score bin, with a 95% interval."""
    obs = exp = var_o = var_e = 0.0
    for b in np.unique(score_bin[in_group]):
        g = need[in_group & (score_bin == b)]
        r = need[~in_group & (score_bin == b)]
        if len(r) < 2:
            continue
        obs += g.sum()
        exp += len(g) * r.mean()
        var_o += len(g) * (g.var(ddof=1) if len(g) > 1 else 0.0)
        var_e += len(g) ** 2 * r.var(ddof=1) / len(r)
    if obs <= 0 or exp <= 0:
        return float("nan"), float("nan"), float("nan")
    ratio = obs / exp
    se = np.sqrt(var_o / obs**2 + var_e / exp**2)
    return float(ratio), float(ratio * np.exp(-Z95 * se)), float(ratio * np.exp(Z95 * se))


def _oe_interval(y: np.ndarray, p: np.ndarray) -> tuple[float, float, float]:
    """Observed / expected events with a 95% interval (variance of the sum of Bernoullis)."""
    o, e = float(y.sum()), float(p.sum())
    if o <= 0 or e <= 0:
        return float("nan"), float("nan"), float("nan")
    var = float((p * (1 - p)).sum())
    se = np.sqrt(var) / o
    r = o / e
    return r, r * float(np.exp(-Z95 * se)), r * float(np.exp(Z95 * se))


def audit(
    frame: pd.DataFrame,
    *,
    score: str = "score",
    outcome: str = "outcome",
    need: str = "need",
    attributes: Sequence[str] = ATTRIBUTES,
    bins: int = 10,
    min_group: int = 100,
    tolerance: float = 0.05,
    auroc_gap: float = 0.05,
) -> Audit:
    """Audit ``frame`` (one row per person with ``score``, ``outcome``, ``need`` and the
    ``attributes``); see the module docstring for the method and the flags."""
    s = frame[score].to_numpy(dtype=np.float64)
    y = frame[outcome].to_numpy(dtype=np.float64)
    nd = frame[need].to_numpy(dtype=np.float64)
    sb = _bins(s, bins)
    hi, lo = 1 + tolerance, 1 / (1 + tolerance)
    rows, curves, flags = [], [], []
    for attr in attributes:
        col = frame[attr].astype("string").fillna("unknown").to_numpy()
        for grp in sorted(set(col)):
            m = col == grp
            met = evaluate(y[m], s[m])
            rest_auc, rest_se = auroc(y[~m], s[~m])
            nr, nr_lo, nr_hi = need_ratio(nd, m, sb)
            oe, oe_lo, oe_hi = _oe_interval(y[m], s[m])
            row = {
                "attribute": attr,
                "group": grp,
                "n": int(m.sum()),
                "events": met.events,
                "observed": met.observed,
                "expected": met.expected,
                "oe_ratio": oe,
                "oe_lower": oe_lo,
                "oe_upper": oe_hi,
                "auroc": met.auroc,
                "auroc_se": met.auroc_se,
                "auroc_others": rest_auc,
                "brier": met.brier,
                "mean_need": float(nd[m].mean()) if m.any() else float("nan"),
                "need_ratio": nr,
                "need_lower": nr_lo,
                "need_upper": nr_hi,
            }
            found = []
            if m.sum() >= min_group:
                if nr_lo > 1 and nr > hi:
                    found.append(
                        (
                            "label_choice",
                            f"at equal score, {attr}={grp} carries {nr:.2f}x the active "
                            f"chronic conditions of others (95% {nr_lo:.2f}-{nr_hi:.2f})",
                        )
                    )
                if (oe_lo > 1 or oe_hi < 1) and (oe > hi or oe < lo):
                    found.append(
                        (
                            "calibration",
                            f"{attr}={grp}: observed / expected {oe:.2f} "
                            f"(95% {oe_lo:.2f}-{oe_hi:.2f})",
                        )
                    )
                gap = rest_auc - met.auroc
                se = float(np.hypot(met.auroc_se, rest_se))
                if gap > auroc_gap and gap > Z95 * se:
                    found.append(
                        (
                            "discrimination",
                            f"{attr}={grp}: AUROC {met.auroc:.3f} against {rest_auc:.3f} "
                            "for everyone else",
                        )
                    )
            row["flags"] = ", ".join(k for k, _ in found)
            rows.append(row)
            flags += [Flag(attr, grp, k, msg) for k, msg in found]
            for b in range(1, bins + 1):
                mb = m & (sb == b)
                if not mb.any():
                    continue
                curves.append(
                    {
                        "attribute": attr,
                        "group": grp,
                        "score_bin": b,
                        "n": int(mb.sum()),
                        "mean_score": float(s[mb].mean()),
                        "observed": float(y[mb].mean()),
                        "mean_need": float(nd[mb].mean()),
                    }
                )
    return Audit(pd.DataFrame(rows), pd.DataFrame(curves), flags)
