"""Direct standardisation: the rate and the Fay & Feuer (1997) gamma interval, checked
against the chi-square form of the paper and a hand computation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from popweave.equity.standardise import direct, fay_feuer, standard_weights, us2000_age_weights

CELLS = pd.DataFrame(
    {
        "group": ["a"] * 4 + ["b"] * 4,
        "age_band": ["18-44", "18-44", "65-74", "65-74"] * 2,
        "sex": ["female", "male"] * 4,
        "numerator": [10, 12, 40, 55, 3, 8, 20, 31],
        "denominator": [200, 210, 180, 190, 90, 120, 60, 80],
    }
)


def test_direct_rate_and_fay_feuer_interval() -> None:
    w = standard_weights("city", CELLS)
    assert w.sum() == pytest.approx(1.0)
    out = direct(CELLS, w, "group").set_index("group")
    for g in ("a", "b"):
        c = CELLS[CELLS["group"] == g].merge(w.reset_index(), on=["age_band", "sex"])
        wi = c["weight"].to_numpy() / c["weight"].sum()
        d, n = c["numerator"].to_numpy(float), c["denominator"].to_numpy(float)
        y = float(np.sum(wi * d / n))
        v = float(np.sum(wi**2 * d / n**2))
        wm = float(np.max(wi / n))
        # Fay & Feuer 1997, eq. (3)-(4), in chi-square form.
        lo = v / (2 * y) * stats.chi2.ppf(0.025, 2 * y * y / v)
        hi = (v + wm**2) / (2 * (y + wm)) * stats.chi2.ppf(0.975, 2 * (y + wm) ** 2 / (v + wm**2))
        assert out.loc[g, "std_rate"] == pytest.approx(y, abs=1e-12)
        assert out.loc[g, "std_lower"] == pytest.approx(lo, abs=1e-8)
        assert out.loc[g, "std_upper"] == pytest.approx(hi, abs=1e-8)
        assert out.loc[g, "coverage"] == pytest.approx(1.0)


def test_same_rates_in_every_cell_standardise_to_that_rate() -> None:
    c = CELLS.copy()
    c["numerator"] = c["denominator"] // 10
    out = direct(c, standard_weights("us2000"), "group")
    # Only two of the standard's age bands are present: weights renormalised over them.
    assert np.allclose(out["std_rate"], 0.1, atol=1e-3)
    assert (out["coverage"] < 1).all()


def test_us2000_weights() -> None:
    w = us2000_age_weights()
    assert w.sum() == pytest.approx(1.0)
    # 0-17: ages 0-14 plus 3/5 of 15-19 in the 2000 standard (per million).
    assert w["0-17"] == pytest.approx((13818 + 55317 + 72533 + 73032 + 72169 * 3 / 5) / 1e6)
    assert w["75+"] == pytest.approx((26999 + 17842 + 15508) / 1e6)
    sw = standard_weights("us2000")
    assert sw.loc[("45-64", "female")] == pytest.approx(w["45-64"] / 2)


def test_zero_events_have_a_zero_lower_limit() -> None:
    lo, hi = fay_feuer(np.array([0.0]), np.array([0.0]), np.array([0.01]))
    assert lo[0] == 0 and hi[0] > 0
