"""Propensity models: training, registry gate, batch scoring, targeting and reports.

The DAG calls one function per step:

* :func:`ml.training.train_and_register` trains one product's model on the
  Feast point-in-time training frame, logs it to MLflow and registers it;
  :func:`ml.training.train_churn_model` does the same for the churn-risk model;
* :func:`ml.registry.promote_if_better` moves the ``champion`` alias only when
  the candidate beats the champion on the same holdout;
* :func:`ml.scoring.score_customers` scores every customer with
  ``models:/<name>@champion``, reasons included (:mod:`ml.explain`);
  :func:`ml.scoring.score_churn_risk` gives every customer's churn risk;
* :func:`ml.targeting.build_target_lists` turns scores into contactable,
  next-best-offer target lists with a random control holdout;
* :func:`ml.evaluation.oracle_comparison` compares, on a synthetic bank, each
  model's holdout AUC with the AUC of the generator's true probabilities;
* :func:`ml.report.write_run_report` writes the day's HTML model report.

Every step takes what it needs of the platform as arguments (the settings, the campaign
catalogue, the pseudonymiser): ``ml`` imports nothing of the platform package that calls it.
This module holds only the business constants the steps share (kept light: no heavy imports,
so ``import ml`` is cheap); :mod:`ml.runtime` the run-date parser and the atomic writer.
"""

from __future__ import annotations

PRODUCTS: tuple[str, ...] = ("credit_card", "personal_loan", "term_deposit", "wealth_management")

# Value of one conversion to the bank (expected first-year margin, in EUR), per
# product. Placeholders agreed for the synthetic bank; finance owns the real ones.
PRODUCT_VALUE: dict[str, float] = {
    "credit_card": 150.0,
    "personal_loan": 400.0,
    "term_deposit": 100.0,
    "wealth_management": 600.0,
}

# Cost of one contact (channel cost plus the agent or creative time), in EUR.
COST_PER_CONTACT: float = 5.0

# The churn-risk model is registered and gated like a product's model, under this code
# (registered model ``<model_prefix>_churn``). Its label: the customer churns within 60 days.
CHURN = "churn"
# Value of reaching one customer who would have churned with a retention offer (a year's
# margin kept, in EUR): what the churn model's gate counts per churner in its top k.
# A placeholder agreed for the synthetic bank, like PRODUCT_VALUE.
RETENTION_VALUE: float = 250.0

# The features the propensity models use by default; every function takes the
# list as a parameter, this is only what the DAG passes when nothing else is said.
DEFAULT_FEATURE_COLUMNS: tuple[str, ...] = (
    "age",
    "tenure_days",
    "monthly_income",
    "is_female",
    "has_marketing_consent",
    "txn_count_30d",
    "txn_count_90d",
    "spend_30d",
    "spend_90d",
    "income_90d",
    "spend_to_income_90d",
    "days_since_last_txn",
    "balance_total",
    "balance_savings",
    "balance_avg_30d",
    "balance_trend_30d",
    "spend_share_travel_90d",
    "spend_share_dining_90d",
    "spend_share_groceries_90d",
    "digital_logins_30d",
    "product_views_30d",
    "n_products_held",
    "has_credit_card",
    "has_personal_loan",
    "has_term_deposit",
    "has_wealth_management",
    "has_mortgage",
    "complaints_90d",
    "last_nps",
)

# Features of the contact itself, beside the customer's (product models only: a churn snapshot is
# no contact): the attempt in its campaign, the customer's earlier campaigns (contacts, days since
# the last, its outcome) and the month it is made in. The training frame carries them per contact
# (dbt training_labels), the scoring frame for a contact made the day after the run date
# (customer_contact_context). The outcome and the month are categories.
CONTACT_FEATURE_COLUMNS: tuple[str, ...] = (
    "contact_attempt_number",
    "contact_previous_campaign_contacts",
    "contact_days_since_previous_campaign",
    "contact_previous_outcome",
    "contact_month",
)
CONTACT_CATEGORICAL_COLUMNS: tuple[str, ...] = ("contact_previous_outcome", "contact_month")
# contact_previous_outcome's codes (dbt macro previous_outcome_code).
CONTACT_OUTCOME_CODES: dict[str, int] = {"none": 0, "success": 1, "failure": 2, "other": 3}

REASON_COLUMNS: tuple[str, ...] = ("reason_1", "reason_2", "reason_3")


def product_value(product_code: str) -> float:
    """Value of one conversion of ``product_code``; unknown products are an error, not zero."""
    try:
        return PRODUCT_VALUE[product_code]
    except KeyError:
        raise ValueError(f"no value per conversion for product {product_code!r}; add it to ml.PRODUCT_VALUE") from None


def outcome_value(code: str) -> float:
    """Value of one positive outcome of a model: a product's conversion, or a churner reached."""
    return RETENTION_VALUE if code == CHURN else product_value(code)


def holding_flag(product_code: str) -> str:
    """The customer column that says the customer already holds ``product_code``."""
    return f"has_{product_code}"


def flag_is_set(values):
    """True where a yes/no column (bool, 0/1 or missing) says yes; missing counts as no."""
    return values.astype("boolean").fillna(False).astype(bool)


def model_name(product_code: str, settings) -> str:
    """Registered model name of ``product_code``'s propensity model (or of :data:`CHURN`'s):
    ``<settings.model_prefix>_<product_code>``."""
    return f"{settings.model_prefix}_{product_code}"
