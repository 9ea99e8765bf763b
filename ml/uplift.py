"""Uplift: the incremental effect of a contact, learned from treated and control outcomes.

A two-model meta-learner (T-learner) on LightGBM: one classifier learns the
conversion probability of contacted customers, one of held-out (control) customers,
each on its own arm; a customer's uplift is the difference of the two predictions.
It needs randomised arms, which the platform's persistent control groups give
(docs/campaigns.md). Simple, and it keeps the two arms' calibration visible; its
known weakness (each model regularises on its own, so the difference is noisy where
effects are small) is why the gate below measures it on held-out contacts.

Metrics: the Qini curve (incremental conversions gained by contacting the top k by
predicted uplift, against a random order) and its normalised area (the Qini
coefficient) on a holdout; an uplift model is only worth using when it beats random.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

TREES = dict(n_estimators=200, learning_rate=0.05, num_leaves=15, min_child_samples=40, subsample=0.8,
             subsample_freq=1, colsample_bytree=0.8, reg_lambda=1.0, verbose=-1)


@dataclass
class TLearner:
    """Two LightGBM classifiers: ``treated`` on contacted customers, ``control`` on held-out ones."""

    treated: object
    control: object
    features: list[str]

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``p_treated``, ``p_control`` and ``uplift`` = their difference, one row per row of ``frame``."""
        x = frame[self.features]
        p1 = self.treated.predict_proba(x)[:, 1]
        p0 = self.control.predict_proba(x)[:, 1]
        return pd.DataFrame({"p_treated": p1, "p_control": p0, "uplift": p1 - p0}, index=frame.index)


def fit_t_learner(frame: pd.DataFrame, features: list[str], label: str = "label", treated: str = "is_treated",
                  seed: int = 0) -> TLearner:
    """Fit both arms' models; refuses when an arm has too few conversions to learn from."""
    from lightgbm import LGBMClassifier

    arms = {}
    for name, rows in (("treated", frame[treated].astype(bool)), ("control", ~frame[treated].astype(bool))):
        part = frame.loc[rows]
        positives = int(part[label].sum())
        if positives < 20 or positives == len(part):
            raise ValueError(f"the {name} arm has {positives} conversions in {len(part)} contacts: too few to learn uplift")
        model = LGBMClassifier(random_state=seed, **TREES)
        model.fit(part[features], part[label].astype(int))
        arms[name] = model
    return TLearner(arms["treated"], arms["control"], list(features))


def qini_curve(uplift: np.ndarray, treated: np.ndarray, outcome: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Qini curve: share targeted (by predicted uplift, highest first) -> incremental conversions.

    At each k: conversions of the treated among the top k minus the control conversions
    among the top k scaled to the treated count, the usual estimate of what contacting
    the top k adds.
    """
    order = np.argsort(-np.asarray(uplift), kind="stable")
    t = np.asarray(treated, dtype=bool)[order]
    y = np.asarray(outcome, dtype=float)[order]
    treated_n, control_n = np.cumsum(t), np.cumsum(~t)
    treated_y, control_y = np.cumsum(y * t), np.cumsum(y * ~t)
    gain = treated_y - np.divide(control_y * treated_n, control_n, out=np.zeros_like(control_y), where=control_n > 0)
    share = np.arange(1, len(t) + 1) / len(t)
    return np.concatenate([[0.0], share]), np.concatenate([[0.0], gain])


def qini_coefficient(uplift: np.ndarray, treated: np.ndarray, outcome: np.ndarray) -> float:
    """Area between the Qini curve and the random-targeting line, per treated customer (0 = random)."""
    share, gain = qini_curve(uplift, treated, outcome)
    random_line = share * gain[-1]
    n_treated = max(int(np.asarray(treated, dtype=bool).sum()), 1)
    return float(np.trapezoid(gain - random_line, share) / n_treated)
