"""Draws the customers of the synthetic bank: the day-1 base and every later newcomer.

All attributes are drawn at once, vectorised, for the whole population; the
simulation reveals newcomers on their arrival day.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bankmkt.generator import catalogue as cat


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _pick(rng: np.random.Generator, probabilities: np.ndarray) -> np.ndarray:
    """One draw per row of a (rows x choices) probability matrix."""
    cumulative = np.cumsum(probabilities, axis=1)
    cumulative /= cumulative[:, -1:]
    u = rng.random(len(probabilities))[:, None]
    return np.minimum((u > cumulative).sum(axis=1), probabilities.shape[1] - 1)


def _ages(rng: np.random.Generator, bands: tuple, n: int) -> np.ndarray:
    shares = np.array([b[2] for b in bands])
    band = rng.choice(len(bands), size=n, p=shares / shares.sum())
    low = np.array([b[0] for b in bands], dtype=float)[band]
    high = np.array([b[1] for b in bands], dtype=float)[band]
    return low + rng.random(n) * (high - low)


@dataclass
class Population:
    """Customer attributes, one array entry per customer (index = customer number - 1)."""

    arrival_day: np.ndarray  # simulated day the customer is first delivered (0 = base)
    since_epoch: np.ndarray  # customer_since, days since 1970-01-01
    birth_epoch: np.ndarray  # birth_date, days since 1970-01-01
    gender: np.ndarray  # 0 = F, 1 = M
    first_name: np.ndarray  # index into the gender's first-name list
    last_name: np.ndarray
    national_number: np.ndarray
    region: np.ndarray
    occupation: np.ndarray
    income_cents: np.ndarray
    consent: np.ndarray
    email_number: np.ndarray  # -1 = no e-mail on file
    email_domain: np.ndarray
    phone_number: np.ndarray  # -1 = no phone on file
    digital: np.ndarray  # digital adoption in [0, 1]; 0 = never banks online
    app_share: np.ndarray  # share of digital sessions in the mobile app
    needs: np.ndarray  # (customers x 4) saver, spender, borrower, investor mix
    pay_day: np.ndarray  # day of month of the income credit (1..28)
    bill_day: np.ndarray  # day of month of utilities and loan repayments
    bills_cents: np.ndarray  # monthly utilities standing order

    def __len__(self) -> int:
        return len(self.arrival_day)


def draw_population(rng: np.random.Generator, arrival_day: np.ndarray, start_epoch: int) -> Population:
    """Attributes of every customer; ``arrival_day`` is 0 for the base, d for newcomers."""
    n = len(arrival_day)
    is_new = arrival_day > 0
    age = np.where(is_new, _ages(rng, cat.NEW_AGE_BANDS, n), _ages(rng, cat.BASE_AGE_BANDS, n))
    arrival_epoch = start_epoch + arrival_day
    birth_epoch = arrival_epoch - np.floor(age * 365.25).astype(np.int64)

    # Tenure: long-tailed, 0 to 30+ years, never before the customer turned 16.
    tenure_years = np.minimum(rng.gamma(1.4, 7.0, n), np.maximum(age - 16, 0.0))
    since_epoch = np.where(is_new, arrival_epoch, start_epoch - np.floor(tenure_years * 365.25).astype(np.int64))

    gender = (rng.random(n) < 0.49).astype(np.int8)
    first_name = rng.integers(0, len(cat.FIRST_NAMES_F), n)
    last_name = rng.integers(0, len(cat.LAST_NAMES), n)
    # An affine bijection on 9 digits keeps national ids unique and unordered.
    offset = int(rng.integers(0, 10**9))
    national_number = (np.arange(1, n + 1, dtype=np.int64) * 738_219_917 + offset) % 10**9
    region = rng.choice(len(cat.REGIONS), size=n, p=np.array(cat.REGION_SHARE) / sum(cat.REGION_SHARE))

    bounds = np.array([b[0] for b in cat.OCCUPATION_BY_AGE])
    mix = np.array([b[1] for b in cat.OCCUPATION_BY_AGE])
    occupation = _pick(rng, mix[np.searchsorted(bounds, age, side="right")])
    median = cat.INCOME_MEDIAN[occupation]
    # Employees earn most in their fifties.
    median = np.where(occupation == cat.EMPLOYEE, 1400.0 + 1600.0 * np.exp(-(((age - 50.0) / 18.0) ** 2)), median)
    income = median * np.exp(rng.normal(0.0, cat.INCOME_SIGMA[occupation]))
    income_cents = np.round(np.clip(income, 0.0, 250_000.0) * 100).astype(np.int64)

    # Digital adoption falls with age; a customer either uses online banking (with that
    # intensity) or never does.
    adoption = _sigmoid(2.2 - 0.075 * (age - 25.0) + rng.normal(0.0, 0.8, n) + 0.4 * is_new)
    digital = np.where(rng.random(n) < adoption, adoption, 0.0)
    app_share = _sigmoid(1.5 - 0.05 * (age - 30.0) + rng.normal(0.0, 0.7, n))
    consent = rng.random(n) < _sigmoid(0.9 - 0.01 * (age - 45.0) + 0.4 * is_new)
    has_email = rng.random(n) > 0.02 + 0.3 * (1.0 - adoption) ** 2
    email_number = np.where(has_email, rng.integers(1, 1000, n), -1)
    email_domain = rng.integers(0, len(cat.EMAIL_DOMAINS), n)
    phone_number = np.where(rng.random(n) > 0.04, rng.integers(10**8, 10**9, n), -1)

    # Hidden needs: a Dirichlet mix whose weights follow age and income.
    log_income = np.log(np.maximum(income, 100.0) / 2000.0)
    alpha = np.column_stack(
        [
            0.8 + 0.02 * (age - 18.0),  # saver
            np.maximum(1.6 - 0.02 * (age - 18.0), 0.3),  # spender
            0.5 + 0.8 * ((age > 25) & (age < 50)) + 0.4 * (log_income < 0),  # borrower
            0.3 + 0.9 * np.maximum(log_income, 0.0) + 0.01 * (age - 18.0),  # investor
        ]
    )
    needs = rng.gamma(alpha)
    needs /= needs.sum(axis=1, keepdims=True)

    pay_day = np.where(
        occupation == cat.RETIRED,
        rng.integers(1, 11, n),
        rng.choice(np.array([1, 15, 25, 26, 27, 28]), size=n, p=[0.2, 0.1, 0.2, 0.15, 0.15, 0.2]),
    )
    bill_day = rng.integers(1, 29, n)
    bills = 40.0 + income * rng.uniform(0.03, 0.07, n)
    return Population(
        arrival_day=arrival_day.astype(np.int32),
        since_epoch=since_epoch.astype(np.int64),
        birth_epoch=birth_epoch.astype(np.int64),
        gender=gender,
        first_name=first_name,
        last_name=last_name,
        national_number=national_number,
        region=region,
        occupation=occupation,
        income_cents=income_cents,
        consent=consent,
        email_number=email_number,
        email_domain=email_domain,
        phone_number=phone_number,
        digital=digital,
        app_share=app_share,
        needs=needs,
        pay_day=pay_day,
        bill_day=bill_day,
        bills_cents=np.round(bills * 100).astype(np.int64),
    )
