"""The ground truth: each customer's true response probability per promoted product.

``p = sigmoid(intercept + sum(weight * feature) + stage_effect)``

Every feature is computable by a warehouse from the landing data with
``dt <= D`` (D = the day the probability applies to); only the life-cycle stage
effect is hidden. Features are centred so that the intercept is the log-odds
of a typical customer. The definitions (see docs/synthetic_bank.md):

* ``log_balance``   log10(1 + max(0, sum of end-of-day balances of the customer's
  open accounts on D)) - 3.5
* ``log_savings``   log10(1 + max(0, end-of-day balance of the savings account on D)) - 3
* ``log_income``    ln(max(monthly_income, 100) / 2000), income from the latest customers row
* ``age``           (age in years on D - 45) / 15, age = (D - birth_date) / 365.25
* ``age_mid``       exp(-((age in years - 38) / 12) ** 2) - 0.5  (a bump at 38)
* ``travel_dining`` share of travel + dining in the 90-day spend (0 without spend) - 0.2
* ``spend_income``  min(5, 90-day spend / observed days * 30 / max(income, 100)) - 0.6
* ``logins``        ln(1 + login events in the 30 days D-29..D) - 1.5
* ``tenure``        ln(1 + (D - customer_since) / 365.25) - 2
* ``products``      product holdings held at the end of D (all five codes) - 1
* ``complaints``    min(3, complaints opened in the 90 days D-89..D)

"90-day spend" is the sum of debits in the categories groceries, dining, travel,
fuel, utilities, shopping, health, entertainment and cash over D-89..D on the
customer's accounts; "observed days" is the number of those days that are on or
after both the first landed day and customer_since.
"""

from __future__ import annotations

import numpy as np

from bankmkt.generator.catalogue import PROMOTED, STAGES

FEATURES = (
    "log_balance",
    "log_savings",
    "log_income",
    "age",
    "age_mid",
    "travel_dining",
    "spend_income",
    "logins",
    "tenure",
    "products",
    "complaints",
)

INTERCEPT = {
    "credit_card": -2.35,
    "personal_loan": -2.55,
    "term_deposit": -2.55,
    "wealth_management": -2.95,
}

# Weight of each feature per product (rows follow FEATURES).
# fmt: off
WEIGHTS = {
    #                  cc     loan   term  wealth
    "log_balance":   (0.00, -0.45, 0.15, 0.70),
    "log_savings":   (0.00, -0.15, 0.40, 0.20),
    "log_income":    (0.30, 0.10, 0.15, 0.60),
    "age":           (-0.40, 0.00, 0.40, 0.30),
    "age_mid":       (0.00, 1.20, 0.00, 0.00),
    "travel_dining": (2.50, 0.00, 0.00, 0.60),
    "spend_income":  (0.80, 1.20, -0.60, 0.00),
    "logins":        (0.35, 0.10, -0.10, 0.10),
    "tenure":        (-0.10, 0.10, 0.25, 0.15),
    "products":      (0.10, 0.10, 0.10, 0.20),
    "complaints":    (-0.50, -0.30, -0.40, -0.60),
}
# fmt: on

# Hidden life-cycle stage effect on the log-odds (same for every product).
STAGE_EFFECT = {
    "new": 0.30,
    "growing": 0.50,
    "mature": 0.00,
    "declining": -0.70,
    "dormant": -1.60,
    "churned": -4.00,
}


def weight_matrix() -> np.ndarray:
    """Weights as a (features x promoted products) array."""
    return np.array([WEIGHTS[name] for name in FEATURES], dtype=np.float64)


def true_propensity(features: dict[str, np.ndarray], stage: np.ndarray) -> np.ndarray:
    """True response probabilities, shape (customers, promoted products), in (0, 1).

    ``features`` maps every name of :data:`FEATURES` to a float array (already
    centred as documented above); ``stage`` holds indices into ``STAGES``.
    """
    x = np.column_stack([np.asarray(features[name], dtype=np.float64) for name in FEATURES])
    intercept = np.array([INTERCEPT[p] for p in PROMOTED])
    stage_effect = np.array([STAGE_EFFECT[s] for s in STAGES])[stage]
    logit = x @ weight_matrix() + intercept + stage_effect[:, None]
    return 1.0 / (1.0 + np.exp(-logit))


# ---- the effect of a contact ---------------------------------------------------------------
# The probability above is the probability to convert within the response window when
# contacted (treated). A delivered contact adds ``tau`` to the log-odds of converting
# anyway (organic, as a control customer would): ``p_control = sigmoid(logit(p) - tau)``.
# The effect is heterogeneous:
#   tau = EFFECT_INTERCEPT[product] - 0.45 * affinity + sum(EFFECT_WEIGHTS * feature) + EFFECT_STAGE[stage]
# where ``affinity = logit(p) - INTERCEPT[product]`` is how much more likely than a typical
# customer this one is. Customers with a strong affinity buy anyway (tau near 0: "sure
# things"), digitally engaged and new customers are moved most ("persuadables"), and
# customers with recent complaints or in decline are put off ("sleeping dogs", tau < 0).
EFFECT_INTERCEPT = {
    "credit_card": 1.40,
    "personal_loan": 1.20,
    "term_deposit": 1.10,
    "wealth_management": 1.30,
}
EFFECT_AFFINITY = -0.45
EFFECT_WEIGHTS = {
    "logins": 0.35,
    "tenure": -0.50,
    "complaints": -1.00,
}
EFFECT_STAGE = {
    "new": 0.30,
    "growing": 0.20,
    "mature": 0.00,
    "declining": -0.90,
    "dormant": -0.50,
    "churned": 0.00,
}


def contact_effect(features: dict[str, np.ndarray], stage: np.ndarray) -> np.ndarray:
    """Log-odds effect ``tau`` of a delivered contact, shape (customers, promoted products)."""
    treated = true_propensity(features, stage)
    intercept = np.array([INTERCEPT[p] for p in PROMOTED])
    affinity = np.log(treated / (1.0 - treated)) - intercept
    base = sum(weight * np.asarray(features[name], dtype=np.float64) for name, weight in EFFECT_WEIGHTS.items())
    stage_effect = np.array([EFFECT_STAGE[s] for s in STAGES])[stage]
    effect_intercept = np.array([EFFECT_INTERCEPT[p] for p in PROMOTED])
    return effect_intercept + EFFECT_AFFINITY * affinity + (base + stage_effect)[:, None]


def control_probability(treated: np.ndarray, effect: np.ndarray) -> np.ndarray:
    """Probability to convert without the contact, from the treated probability and ``tau``."""
    treated = np.clip(treated, 1e-12, 1 - 1e-12)
    logit = np.log(treated / (1.0 - treated)) - effect
    return 1.0 / (1.0 + np.exp(-logit))
