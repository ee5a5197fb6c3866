"""Trends: a measure by month, quarter or year and group, with p- and u-charts and run rules
that flag special-cause change."""

from __future__ import annotations

from typing import Any

import pandas as pd

from popweave.trends.control import RULES, control_chart, rule_flags
from popweave.trends.series import bins, series

__all__ = ["RULES", "bins", "chart", "control_chart", "rule_flags", "series"]


def chart(source: Any, measure: str, by: str = "quarter", group: str | None = None,
          **kwargs: Any) -> pd.DataFrame:  # fmt: skip
    """:func:`series` with its control chart (p-chart for proportions, u-chart for count
    rates; amounts such as cost per member-month get no chart limits)."""
    from popweave.equity.table import find_spec, is_count_rate

    spec = find_spec(measure)
    s = series(source, spec, by, group, **kwargs)
    if spec.info.kind == "proportion":
        return control_chart(s, "p", per=spec.info.per)
    if is_count_rate(spec):
        return control_chart(s, "u", per=spec.info.per)
    return s
