"""The equity table: a measure by the groups of person or area attributes, each group against
a reference group, standardised for age and sex, with small cells suppressed.

Per-unit work runs in the engine: the measure's unit rows (``popweave.measures.run.units``)
are joined to the attributes and counted per (group, age band, sex); Python computes the
intervals, comparisons and standardised rates on those counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from popweave.cohorts.data import Data
from popweave.cohorts.period import Period
from popweave.equity import compare
from popweave.equity.attributes import ATTRIBUTES, attributes
from popweave.equity.standardise import direct, standard_weights
from popweave.equity.suppress import MIN_CELL, suppress_mask
from popweave.errors import PopweaveError
from popweave.measures.intervals import rate_exact, wilson
from popweave.measures.spec import MeasureSpec, load_specs

Z95 = 1.959963984540054

#: The comparison of a group with the reference group (empty in the reference's own row).
COMPARISON = (
    "ratio",
    "ratio_lower",
    "ratio_upper",
    "difference",
    "difference_lower",
    "difference_upper",
)
COLUMNS = [
    "measure",
    "period",
    "stratifier",
    "group",
    "is_reference",
    "units",
    "numerator",
    "denominator",
    "rate",
    "lower",
    "upper",
    "std_rate",
    "std_lower",
    "std_upper",
    *COMPARISON,
    "p_value",
    "q_value",
    "suppressed",
    "note",
]


def find_spec(measure: str, specs: list[MeasureSpec] | None = None) -> MeasureSpec:
    """The spec of ``measure`` (shipped library by default); a clear error if unknown."""
    from popweave.measures.run import logic_registry

    specs = specs if specs is not None else load_specs(logic_names=set(logic_registry()))
    for s in specs:
        if s.id == measure:
            return s
    known = ", ".join(s.id for s in specs)
    raise PopweaveError(f"unknown measure {measure!r}; known: {known}")


def is_count_rate(spec: MeasureSpec) -> bool:
    """Rates whose events are counts (visits), not amounts (dollars per member-month)."""
    return spec.info.kind == "rate" and not spec.info.id.startswith("pmpm")


def _data(source: Any) -> Data:
    return source if isinstance(source, Data) else Data.of(source)


def unit_rows(spec: MeasureSpec, data: Data, period: Period) -> Any:
    """The measure's rows as ``(person_id, unit_date, y, n)``
    (:func:`popweave.measures.run.outcome_rows`)."""
    from popweave.measures.run import outcome_rows

    return outcome_rows(spec, data, period)


def cell_counts(rows: Any, attrs: Any, by: str) -> pd.DataFrame:
    """Counts per ``(group, age_band, sex)``: units, numerator, denominator and the sums of
    squares a ratio-of-sums variance needs. Runs one aggregate query."""
    j = rows.left_join(attrs, "person_id")
    j = j.select(
        y=rows.y,
        n=rows.n,
        group=attrs[by].fill_null("unknown"),
        age_band=attrs.age_band.fill_null("unknown"),
        sex=attrs.sex.fill_null("unknown"),
    )
    agg = j.group_by(["group", "age_band", "sex"]).aggregate(
        units=j.count(),
        numerator=j.y.sum(),
        denominator=j.n.sum(),
        syy=(j.y * j.y).sum(),
        snn=(j.n * j.n).sum(),
        syn=(j.y * j.n).sum(),
    )
    out: pd.DataFrame = agg.execute()
    out["group"] = out["group"].astype(str)
    return out.fillna(0)


@dataclass
class EquityTable:
    """What :func:`table` returns: ``rows`` (one per stratifier and group) and the spec."""

    spec: MeasureSpec
    period: Period
    rows: pd.DataFrame
    standard: str

    def gaps(self, n: int = 10) -> pd.DataFrame:
        return largest_gaps(self.rows, self.spec, n)


def _group_stats(g: pd.DataFrame, spec: MeasureSpec, level: float) -> pd.DataFrame:
    """Crude rate with its interval per group, and the variance of the rate."""
    num = g["numerator"].to_numpy(dtype=np.float64)
    den = g["denominator"].to_numpy(dtype=np.float64)
    per = spec.info.per
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.where(den > 0, num / den, np.nan)
    if spec.info.kind == "proportion":
        lo, hi = wilson(num, den, level)
        var = r * (1 - r) / den
    elif is_count_rate(spec):
        lo, hi = rate_exact(num, den, 1.0, level)
        var = num / den**2
    else:
        # Ratio of sums with persons as clusters (Cochran 1977, s. 6.4), as measures do.
        units = g["units"].to_numpy(dtype=np.float64)
        ss = g["syy"].to_numpy() - 2 * r * g["syn"].to_numpy() + r * r * g["snn"].to_numpy()
        with np.errstate(invalid="ignore", divide="ignore"):
            var = np.where(units > 1, units / (units - 1) * ss / den**2, np.nan)
        from scipy import stats

        z = float(stats.norm.ppf(0.5 + level / 2))
        lo, hi = r - z * np.sqrt(var), r + z * np.sqrt(var)
    out = g.copy()
    out["rate"], out["lower"], out["upper"], out["_var"] = r * per, lo * per, hi * per, var
    return out


def _compare(g: pd.DataFrame, ref: pd.DataFrame, spec: MeasureSpec, level: float) -> pd.DataFrame:
    """Each row of ``g`` against the same row of ``ref`` (the reference group repeated, or
    the rest of the population)."""
    a, n1 = g["numerator"].to_numpy(float), g["denominator"].to_numpy(float)
    c, n0 = ref["numerator"].to_numpy(float), ref["denominator"].to_numpy(float)
    per = spec.info.per
    if spec.info.kind == "proportion":
        rr = compare.risk_ratio(a, n1, c, n0, level)
        rd = compare.risk_difference(a, n1, c, n0, level)
        p = compare.proportions_p(a, n1, c, n0)
    elif is_count_rate(spec):
        rr = compare.rate_ratio(a, n1, c, n0, level)
        rd = compare.rate_difference(a, n1, c, n0, level)
        p = compare.rates_p(a, n1, c, n0)
    else:
        r1 = g["rate"].to_numpy(float) / per
        v1 = g["_var"].to_numpy(float)
        r0, v0 = ref["rate"].to_numpy(float) / per, ref["_var"].to_numpy(float)
        rr = compare.ratio_normal(r1, v1, r0, v0, level)
        d, lo, hi, p = compare.difference_normal(r1, v1, r0, v0, level)
        rd = (d, lo, hi)
    out = g.copy()
    out["ratio"], out["ratio_lower"], out["ratio_upper"] = rr
    out["difference"] = rd[0] * per
    out["difference_lower"] = rd[1] * per
    out["difference_upper"] = rd[2] * per
    out["p_value"] = p
    return out


#: ``reference=REST`` compares each group with everyone else (the rest of the population).
REST = "rest"


def _pick_reference(groups: pd.DataFrame, by: str, reference: Any) -> str:
    names = [str(x) for x in groups["group"]]
    if reference == REST and REST not in names:
        return REST
    if reference is None:
        # The largest group: the most precise baseline (a common default, e.g. CDC
        # Health Disparities and Inequalities Report 2013).
        known = groups[groups["group"] != "unknown"]
        pool = known if len(known) else groups
        return str(pool.sort_values("denominator", ascending=False)["group"].iloc[0])
    ref = str(reference)
    if ref not in names:
        raise PopweaveError(
            f"reference group {ref!r} not found for {by}; groups: {', '.join(sorted(names))}"
        )
    return ref


def _published_cells(g: pd.DataFrame, spec: MeasureSpec) -> pd.DataFrame:
    if spec.info.kind == "proportion":
        return pd.DataFrame({"num": g["numerator"], "rest": g["denominator"] - g["numerator"]})
    if is_count_rate(spec):
        return pd.DataFrame({"num": g["numerator"], "units": g["units"]})
    return pd.DataFrame({"units": g["units"]})


STAT_COLUMNS = [c for c in COLUMNS[5:22]]


def table(
    source: Any,
    measure: str | MeasureSpec,
    period: Period | int | str,
    by: str | list[str] | tuple[str, ...],
    reference: Any = None,
    *,
    standard: str = "city",
    level: float = 0.95,
    min_cell: int | None = MIN_CELL,
    specs: list[MeasureSpec] | None = None,
) -> EquityTable:
    """A measure by the groups of one or more attributes, against a reference group.

    Parameters: ``source`` an engine or :class:`~popweave.cohorts.data.Data`; ``measure`` a
    measure id (or spec); ``period`` a year or ``START..END``; ``by`` attribute names
    (:data:`~popweave.equity.attributes.ATTRIBUTES`); ``reference`` the reference group (a
    value, or a mapping attribute -> value; default the largest group; ``"rest"`` compares
    each group with everyone outside it); ``standard``
    ``"city"`` or ``"us2000"`` for the age-sex standardised rate; ``min_cell`` the smallest
    publishable count (``None`` publishes everything: for analysts with access to the rows).

    Returns an :class:`EquityTable` whose ``rows`` has one row per (stratifier, group):
    crude rate with its 95% interval (Wilson for proportions, Garwood exact for rates),
    the directly standardised rate (Fay-Feuer interval), ratio and difference against the
    reference with intervals (see :mod:`popweave.equity.compare`), p-value and the
    Benjamini-Hochberg q-value over every comparison in the table, and ``suppressed``.
    """
    spec = measure if isinstance(measure, MeasureSpec) else find_spec(measure, specs)
    per = period if isinstance(period, Period) else Period.parse(str(period))
    bys = [by] if isinstance(by, str) else list(by)
    bad = [b for b in bys if b not in ATTRIBUTES]
    if bad:
        raise PopweaveError(
            f"cannot stratify by {', '.join(bad)}; attributes: {', '.join(ATTRIBUTES)}"
        )
    data = _data(source)
    rows = unit_rows(spec, data, per)
    attrs = attributes(data, per, ["age_band", "sex", *bys])
    if len(bys) > 1:
        rows = rows.cache()
        attrs = attrs.cache()
    parts = []
    weights = None
    for b in bys:
        cells = cell_counts(rows, attrs, b)
        if weights is None:
            weights = standard_weights(standard, cells)
        groups = (
            cells.groupby("group", as_index=False)[
                ["units", "numerator", "denominator", "syy", "snn", "syn"]
            ]
            .sum()
            .sort_values("group")
        )
        if groups.empty:
            continue
        g = _group_stats(groups, spec, level)
        refname = _pick_reference(
            g, b, reference.get(b) if isinstance(reference, dict) else reference
        )
        if refname == REST:
            sums = ["units", "numerator", "denominator", "syy", "snn", "syn"]
            rest = groups.copy()
            rest[sums] = groups[sums].sum().to_numpy() - groups[sums].to_numpy()
            ref = _group_stats(rest, spec, level)
        else:
            one = g[g["group"] == refname]
            ref = one.loc[one.index.repeat(len(g))].reset_index(drop=True)
        g = _compare(g.reset_index(drop=True), ref.reset_index(drop=True), spec, level)
        g["is_reference"] = g["group"] == refname
        ref_mask = g["is_reference"].to_numpy()
        for c in (*COMPARISON, "p_value"):
            g.loc[ref_mask, c] = np.nan
        if spec.info.kind == "proportion" or is_count_rate(spec):
            std = direct(cells, weights, "group", level)
            std[["std_rate", "std_lower", "std_upper"]] *= spec.info.per
            g = g.merge(std, on="group", how="left")
        else:
            g["std_rate"] = g["std_lower"] = g["std_upper"] = np.nan
            g["coverage"] = np.nan
        g["stratifier"] = b
        g["note"] = ""
        if min_cell is not None:
            mask = suppress_mask(_published_cells(g, spec), min_cell)
            g["suppressed"] = mask
            if mask[ref_mask].any():
                cmp_cols = [c for c in STAT_COLUMNS if c.startswith(("ratio", "difference"))]
                g.loc[:, [*cmp_cols, "p_value"]] = np.nan
                g.loc[~mask, "note"] = "reference group suppressed: no comparison"
        else:
            g["suppressed"] = False
        parts.append(g)
    out = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=COLUMNS)
    out["q_value"] = compare.bh_qvalues(out["p_value"].to_numpy(dtype=np.float64))
    out["measure"] = spec.id
    out["period"] = str(per)
    low_cover = out.get("coverage", pd.Series(1.0, index=out.index)).fillna(1.0) < 0.999
    out.loc[low_cover & (out["note"] == ""), "note"] = "standardised over the age-sex cells it has"
    sup = out["suppressed"].astype(bool)
    out.loc[sup, STAT_COLUMNS] = np.nan
    out.loc[sup, "note"] = f"suppressed: a count under {min_cell} (or to protect one)"
    out.loc[sup, "q_value"] = np.nan
    out = out[COLUMNS].reset_index(drop=True)
    return EquityTable(spec, per, out, standard)


def largest_gaps(rows: pd.DataFrame, spec: MeasureSpec, n: int = 10) -> pd.DataFrame:
    """Groups doing worse than their reference, ranked: significant gaps (BH q < 0.05)
    first, then by the excess (numerator units the group would avoid, or gain, at the
    reference rate: |difference| x denominator)."""
    r = rows[~rows["suppressed"] & ~rows["is_reference"] & rows["difference"].notna()].copy()
    worse = r["difference"] < 0 if spec.info.higher_is_better else r["difference"] > 0
    r = r[worse]
    ref = rows[rows["is_reference"]].set_index("stratifier")
    r["reference"] = r["stratifier"].map(ref["group"]).fillna(REST)
    r["reference_rate"] = r["rate"] - r["difference"]
    r["excess"] = r["difference"].abs() * r["denominator"] / spec.info.per
    r["significant"] = r["q_value"] < 0.05
    r = r.sort_values(["significant", "excess"], ascending=[False, False]).head(n)
    r.insert(0, "rank", np.arange(1, len(r) + 1))
    cols = [
        "rank",
        "measure",
        "stratifier",
        "group",
        "reference",
        "rate",
        "reference_rate",
        *COMPARISON,
        "q_value",
        "significant",
        "excess",
    ]
    out: pd.DataFrame = r[cols].reset_index(drop=True)
    return out
