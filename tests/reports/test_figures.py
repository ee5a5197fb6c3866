"""Each figure function on small hand-made tables: the traces it should draw."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from popweave.reports import figures as fg

SQUARE = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0], [0.0, 0.0]]  # counter-clockwise


def test_population_pyramid_puts_men_left() -> None:
    df = pd.DataFrame({"age_band": ["0-4", "0-4", "5-9", "5-9"],
                       "sex": ["male", "female", "male", "female"],
                       "people": [10, 12, 8, 9]})  # fmt: skip
    fig = fg.population_pyramid(df)
    assert [t.type for t in fig.data] == ["bar", "bar"]
    male, female = fig.data
    assert list(male.x) == [-10, -8] and list(female.x) == [12, 9]
    assert male.orientation == "h"


def test_share_bars_label_shares() -> None:
    fig = fg.share_bars(pd.DataFrame({"payer": ["a", "b"], "people": [3, 1]}), "payer", "P")
    assert list(fig.data[0].text) == ["75%", "25%"]


def test_d3_winding_reverses_exterior_rings_only_when_needed() -> None:
    hole = [[0.2, 0.2], [0.2, 0.4], [0.4, 0.4], [0.4, 0.2], [0.2, 0.2]]  # clockwise
    g = fg.d3_winding({"type": "Polygon", "coordinates": [SQUARE, hole]})
    ext, inner = g["coordinates"]
    assert fg._ring_area(ext) < 0 < fg._ring_area(inner)
    again = fg.d3_winding(g)
    assert again == g


def test_area_map_has_a_layer_per_column_and_no_base_map() -> None:
    geom = json.dumps({"type": "Polygon", "coordinates": [SQUARE]})
    areas = pd.DataFrame({"area_id": ["A1", "A2"], "name": ["one", "two"],
                          "geometry": [geom, geom], "score": [1.0, 2.0],
                          "rate": [0.5, np.nan]})  # fmt: skip
    fig = fg.area_map(areas, {"score": "score", "rate": "rate"}, reverse=["rate"])
    assert [t.type for t in fig.data] == ["choropleth"] * 4
    shown, grey = fig.data[2], fig.data[3]
    assert list(shown.locations) == ["A1"] and list(grey.locations) == ["A2"]  # NaN drawn grey
    assert [t.visible for t in fig.data] == [True, True, False, False]
    assert len(fig.layout.updatemenus[0].buttons) == 2
    assert fig.layout.geo.fitbounds == "locations" and fig.layout.geo.visible is False
    assert shown.geojson["features"][0]["id"] == "A1"


def test_measure_intervals_is_dot_and_whisker() -> None:
    r = pd.DataFrame({"measure": ["a", "b"], "title": ["A", "B"], "rate": [0.5, 0.2],
                      "lower": [0.4, 0.1], "upper": [0.6, 0.3], "denominator": [100, 50],
                      "higher_is_better": [True, False]})  # fmt: skip
    (t,) = fg.measure_intervals(r).data
    assert t.type == "scatter" and t.mode == "markers"
    assert list(t.y) == ["b", "a"]  # sorted by rate
    assert np.allclose(t.error_x.array, [0.1, 0.1]) and np.allclose(
        t.error_x.arrayminus, [0.1, 0.1]
    )


def test_group_intervals_label_suppressed_groups() -> None:
    rows = pd.DataFrame({"stratifier": ["q"] * 3, "group": ["1", "2", "3"],
                         "rate": [0.2, np.nan, 0.3], "lower": [0.1, np.nan, 0.2],
                         "upper": [0.3, np.nan, 0.4], "suppressed": [False, True, False],
                         "is_reference": [True, False, False]})  # fmt: skip
    dots, text = fg.group_intervals(rows, "t").data
    assert list(dots.y) == ["1 (ref)", "3"]
    assert text.mode == "text" and list(text.text) == ["suppressed"] and list(text.y) == ["2"]


def test_control_chart_draws_limits_and_signals() -> None:
    c = pd.DataFrame({"period": ["2025-Q1", "2025-Q2", "2025-Q3"], "rate": [0.1, 0.5, 0.2],
                      "lower": [0.05, 0.4, 0.1], "upper": [0.2, 0.6, 0.3],
                      "centre": [0.2] * 3, "lcl": [0.0] * 3, "ucl": [0.4] * 3,
                      "special_cause": [False, True, False],
                      "signals": ["", "beyond_3_sigma", ""],
                      "partial": [False, False, True]})  # fmt: skip
    names = [t.name for t in fg.control_chart(c, "t").data]
    assert names == ["rate (95% CI)", "centre", "upper control limit", "lower control limit",
                     "special cause", "partial period"]  # fmt: skip


def test_risk_pyramid_puts_high_on_top() -> None:
    t = pd.DataFrame({"tier": ["low", "high", "moderate", "rising"], "people": [70, 5, 20, 5]})
    (f,) = fg.risk_pyramid(t).data
    assert f.type == "funnel" and list(f.y) == ["high", "rising", "moderate", "low"]


def test_calibration_curve_has_the_diagonal() -> None:
    r = pd.DataFrame({"mean_predicted": [0.1, 0.3], "observed": [0.12, 0.28],
                      "lower": [0.1, 0.25], "upper": [0.15, 0.31], "n": [100, 100]})  # fmt: skip
    diag, model = fg.calibration_curve(r).data
    assert list(diag.x) == list(diag.y) and model.name == "model"


def test_fairness_ratios_flag_in_red() -> None:
    a = pd.DataFrame({"attribute": ["sex", "sex"], "group": ["f", "m"], "oe_ratio": [1.0, 1.3],
                      "oe_lower": [0.9, 1.1], "oe_upper": [1.1, 1.5],
                      "flags": ["", "calibration"]})  # fmt: skip
    (t,) = fg.fairness_ratios(a).data
    assert list(t.marker.color) == [fg.BLUE, fg.RED]


def test_did_cells_and_counterfactual() -> None:
    cells = pd.DataFrame({"treated": [0, 0, 1, 1], "post": [0, 1, 0, 1],
                          "rate": [0.2, 0.1, 0.3, 0.1]})  # fmt: skip
    _comp, prog, cf = fg.did_cells(cells).data
    assert list(prog.y) == [0.3, 0.1] and cf.y[1] == 0.3 * 0.1 / 0.2


def test_effect_intervals_keep_estimable_ratios() -> None:
    e = pd.DataFrame({"method": ["did", "did", "matched"],
                      "effect": ["ratio of before/after ratios", "difference", "risk ratio"],
                      "estimate": [0.7, -0.1, np.nan], "lower": [0.5, -0.2, np.nan],
                      "upper": [0.9, 0.0, np.nan]})  # fmt: skip
    (t,) = fg.effect_intervals(e).data
    assert list(t.y) == ["did: ratio of before/after ratios"]


def test_coordinator_workload_bars() -> None:
    w = pd.DataFrame({"coordinator_id": ["K1", "K2"], "patients": [3, 5], "priority": [90, 100],
                      "mean_distance_km": [1.0, 2.0], "caseload": [5, 5]})  # fmt: skip
    bars, caseload = fg.coordinator_workload(w).data
    assert list(bars.x) == ["K2", "K1"] and caseload.name == "caseload"
