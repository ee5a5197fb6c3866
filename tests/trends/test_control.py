"""Control charts: varying limits by the textbook formulas, and each run rule on series built
to trigger it (and not the others)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from popweave.trends import RULES, control_chart, rule_flags


def frame(num: list[float], den: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"group": "all", "numerator": num, "denominator": den})


def test_p_chart_limits_vary_with_the_denominator() -> None:
    num = [20, 30, 25, 40, 10]
    den = [100, 150, 100, 200, 50]
    c = control_chart(frame(num, den), "p")
    p = sum(num) / sum(den)
    sigma = np.sqrt(p * (1 - p) / np.array(den))
    np.testing.assert_allclose(c["centre"], p)
    np.testing.assert_allclose(c["ucl"], p + 3 * sigma)
    np.testing.assert_allclose(c["lcl"], np.maximum(p - 3 * sigma, 0))
    np.testing.assert_allclose(c["uwl"], p + 2 * sigma)
    np.testing.assert_allclose(c["z"], (np.array(num) / den - p) / sigma)
    assert not c["special_cause"].any()


def test_u_chart_limits_and_scaling() -> None:
    num = [12, 9, 15, 30]
    den = [1000.0, 800.0, 1100.0, 1000.0]
    c = control_chart(frame(num, den), "u", per=1000)
    u = sum(num) / sum(den)
    sigma = np.sqrt(u / np.array(den))
    np.testing.assert_allclose(c["centre"], u * 1000)
    np.testing.assert_allclose(c["ucl"], (u + 3 * sigma) * 1000)
    np.testing.assert_allclose(c["lcl"], np.maximum(u - 3 * sigma, 0) * 1000)


def fired(z: list[float], x: list[float] | None = None) -> dict[str, list[int]]:
    zz = np.array(z, dtype=float)
    xx = np.array(x if x is not None else z, dtype=float)
    f = rule_flags(xx, zz)
    return {r: list(np.flatnonzero(f[r])) for r in RULES}


def test_one_point_beyond_three_sigma() -> None:
    f = fired([0.1, -0.3, 3.4, 0.2, -0.1])
    assert f["beyond_3_sigma"] == [2]
    assert f["run_8"] == [] and f["trend_6"] == []


def test_eight_in_a_row_on_one_side() -> None:
    z = [-0.5, 0.3, 0.1, 0.8, 0.2, 0.4, 0.6, 0.1, 0.5, -1.0]
    f = fired(z, x=[0, 3, 1, 3, 1, 3, 1, 3, 1, 0])
    assert f["run_8"] == list(range(1, 9))
    assert fired(z[:8])["run_8"] == []  # seven on one side is not a signal


def test_six_steadily_increasing() -> None:
    x = [5.0, 4.0, 4.1, 4.2, 4.3, 4.4, 4.5, 4.0]
    z = [0.5, -0.5, 0.5, -0.5, 0.5, -0.5, 0.5, -0.5]
    assert fired(z, x)["trend_6"] == [1, 2, 3, 4, 5, 6]
    assert fired(z[:6], x[:6])["trend_6"] == []  # five rising points are not


def test_two_of_three_beyond_two_sigma_same_side() -> None:
    f = fired([0.0, 2.3, 1.0, 2.5, 0.0], x=[0, 1, 0, 1, 0])
    assert f["two_of_3_beyond_2_sigma"] == [1, 3]
    assert fired([0.0, 2.3, -2.5, 0.0], x=[0, 1, 0, 1])["two_of_3_beyond_2_sigma"] == []


def test_a_shifted_series_is_flagged() -> None:
    rng = np.random.default_rng(3)
    den = np.full(24, 400.0)
    p = np.r_[np.full(12, 0.15), np.full(12, 0.10)]
    num = rng.binomial(400, p).astype(float)
    c = control_chart(frame(list(num), list(den)), "p", baseline=12)
    assert c["centre"].iloc[0] == pytest.approx(num[:12].sum() / den[:12].sum())
    assert c["special_cause"].iloc[12:].sum() >= 6
    assert "run_8" in ", ".join(c["signals"].iloc[12:])
