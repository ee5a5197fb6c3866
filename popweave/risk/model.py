"""A predictive risk model with per-patient explanations, and its evaluation.

:class:`RiskModel` is a gradient-boosted tree classifier (scikit-learn's
``HistGradientBoostingClassifier``, which handles missing values natively: an unmeasured lab
or an unscreened social need is information, not an error). It follows the scikit-learn
contract: the constructor stores parameters only, :meth:`RiskModel.fit` learns attributes
ending in ``_`` and returns the model, :meth:`RiskModel.score` checks that it was fitted.

Explanations are *perturbation deltas per feature group*: for each patient and each group of
:data:`popweave.risk.features.GROUPS`, the patient's risk minus the risk the model gives the
same patient with that group's features set to the training population's typical value (the
median, so 0 for a condition or need that most people do not have; "not recorded" for a value
most people have no record of, such as HbA1c). A positive
delta (in probability, shown as percentage points) is what that factor adds to the patient's
risk; the deltas are exact for the model and need no approximation, at the cost of ignoring
interactions between groups (unlike Shapley values, they need not add up to the score).

:func:`evaluate` gives discrimination (AUROC with the Hanley-McNeil standard error) and
calibration (Brier score, observed / expected, calibration intercept and slope, Cox 1958) and
:func:`reliability` the reliability-curve points by decile of predicted risk.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from popweave.risk.features import FEATURES, GROUPS, Group


def _one_thread() -> Any:
    """Run scikit-learn's OpenMP loops on one thread: on small shared machines libgomp's
    spin-waiting threads cost far more than they save (measured: fitting 15,000 rows took
    82 s on two threads and 3.7 s on one)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="openmp")


ArrayLike = Sequence[float] | np.ndarray | pd.Series


class NotFittedError(RuntimeError):
    """The model was used before :meth:`fit`."""


class RiskModel:
    """Gradient-boosted classifier of a binary outcome from :data:`FEATURES`.

    Parameters are those of ``HistGradientBoostingClassifier`` (``max_iter``,
    ``learning_rate``, ``max_leaf_nodes``, ``min_samples_leaf``, ``l2_regularization``,
    ``random_state``); ``features`` and ``groups`` name the columns used and how they are
    explained.
    """

    def __init__(
        self,
        *,
        max_iter: int = 150,
        learning_rate: float = 0.05,
        max_leaf_nodes: int = 8,
        min_samples_leaf: int = 200,
        l2_regularization: float = 1.0,
        random_state: int = 0,
        features: Sequence[str] = FEATURES,
        groups: Mapping[str, Group] = GROUPS,
    ) -> None:
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.l2_regularization = l2_regularization
        self.random_state = random_state
        self.features = features
        self.groups = groups

    def get_params(self) -> dict[str, Any]:
        """Constructor parameters (scikit-learn style)."""
        return {
            "max_iter": self.max_iter,
            "learning_rate": self.learning_rate,
            "max_leaf_nodes": self.max_leaf_nodes,
            "min_samples_leaf": self.min_samples_leaf,
            "l2_regularization": self.l2_regularization,
            "random_state": self.random_state,
            "features": self.features,
            "groups": self.groups,
        }

    def fit(self, X: pd.DataFrame, y: ArrayLike) -> RiskModel:
        """Learn the classifier (``estimator_``), the reference values used to explain
        (``reference_``) and the training base rate (``base_rate_``)."""
        from sklearn.ensemble import HistGradientBoostingClassifier

        cols = list(self.features)
        missing = [c for c in cols if c not in X.columns]
        if missing:
            raise ValueError(f"features missing from X: {', '.join(missing)}")
        yy = np.asarray(y, dtype=np.int64)
        if len(yy) != len(X):
            raise ValueError(f"X has {len(X)} rows but y has {len(yy)}")
        if len(np.unique(yy)) != 2:
            raise ValueError("y must hold both outcomes (0 and 1) to fit a classifier")
        for g, grp in self.groups.items():
            if not set(grp.columns) <= set(cols):
                raise ValueError(f"group {g!r} names columns that are not features")
        est = HistGradientBoostingClassifier(
            max_iter=self.max_iter,
            learning_rate=self.learning_rate,
            max_leaf_nodes=self.max_leaf_nodes,
            min_samples_leaf=self.min_samples_leaf,
            l2_regularization=self.l2_regularization,
            early_stopping=False,
            random_state=self.random_state,
        )
        x = X[cols].to_numpy(dtype=np.float64)
        with _one_thread():
            est.fit(x, yy)
        self.estimator_ = est
        self.features_in_ = cols
        # The typical value: not recorded where most people have no value, else the median.
        measured = np.isfinite(x)
        ref = {}
        for j, c in enumerate(cols):
            ok = measured[:, j]
            ref[c] = float(np.median(x[ok, j])) if ok.mean() >= 0.5 else float("nan")
        self.reference_ = ref
        self.base_rate_ = float(yy.mean())
        self.n_train_ = len(yy)
        return self

    def _check(self) -> None:
        if not hasattr(self, "estimator_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted; call fit(X, y) first")

    def _matrix(self, X: pd.DataFrame) -> np.ndarray:
        missing = [c for c in self.features_in_ if c not in X.columns]
        if missing:
            raise ValueError(f"features missing from X: {', '.join(missing)}")
        out: np.ndarray = X[self.features_in_].to_numpy(dtype=np.float64)
        return out

    def score(self, X: pd.DataFrame) -> np.ndarray:
        """Predicted probability of the outcome for each row of ``X``."""
        self._check()
        with _one_thread():
            out: np.ndarray = self.estimator_.predict_proba(self._matrix(X))[:, 1]
        return out

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame:
        """Per row and feature group: risk minus the risk with the group at its reference
        values (probability units), indexed like ``X``."""
        self._check()
        x = self._matrix(X)
        pos = {c: i for i, c in enumerate(self.features_in_)}
        out = {}
        with _one_thread():
            base = self.estimator_.predict_proba(x)[:, 1]
            for name, grp in self.groups.items():
                xr = x.copy()
                for c in grp.columns:
                    xr[:, pos[c]] = self.reference_[c]
                out[name] = base - self.estimator_.predict_proba(xr)[:, 1]
        return pd.DataFrame(out, index=X.index)

    def top_factors(
        self, X: pd.DataFrame, n: int = 3, *, id_column: str = "person_id"
    ) -> pd.DataFrame:
        """The ``n`` groups that raise each patient's risk most (positive deltas only):
        ``(person_id, rank, factor, factor_label, contribution, detail)``; ``detail`` shows the
        patient's values, e.g. ``ED visits in the past year: 3``."""
        contrib = self.contributions(X)
        vals = contrib.to_numpy()
        order = np.argsort(-vals, axis=1)[:, :n]
        names = np.array(list(contrib.columns))
        rows = []
        ids = X[id_column].to_numpy() if id_column in X.columns else X.index.to_numpy()
        for i in range(len(X)):
            for r, j in enumerate(order[i]):
                v = float(vals[i, j])
                if v <= 0:
                    break
                g = str(names[j])
                rows.append(
                    (ids[i], r + 1, g, self.groups[g].label, v, _detail(X, i, self.groups[g]))
                )
        return pd.DataFrame(
            rows, columns=[id_column, "rank", "factor", "factor_label", "contribution", "detail"]
        )


def _detail(X: pd.DataFrame, i: int, grp: Group) -> str:
    parts = []
    for c in grp.columns:
        v = X[c].iloc[i]
        if v is None or (isinstance(v, float) and np.isnan(v)):
            text = "not recorded"
        elif c.startswith(("dx_", "payer_", "need_")) or c == "female":
            if c.startswith("payer_") and not v:
                continue
            text = "yes" if v else "no"
        elif c == "allowed_cost":
            text = f"${v:,.0f}"
        else:
            text = f"{v:g}" if float(v) != int(v) else f"{int(v)}"
        parts.append(f"{c}: {text}")
    return f"{grp.label} ({'; '.join(parts)})"


@dataclass(frozen=True)
class Metrics:
    """Discrimination and calibration of predicted risks against outcomes."""

    n: int
    events: int
    auroc: float
    auroc_se: float
    brier: float
    brier_reference: float
    observed: float
    expected: float
    calibration_intercept: float
    calibration_slope: float

    def as_dict(self) -> dict[str, float]:
        return {k: float(v) for k, v in asdict(self).items()}


def auroc(y: np.ndarray, p: np.ndarray) -> tuple[float, float]:
    """AUROC (Mann-Whitney) and its Hanley-McNeil (1982) standard error; NaN if one class."""
    from scipy.stats import rankdata

    y = np.asarray(y, dtype=bool)
    n1, n0 = int(y.sum()), int((~y).sum())
    if n1 == 0 or n0 == 0:
        return float("nan"), float("nan")
    r = rankdata(p)
    a = (r[y].sum() - n1 * (n1 + 1) / 2) / (n1 * n0)
    q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
    var = (a * (1 - a) + (n1 - 1) * (q1 - a * a) + (n0 - 1) * (q2 - a * a)) / (n1 * n0)
    return float(a), float(np.sqrt(max(var, 0.0)))


def _calibration_line(y: np.ndarray, p: np.ndarray) -> tuple[float, float]:
    """Intercept and slope of the logistic regression of y on logit(p) (Newton steps)."""
    lp = np.log(np.clip(p, 1e-6, 1 - 1e-6) / np.clip(1 - p, 1e-6, 1))
    X = np.column_stack([np.ones_like(lp), lp])
    beta = np.array([0.0, 1.0])
    for _ in range(25):
        mu = 1 / (1 + np.exp(-np.clip(X @ beta, -30, 30)))
        w = mu * (1 - mu)
        h = X.T @ (X * w[:, None]) + 1e-9 * np.eye(2)
        step = np.linalg.solve(h, X.T @ (y - mu))
        beta = beta + step
        if np.abs(step).max() < 1e-8:
            break
    return float(beta[0]), float(beta[1])


def evaluate(y: ArrayLike, p: ArrayLike) -> Metrics:
    """AUROC, Brier score (and the Brier score of predicting the observed rate for
    everyone), observed and mean predicted rates, calibration intercept and slope."""
    yy = np.asarray(y, dtype=np.float64)
    pp = np.asarray(p, dtype=np.float64)
    a, se = auroc(yy, pp)
    obs = float(yy.mean()) if len(yy) else float("nan")
    if 0 < obs < 1:
        ci, cs = _calibration_line(yy, pp)
    else:
        ci, cs = float("nan"), float("nan")
    return Metrics(
        n=len(yy),
        events=int(yy.sum()),
        auroc=a,
        auroc_se=se,
        brier=float(np.mean((pp - yy) ** 2)) if len(yy) else float("nan"),
        brier_reference=float(obs * (1 - obs)),
        observed=obs,
        expected=float(pp.mean()) if len(pp) else float("nan"),
        calibration_intercept=ci,
        calibration_slope=cs,
    )


def reliability(y: ArrayLike, p: ArrayLike, bins: int = 10) -> pd.DataFrame:
    """Reliability-curve points: per bin of predicted risk (equal-count bins),
    ``(bin, n, mean_predicted, observed, lower, upper)`` with a Wilson 95% interval."""
    yy = np.asarray(y, dtype=np.float64)
    pp = np.asarray(p, dtype=np.float64)
    if len(pp) == 0:
        return pd.DataFrame(columns=["bin", "n", "mean_predicted", "observed", "lower", "upper"])
    ranks = pd.Series(pp).rank(method="first").to_numpy()
    b = np.minimum((ranks - 1) * bins // len(pp), bins - 1).astype(int) + 1
    df = pd.DataFrame({"bin": b, "y": yy, "p": pp})
    g = df.groupby("bin").agg(n=("y", "size"), events=("y", "sum"), mean_predicted=("p", "mean"))
    g["observed"] = g["events"] / g["n"]
    lo, hi = _wilson(g["events"].to_numpy(np.float64), g["n"].to_numpy(np.float64))
    g["lower"], g["upper"] = lo, hi
    out: pd.DataFrame = g.reset_index()[
        ["bin", "n", "mean_predicted", "observed", "lower", "upper"]
    ]
    return out


def _wilson(k: np.ndarray, n: np.ndarray, z: float = 1.959963984540054) -> tuple[Any, Any]:
    """Wilson score 95% interval for ``k`` of ``n``."""
    p = k / n
    den = 1 + z * z / n
    mid = (p + z * z / (2 * n)) / den
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return mid - half, mid + half


#: Registered risk models (name -> class); every one passes the shared contract test.
MODELS: dict[str, type[RiskModel]] = {"gbm": RiskModel}
