"""The synthetic retail bank: a day-by-day simulation vectorised over customers.

One :class:`SyntheticBank` holds the state of every customer, account and
product holding as numpy arrays. :meth:`SyntheticBank.simulate_day` advances one
day in a fixed order (arrivals, life-cycle moves and churn, profile changes,
holdings, transactions, digital events, complaints and surveys, true
propensities, campaigns and contacts, end-of-day balances) and returns that
day's deliveries as Arrow tables in the landing contract. Only a loop over days
exists; every step is vectorised over customers or rows.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from bankmkt.generator import catalogue as cat
from bankmkt.generator.landing import DayClock, dates, decimals, empty_delivery, ids, labels
from bankmkt.generator.population import _pick, _sigmoid, draw_population
from bankmkt.generator.propensity import contact_effect, control_probability, true_propensity

EPOCH = dt.date(1970, 1, 1)
ARRIVAL_DAILY = 0.00035  # newcomers per day, as a share of the initial base
SPEND_WINDOW = 90
LOGIN_WINDOW = 30
COMPLAINT_WINDOW = 90
NEVER = -(10**6)
# Share of listed contacts a channel delivers when the customer is reachable by it: messages
# bounce, calls go unanswered, a branch contact needs the customer to come in.
DELIVERY_RATE = {"email": 0.96, "sms": 0.98, "phone": 0.60, "branch": 0.40, "push": 0.93}
TRANSFER_LIMIT_CENTS = 500_000 * 100  # largest single transaction (the contract allows 1,000,000)

_DISC_CAT = np.array([cat.CAT[name] for name in cat.DISCRETIONARY])
_SPEND_CAT = np.zeros(len(cat.CATEGORIES), dtype=bool)
_SPEND_CAT[[cat.CAT[name] for name in cat.SPEND_CATEGORIES]] = True
_TRAVEL_DINING_CAT = np.zeros(len(cat.CATEGORIES), dtype=bool)
_TRAVEL_DINING_CAT[[cat.CAT[name] for name in cat.TRAVEL_DINING]] = True
_CARD_CATEGORIES = 7  # the first seven discretionary categories are card payments


def epoch_day(day: dt.date) -> int:
    return (day - EPOCH).days


@dataclass
class _Ledger:
    """The day's transactions, collected in parts and booked at once."""

    parts: list = field(default_factory=list)

    def add(self, slots, cents, category, channel, seconds) -> None:
        slots = np.asarray(slots, dtype=np.int64)
        if len(slots) == 0:
            return
        n = len(slots)
        self.parts.append(
            (
                slots,
                np.broadcast_to(np.asarray(cents, dtype=np.int64), n),
                np.broadcast_to(np.asarray(category, dtype=np.int16), n),
                np.broadcast_to(np.asarray(channel, dtype=np.int16), n),
                np.broadcast_to(np.asarray(seconds, dtype=np.int32), n),
            )
        )

    def columns(self):
        if not self.parts:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty, empty.astype(np.int16), empty.astype(np.int16), empty.astype(np.int32)
        return tuple(np.concatenate([part[i] for part in self.parts]) for i in range(5))


class SyntheticBank:
    """State and daily step of the synthetic bank (see docs/synthetic_bank.md)."""

    def __init__(
        self,
        customers: int,
        days: int,
        start_date: dt.date,
        seed: int,
        contact_rate: float = 0.01,
        control_share: float = 0.1,
        platform_from: int | None = None,
    ):
        if customers < 1 or days < 1:
            raise ValueError("customers and days must be at least 1")
        if not 0.0 <= contact_rate <= 1.0:
            raise ValueError(f"contact_rate={contact_rate} must be in [0, 1]")
        if not 0.0 <= control_share < 1.0:
            raise ValueError(f"control_share={control_share} must be in [0, 1)")
        self.rng = np.random.default_rng(seed)
        self.days = days
        self.start_date = start_date
        self.start_epoch = epoch_day(start_date)
        self.contact_rate = contact_rate
        self.control_share = control_share
        # From this day on the bank runs no campaigns of its own: it executes the platform's
        # published target lists (simulate_day's ``lists``) and answers them.
        self.platform_from = days if platform_from is None else platform_from
        rng = self.rng

        arrivals = rng.poisson(customers * ARRIVAL_DAILY, size=days)
        arrivals[0] = 0
        arrival_day = np.concatenate(
            [np.zeros(customers, dtype=np.int32), np.repeat(np.arange(days, dtype=np.int32), arrivals)]
        )
        self.pop = pop = draw_population(rng, arrival_day, self.start_epoch)
        self.n = n = len(pop)
        if n >= 10**7:
            raise ValueError("at most 9,999,999 customers (customer ids are C + 7 digits)")
        self.customer_ids = ids("C", np.arange(1, n + 1), 7)
        self.account_ids = ids("A", np.arange(1, 2 * n + 1), 8)  # slot i current, n + i savings

        age = (self.start_epoch + pop.arrival_day - pop.birth_epoch) / 365.25
        tenure_days = self.start_epoch - pop.since_epoch
        log_income = np.log(np.maximum(pop.income_cents / 100, 100.0) / 2000.0)
        saver, spender, borrower, investor = pop.needs.T
        is_base = pop.arrival_day == 0

        # ---- life-cycle stage ----------------------------------------------------------
        base_stages = np.array(list(cat.BASE_STAGE_MIX))
        base_mix = np.array(list(cat.BASE_STAGE_MIX.values()))
        self.stage = base_stages[rng.choice(len(base_stages), size=n, p=base_mix)].astype(np.int8)
        self.stage[(tenure_days < cat.NEW_STAGE_DAYS) | ~is_base] = cat.NEW

        # ---- accounts: slot i is customer i's current account, slot n + i the savings --
        income = pop.income_cents.astype(float)
        current = income * np.exp(rng.normal(np.log(0.9) + 0.8 * investor + 0.5 * saver - 0.6 * borrower, 0.8))
        overdrawn = rng.random(n) < 0.04 + 0.15 * borrower
        current = np.where(overdrawn, -income * rng.uniform(0.0, 0.6, n), current)
        savings = income * np.exp(
            rng.normal(
                np.log(1.5) + 1.5 * saver + 2.0 * investor + 0.02 * (age - 40) + 0.03 * tenure_days / 365.25,
                1.3,
            )
        )
        rich = rng.random(n) < 0.005  # a few very rich customers
        savings = np.where(rich, savings * (1 + 10 * rng.pareto(1.5, n)), savings)
        has_savings = rng.random(n) < _sigmoid(
            -0.6 + 2 * saver + 1.5 * investor + 0.015 * (age - 45) + 0.4 * log_income
        )
        self.balance = np.zeros(2 * n, dtype=np.int64)
        self.opening_deposit = np.zeros(2 * n, dtype=np.int64)
        self.balance[:n] = np.where(is_base, np.round(current), 0)
        self.balance[n:] = np.where(is_base & has_savings, np.round(np.minimum(savings, 2e9)), 0)
        self.opening_deposit[:n] = np.round(income * np.exp(rng.normal(np.log(0.5), 0.8, n)))
        self.opening_deposit[n:] = np.round(income * np.exp(rng.normal(np.log(2.0), 1.0, n)))
        self.account_open = np.zeros(2 * n, dtype=bool)
        self.account_open[:n] = is_base
        self.account_open[n:] = is_base & has_savings
        self.account_opened = np.concatenate(
            [
                pop.since_epoch,
                pop.since_epoch + np.floor(rng.random(n) * np.maximum(tenure_days, 0)).astype(np.int64),
            ]
        )
        self.savings_at_arrival = ~is_base & (rng.random(n) < 0.2)

        # ---- product holdings (customers x 5 products) ---------------------------------
        working = (pop.occupation == cat.EMPLOYEE) | (pop.occupation == cat.SELF_EMPLOYED)
        holding_logit = np.column_stack(
            [
                -1.0
                + 0.6 * log_income
                + 1.0 * spender
                - 0.01 * (age - 45)
                + 0.5 * working
                - 1.5 * (pop.occupation == cat.STUDENT),
                -2.6 + 2.0 * borrower + 0.5 * ((age > 25) & (age < 55)),
                -2.8 + 2.0 * saver + 0.03 * (age - 45),
                -4.0 + 1.2 * log_income + 3.0 * investor + 0.02 * (age - 45),
                -2.7 + 1.2 * ((age > 28) & (age < 60)) + 0.6 * log_income + 0.5 * borrower,
            ]
        )
        self.held = is_base[:, None] & (rng.random((n, 5)) < _sigmoid(holding_logit))
        self.holding_opened = (
            pop.since_epoch[:, None] + np.floor(rng.random((n, 5)) * np.maximum(tenure_days, 0)[:, None])
        ).astype(np.int64)
        self.holding_id = np.zeros((n, 5), dtype=np.int64)
        held_rows, held_products = np.nonzero(self.held)
        self.holding_id[held_rows, held_products] = np.arange(1, len(held_rows) + 1)
        self.next_holding = len(held_rows) + 1
        self.loan_payment = np.round(np.clip(income * rng.uniform(0.05, 0.12, n), 8_000, 200_000))
        self.mortgage_payment = np.round(income * rng.uniform(0.18, 0.32, n))

        # ---- behaviour that does not change day to day --------------------------------
        self.age_at_start = age
        self.spend_rate = 0.9 * (0.7 + 0.6 * spender) * np.clip(1.2 - 0.01 * (age - 30), 0.6, 1.3)
        young = np.clip((40 - age) / 20, -1, 1)
        old = age > 70
        # Log-odds of each discretionary category (order of catalogue.DISCRETIONARY).
        self.category_logit = np.column_stack(
            [
                1.2 - 0.2 * young,  # groceries
                0.6 + 0.5 * young + 0.4 * log_income + 0.6 * spender,  # dining
                -1.6 + 0.7 * log_income + 0.6 * spender + 0.4 * investor,  # travel
                0.0 - 0.4 * old,  # fuel
                0.4 + 0.3 * young + 1.0 * spender + 0.3 * borrower,  # shopping
                -0.6 - 0.6 * young + 0.8 * old,  # health
                -0.2 + 0.6 * young + 0.6 * spender,  # entertainment
                -0.2 - 0.4 * young - 0.3 * log_income + 0.4 * borrower - 0.8 * pop.digital,  # cash
                -0.8 + 0.3 * investor,  # transfer_out
            ]
        )
        weights = np.exp(self.category_logit)
        weights /= weights.sum(axis=1, keepdims=True)
        self.mean_ticket = weights @ cat.DISCRETIONARY_AMOUNT
        self.spend_ratio = pop.needs @ cat.NEED_SPEND_RATIO
        self.saving_rate = pop.needs @ cat.NEED_SAVING_RATE
        self.stage_category_shift = np.zeros((len(cat.STAGES), len(cat.DISCRETIONARY)))
        self.stage_category_shift[cat.DECLINING, -1] = 0.8  # money leaves the bank
        self.stage_category_shift[cat.DORMANT, 7] = 0.5  # the odd cash withdrawal

        # ---- observation windows (what a warehouse sees in the landed data) -----------
        self.spend_ring = np.zeros((SPEND_WINDOW, n), dtype=np.int32)
        self.travel_dining_ring = np.zeros((SPEND_WINDOW, n), dtype=np.int32)
        self.login_ring = np.zeros((LOGIN_WINDOW, n), dtype=np.int16)
        self.complaint_ring = np.zeros((COMPLAINT_WINDOW, n), dtype=np.int8)
        self.spend_90d = np.zeros(n, dtype=np.int64)
        self.travel_dining_90d = np.zeros(n, dtype=np.int64)
        self.logins_30d = np.zeros(n, dtype=np.int64)
        self.complaints_90d = np.zeros(n, dtype=np.int64)
        self.last_complaint_day = np.full(n, NEVER, dtype=np.int64)
        self.propensity = np.zeros((n, len(cat.PROMOTED)))

        # ---- campaigns and contacts ----------------------------------------------------
        self.campaigns: list[dict] = []
        self.active_campaign = np.full(len(cat.PROMOTED), -1)
        self.last_contact_day = np.full((n, len(cat.PROMOTED)), NEVER, dtype=np.int64)
        self.pending: dict[int, list[tuple]] = {}
        self.campaign_number: dict[str, int] = {}
        self.next_contact = 1
        self.contact_log: list[dict] = []
        self.response_log: list[tuple] = []
        self.counters = {"transaction": 1, "event": 1, "complaint": 1, "survey": 1, "response": 1}
        features = self.features(0, self.start_epoch)
        self.propensity = true_propensity(features, self.stage)
        self.effect = contact_effect(features, self.stage)

    # ---- helpers -----------------------------------------------------------------------
    def _active(self, day: int) -> np.ndarray:
        """Customers delivered by ``day`` and not churned."""
        return (self.pop.arrival_day <= day) & (self.stage != cat.CHURNED)

    def _take_ids(self, prefix_counter: str, prefix: str, width: int, count: int) -> pa.Array:
        first = self.counters[prefix_counter]
        self.counters[prefix_counter] = first + count
        return ids(prefix, np.arange(first, first + count), width)

    def _digital_channel(self, customers: np.ndarray, web: int, mobile: int, branch: int) -> np.ndarray:
        """Mobile, web or branch by the customers' digital adoption and app preference."""
        u = self.rng.random(len(customers))
        d = self.pop.digital[customers]
        return np.where(u < d * self.pop.app_share[customers], mobile, np.where(u < d, web, branch))

    # ---- the day ---------------------------------------------------------------------------
    def simulate_day(self, day: int, lists=None, catalogue=None) -> dict[str, pa.Table]:
        """Advance to simulated day ``day`` (0-based) and return its deliveries.

        From ``platform_from`` on, ``lists`` (the platform's target-list rows published the
        day before, a pandas frame) are executed instead of the bank's own campaigns, and
        ``catalogue`` (campaign id -> name, product, response window) names their campaigns.
        """
        date = self.start_date + dt.timedelta(days=day)
        today = self.start_epoch + day
        clock = DayClock(date)
        ledger = _Ledger()
        changes = _Changes()
        self._arrivals(day, today, ledger, changes)
        if day > 0:
            self._life_cycle(day, today, ledger, changes)
            self._profile_changes(day, changes)
            self._holdings(day, today, ledger, changes)
            self._savings_accounts(day, today, ledger, changes)
        self._money(day, date, ledger)
        out = {}
        out["transactions"], spend, travel_dining = self._book(ledger, clock)
        out["digital_events"], logins = self._digital(day, clock)
        out["complaints"], complaints = self._complaints(day, clock)
        out["satisfaction_surveys"] = self._surveys(day, clock)
        self._observe(day, today, spend, travel_dining, logins, complaints)
        if day < self.platform_from:
            campaign_rows = self._campaigns(day, date)
            out["campaign_contacts"] = self._contacts(day, today, clock)
        else:
            campaign_rows, out["campaign_contacts"] = self._execute_lists(
                day, today, clock, changes, lists, catalogue or {}
            )
        out["campaigns"] = self._campaigns_table(campaign_rows)
        out["campaign_responses"] = self._responses_table(changes, clock)
        out["customers"] = self._customers_table(changes, clock)
        out["accounts"] = self._accounts_table(today, changes, clock)
        out["product_holdings"] = self._holdings_table(today, changes, clock)
        out["daily_balances"] = self._balances_table(today)
        # The synthetic bank has no attributes beyond the core profile: header-only files.
        out["customer_attributes"] = empty_delivery("customer_attributes")
        return {source: out[source] for source in cat.SOURCES}

    # ---- 1. the day-1 base and newcomers ---------------------------------------------------
    def _arrivals(self, day: int, today: int, ledger: _Ledger, changes: _Changes) -> None:
        if day == 0:
            base = np.nonzero(self.pop.arrival_day == 0)[0]
            changes.customers.append((base, np.zeros(len(base), dtype=np.int32)))
            open_slots = np.nonzero(self.account_open)[0]
            changes.account_rows.append((open_slots, np.zeros(len(open_slots), dtype=np.int32)))
            rows, products = np.nonzero(self.held)
            changes.holding_rows.append(
                (
                    self.holding_id[rows, products],
                    rows,
                    products,
                    self.holding_opened[rows, products],
                    np.zeros(len(rows), dtype=bool),
                    np.zeros(len(rows), dtype=np.int32),
                )
            )
            return
        newcomers = np.nonzero(self.pop.arrival_day == day)[0]
        if len(newcomers) == 0:
            return
        n = self.n
        seconds = self.rng.integers(9 * 3600, 19 * 3600, len(newcomers))
        changes.customers.append((newcomers, seconds))
        savers = newcomers[self.savings_at_arrival[newcomers]]
        slots = np.concatenate([newcomers, savers + n])
        slot_seconds = np.concatenate([seconds, seconds[self.savings_at_arrival[newcomers]]])
        self.account_open[slots] = True
        self.account_opened[slots] = today
        changes.account_rows.append((slots, slot_seconds))
        channel = self._digital_channel(slots % n, cat.CH["web"], cat.CH["mobile"], cat.CH["branch"])
        ledger.add(
            slots,
            self.opening_deposit[slots],
            cat.CAT["transfer_in"],
            channel,
            np.minimum(slot_seconds + 60, 86399),
        )

    # ---- 2. life cycle and churn --------------------------------------------------------
    def _life_cycle(self, day: int, today: int, ledger: _Ledger, changes: _Changes) -> None:
        rng, n = self.rng, self.n
        moving = self._active(day) & (self.pop.arrival_day < day)
        stage = self.stage
        # New customers graduate after 90 days.
        graduates = moving & (stage == cat.NEW) & (today - self.pop.since_epoch >= cat.NEW_STAGE_DAYS)
        targets = np.array(list(cat.AFTER_NEW_MIX))
        mix = np.array(list(cat.AFTER_NEW_MIX.values()))
        stage[graduates] = targets[rng.choice(len(targets), size=int(graduates.sum()), p=mix)]

        transition = np.zeros((len(cat.STAGES), len(cat.STAGES)))
        for (source, target), probability in cat.DAILY_TRANSITIONS.items():
            transition[source, target] = probability
        candidates = np.nonzero(moving & ~graduates & (stage != cat.NEW))[0]
        probabilities = transition[stage[candidates]]
        complained = self.complaints_90d[candidates] > 0
        probabilities[complained, cat.DECLINING] *= cat.COMPLAINT_DECLINE_FACTOR
        probabilities[complained, cat.CHURNED] *= cat.COMPLAINT_CHURN_FACTOR
        cumulative = np.cumsum(probabilities, axis=1)
        u = rng.random(len(candidates))
        moves = u < cumulative[:, -1]
        stage[candidates[moves]] = (u[moves, None] >= cumulative[moves]).sum(axis=1)

        churners = candidates[moves][stage[candidates[moves]] == cat.CHURNED]
        if len(churners) == 0:
            return
        seconds = rng.integers(9 * 3600, 18 * 3600, len(churners))
        slots = np.concatenate([churners, churners + n])
        slot_seconds = np.concatenate([seconds, seconds])
        is_open = self.account_open[slots]
        slots, slot_seconds = slots[is_open], slot_seconds[is_open]
        remaining = self.balance[slots]
        channel = self._digital_channel(slots % n, cat.CH["web"], cat.CH["mobile"], cat.CH["branch"])
        ledger.add(
            slots,
            -remaining,
            np.where(remaining > 0, cat.CAT["transfer_out"], cat.CAT["transfer_in"]),
            channel,
            slot_seconds,
        )
        self.account_open[slots] = False
        changes.account_rows.append((slots, slot_seconds))
        changes.closed_accounts.append(slots)
        rows, products = np.nonzero(self.held[churners])
        if len(rows):
            changes.close_holdings(self, churners[rows], products, seconds[rows])

    # ---- 3. profile changes --------------------------------------------------------------
    def _profile_changes(self, day: int, changes: _Changes) -> None:
        rng, pop = self.rng, self.pop
        who = np.nonzero(self._active(day) & (pop.arrival_day < day))[0]
        u = rng.random((len(who), 5))
        declining = self.stage[who] == cat.DECLINING
        income = who[u[:, 0] < cat.PROFILE_CHANGE_DAILY["income"]]
        move = who[u[:, 1] < cat.PROFILE_CHANGE_DAILY["region"]]
        email = who[u[:, 2] < cat.PROFILE_CHANGE_DAILY["email"]]
        phone = who[u[:, 3] < cat.PROFILE_CHANGE_DAILY["phone"]]
        consent = pop.consent[who]
        withdraw_rate = cat.PROFILE_CHANGE_DAILY["consent_withdrawn"]
        withdraw = consent & (u[:, 4] < np.where(declining, 3 * withdraw_rate, withdraw_rate))
        give = ~consent & (u[:, 4] < cat.PROFILE_CHANGE_DAILY["consent_given"])
        pop.income_cents[income] = np.round(pop.income_cents[income] * np.exp(rng.normal(0.02, 0.12, len(income))))
        pop.region[move] = rng.integers(0, len(cat.REGIONS), len(move))
        pop.email_number[email] = rng.integers(1, 1000, len(email))
        pop.email_domain[email] = rng.integers(0, len(cat.EMAIL_DOMAINS), len(email))
        pop.phone_number[phone] = rng.integers(10**8, 10**9, len(phone))
        pop.consent[who[withdraw | give]] = ~pop.consent[who[withdraw | give]]
        changed = np.unique(np.concatenate([income, move, email, phone, who[withdraw | give]]))
        changes.customers.append((changed, rng.integers(0, 86400, len(changed))))

    # ---- 4. product holdings ---------------------------------------------------------------
    def _holdings(self, day: int, today: int, ledger: _Ledger, changes: _Changes) -> None:
        rng, n = self.rng, self.n
        # Conversions due today (dropped when the customer has churned meanwhile).
        for contact_rows in self.pending.pop(day, []):
            alive = self.stage[contact_rows[1]] != cat.CHURNED
            contact, customer, product, campaign = (a[alive] for a in contact_rows)
            seconds = rng.integers(7 * 3600, 23 * 3600, len(contact))
            changes.add_responses(
                contact, customer, campaign, seconds, "converted", self._conversion_amount(customer, product)
            )
            self.response_log.append((contact, today * 86400 + seconds))
            changes.open_holdings(self, customer, product, seconds, today)

        active = self._active(day) & (self.pop.arrival_day < day)
        # Organic closures of holdings opened before today, and organic openings of
        # products not held this morning (never while a response window is open).
        closing = (
            active[:, None] & self.held & (self.holding_opened < today) & (rng.random((n, 5)) < cat.HOLDING_CLOSE_DAILY)
        )
        promoted = len(cat.PROMOTED)
        organic = (
            active[:, None]
            & ~self.held[:, :promoted]
            & (day - self.last_contact_day > cat.RESPONSE_WINDOW_DAYS)
            & (rng.random((n, promoted)) < self.propensity * cat.ORGANIC_DAILY_FACTOR)
        )
        age = self.age_at_start + day / 365.25
        mortgage = active & ~self.held[:, 4] & (age > 25) & (age < 55) & (rng.random(n) < cat.MORTGAGE_OPEN_DAILY)
        rows, products = np.nonzero(closing)
        changes.close_holdings(self, rows, products, rng.integers(0, 86400, len(rows)))
        rows, products = np.nonzero(organic)
        rows = np.concatenate([rows, np.nonzero(mortgage)[0]])
        products = np.concatenate([products, np.full(int(mortgage.sum()), 4)])
        changes.open_holdings(self, rows, products, rng.integers(8 * 3600, 22 * 3600, len(rows)), today)

        # Money that moves when a holding opens: loans pay out, deposits and funds are funded.
        opened_customer, opened_product, opened_seconds = changes.opened_today()
        after = np.minimum(opened_seconds + 120, 86399)
        loan = opened_product == 1
        ledger.add(
            opened_customer[loan],
            np.round(self.loan_payment[opened_customer[loan]] * rng.uniform(24, 48, int(loan.sum()))),
            cat.CAT["transfer_in"],
            cat.CH["branch"],
            after[loan],
        )
        funded = (opened_product == 2) | (opened_product == 3)
        customer = opened_customer[funded]
        from_savings = self.account_open[customer + n] & (self.balance[customer + n] > 0)
        slots = np.where(from_savings, customer + n, customer)
        share = np.where(opened_product[funded] == 2, 0.3, 0.2)
        amount = np.round(np.maximum(self.balance[slots], 0) * share)
        has_money = amount > 0
        ledger.add(
            slots[has_money],
            -amount[has_money],
            cat.CAT["investment"],
            self._digital_channel(customer[has_money], cat.CH["web"], cat.CH["mobile"], cat.CH["branch"]),
            after[funded][has_money],
        )

    def _savings_accounts(self, day: int, today: int, ledger: _Ledger, changes: _Changes) -> None:
        rng, n = self.rng, self.n
        active = self._active(day) & (self.pop.arrival_day < day)
        has_savings = self.account_open[n:]
        saver = self.pop.needs[:, 0]
        opening = np.nonzero(
            active & ~has_savings & (self.stage != cat.DORMANT) & (rng.random(n) < (1 + 2 * saver) / 2000)
        )[0]
        closing = np.nonzero(active & has_savings & (self.account_opened[n:] < today) & (rng.random(n) < 1 / 4000))[0]
        seconds_open = rng.integers(8 * 3600, 22 * 3600, len(opening))
        seconds_close = rng.integers(8 * 3600, 22 * 3600, len(closing))
        self.account_open[opening + n] = True
        self.account_opened[opening + n] = today
        changes.account_rows.append((opening + n, seconds_open))
        # The new savings account is funded from the current account, if it is in credit.
        amount = np.round(np.maximum(self.balance[opening], 0) * rng.uniform(0.1, 0.3, len(opening)))
        funded = amount > 0
        channel = self._digital_channel(opening[funded], cat.CH["web"], cat.CH["mobile"], cat.CH["branch"])
        ledger.add(opening[funded], -amount[funded], cat.CAT["transfer_out"], channel, seconds_open[funded] + 60)
        ledger.add(opening[funded] + n, amount[funded], cat.CAT["transfer_in"], channel, seconds_open[funded] + 60)
        # A closed savings account pays its balance into the current account.
        remaining = self.balance[closing + n]
        channel = self._digital_channel(closing, cat.CH["web"], cat.CH["mobile"], cat.CH["branch"])
        ledger.add(
            closing + n,
            -remaining,
            np.where(remaining > 0, cat.CAT["transfer_out"], cat.CAT["transfer_in"]),
            channel,
            seconds_close,
        )
        ledger.add(
            closing,
            remaining,
            np.where(remaining > 0, cat.CAT["transfer_in"], cat.CAT["transfer_out"]),
            channel,
            seconds_close,
        )
        self.account_open[closing + n] = False
        changes.account_rows.append((closing + n, seconds_close))
        changes.closed_accounts.append(closing + n)

    # ---- 5. money: income, bills, saving, spending ------------------------------------
    def _money(self, day: int, date: dt.date, ledger: _Ledger) -> None:
        rng, pop, n = self.rng, self.pop, self.n
        active = self._active(day)
        stage = self.stage
        dom = date.day
        income = pop.income_cents

        # Income on the pay day (often missing in decline: the salary moves to another bank).
        paid = np.nonzero(active & (pop.pay_day == dom))[0]
        paid = paid[rng.random(len(paid)) < cat.STAGE_SALARY_DEPOSITED[stage[paid]]]
        occupation = pop.occupation[paid]
        category = np.select(
            [occupation == cat.EMPLOYEE, occupation == cat.RETIRED],
            [cat.CAT["salary"], cat.CAT["pension"]],
            cat.CAT["transfer_in"],
        )
        noise = np.select(
            [occupation == cat.EMPLOYEE, occupation == cat.SELF_EMPLOYED, occupation == cat.RETIRED],
            [rng.normal(1.0, 0.02, len(paid)), rng.lognormal(0.0, 0.35, len(paid)), np.ones(len(paid))],
            np.ones(len(paid)),
        )
        ledger.add(
            paid,
            np.round(income[paid] * noise),
            category,
            cat.CH["standing_order"],
            rng.integers(2 * 3600, 6 * 3600, len(paid)),
        )

        # Standing orders on the bill day: utilities (not when dormant) and loan repayments.
        billed = active & (pop.bill_day == dom)
        utilities = np.nonzero(billed & (stage != cat.DORMANT))[0]
        ledger.add(
            utilities,
            -np.round(pop.bills_cents[utilities] * rng.uniform(0.9, 1.1, len(utilities))),
            cat.CAT["utilities"],
            cat.CH["standing_order"],
            rng.integers(1800, 5 * 3600, len(utilities)),
        )
        for product, payment in ((1, self.loan_payment), (4, self.mortgage_payment)):
            payers = np.nonzero(billed & self.held[:, product] & (self.holding_opened[:, product] < epoch_day(date)))[0]
            ledger.add(
                payers,
                -payment[payers],
                cat.CAT["loan_repayment"],
                cat.CH["standing_order"],
                rng.integers(1800, 5 * 3600, len(payers)),
            )

        # The day after pay day: savers move money to savings; decliners take it out.
        after_pay = active & (pop.pay_day % 28 + 1 == dom) & self.account_open[n:]
        savers = np.nonzero(after_pay & (self.saving_rate > 0))[0]
        amount = np.round(income[savers] * self.saving_rate[savers] * cat.STAGE_SAVING_FACTOR[stage[savers]])
        ok = (amount > 0) & (self.balance[savers] > amount)
        savers, amount = savers[ok], amount[ok]
        seconds = rng.integers(6 * 3600, 8 * 3600, len(savers))
        ledger.add(savers, -amount, cat.CAT["transfer_out"], cat.CH["standing_order"], seconds)
        ledger.add(savers + n, amount, cat.CAT["transfer_in"], cat.CH["standing_order"], seconds)
        withdrawers = np.nonzero(after_pay & (stage == cat.DECLINING) & (self.balance[n:] > 0))[0]
        withdrawers = withdrawers[rng.random(len(withdrawers)) < 0.5]
        amount = np.round(self.balance[withdrawers + n] * rng.uniform(0.1, 0.3, len(withdrawers)))
        seconds = rng.integers(8 * 3600, 22 * 3600, len(withdrawers))
        channel = self._digital_channel(withdrawers, cat.CH["web"], cat.CH["mobile"], cat.CH["branch"])
        ledger.add(withdrawers + n, -amount, cat.CAT["transfer_out"], channel, seconds)
        ledger.add(withdrawers, amount, cat.CAT["transfer_in"], channel, seconds)

        # Wealth-management clients invest monthly.
        investors = np.nonzero(active & self.held[:, 3] & (stage != cat.DORMANT) & ((pop.pay_day + 2) % 28 + 1 == dom))[
            0
        ]
        amount = np.round(income[investors] * 0.08)
        investors, amount = (
            investors[self.balance[investors] > amount],
            amount[self.balance[investors] > amount],
        )
        ledger.add(
            investors,
            -amount,
            cat.CAT["investment"],
            self._digital_channel(investors, cat.CH["web"], cat.CH["mobile"], cat.CH["branch"]),
            rng.integers(8 * 3600, 22 * 3600, len(investors)),
        )

        # Discretionary spending: count by activity, category by the customer's mix,
        # amount so that a month's spend is about spend_ratio x income.
        weekday = date.weekday()
        weekday_factor = (0.95, 0.95, 0.95, 1.0, 1.2, 1.2, 0.8)[weekday]
        spenders = np.nonzero(active)[0]
        rate = self.spend_rate[spenders] * cat.STAGE_SPEND_ACTIVITY[stage[spenders]] * weekday_factor
        count = rng.poisson(rate)
        customer = np.repeat(spenders, count)
        m = len(customer)
        logit = self.category_logit[customer] + self.stage_category_shift[stage[customer]]
        choice = _pick(rng, np.exp(logit))
        income_eur = np.maximum(income / 100, 100.0)
        headroom = np.clip(0.85 + 0.1 * self.balance[:n] / 100 / income_eur, 0.5, 1.5)
        monthly = income_eur * self.spend_ratio * cat.STAGE_SPEND_RATIO[stage] * headroom
        # Activity sets how often a customer pays; the stage's spend ratio sets how much in all.
        activity = np.maximum(cat.STAGE_SPEND_ACTIVITY[stage], 0.01)
        scale = monthly / 30 / (self.spend_rate * activity * self.mean_ticket)
        sigma = np.where(choice == 2, 0.8, 0.6)
        euros = scale[customer] * cat.DISCRETIONARY_AMOUNT[choice] * np.exp(rng.normal(-(sigma**2) / 2, sigma))
        euros = np.where(choice == 7, np.maximum(np.round(euros / 10) * 10, 10), euros)
        cents = np.round(np.clip(euros, 0.5, 50_000) * 100)
        digital = pop.digital[customer]
        u = rng.random(m)
        online = u < np.minimum(cat.ONLINE_SHARE[choice] * (0.4 + 1.2 * digital), 0.95)
        transfer_channel = np.where(
            u < digital * pop.app_share[customer],
            cat.CH["mobile"],
            np.where(u < digital, cat.CH["web"], cat.CH["branch"]),
        )
        cash_channel = np.where(u < 0.05 + 0.25 * (1 - digital), cat.CH["branch"], cat.CH["atm"])
        channel = np.select(
            [choice < _CARD_CATEGORIES, choice == 7],
            [np.where(online, cat.CH["card_online"], cat.CH["card_pos"]), cash_channel],
            transfer_channel,
        )
        # Mostly 07:00-23:00, a few card payments and withdrawals at night; branches keep office hours.
        night = (rng.random(m) < 0.03) & (channel != cat.CH["branch"])
        seconds = np.where(night, rng.integers(0, 7 * 3600, m), rng.integers(7 * 3600, 23 * 3600, m))
        seconds = np.where(channel == cat.CH["branch"], rng.integers(9 * 3600, 17 * 3600, m), seconds)
        ledger.add(customer, -cents, _DISC_CAT[choice], channel, seconds)

    def _book(self, ledger: _Ledger, clock: DayClock):
        """Book the day's transactions, update balances, return the table and spend per customer."""
        n = self.n
        slots, cents, category, channel, seconds = ledger.columns()
        keep = cents != 0
        slots, cents, category, channel, seconds = (a[keep] for a in (slots, cents, category, channel, seconds))
        # Movements above the single-transfer limit (a rich customer leaving) are booked in pieces.
        pieces = np.maximum(-(-np.abs(cents) // TRANSFER_LIMIT_CENTS), 1)
        if (pieces > 1).any():
            row = np.repeat(np.arange(len(cents)), pieces)
            piece = np.arange(len(row)) - np.repeat(np.cumsum(pieces) - pieces, pieces)
            last = piece == pieces[row] - 1
            size = np.abs(cents[row])
            cents = np.sign(cents[row]) * np.where(last, size - TRANSFER_LIMIT_CENTS * piece, TRANSFER_LIMIT_CENTS)
            slots, category, channel, seconds = (a[row] for a in (slots, category, channel, seconds))
        order = np.lexsort((slots, seconds))
        slots, cents, category, channel, seconds = (a[order] for a in (slots, cents, category, channel, seconds))
        self.balance += np.round(np.bincount(slots, weights=cents, minlength=2 * n)).astype(np.int64)
        customer = slots % n
        spend_rows = _SPEND_CAT[category] & (cents < 0)
        spend = np.bincount(customer[spend_rows], weights=-cents[spend_rows], minlength=n)
        td_rows = spend_rows & _TRAVEL_DINING_CAT[category]
        travel_dining = np.bincount(customer[td_rows], weights=-cents[td_rows], minlength=n)
        table = pa.table(
            {
                "transaction_id": self._take_ids("transaction", "TX", 12, len(slots)),
                "account_id": self.account_ids.take(pa.array(slots)),
                "booked_at": clock.stamps(seconds),
                "amount": decimals(cents),
                "direction": labels(cat.DIRECTIONS, (cents < 0).astype(np.int32)),
                "merchant_category": labels(cat.CATEGORIES, category),
                "channel": labels(cat.TX_CHANNELS, channel),
            }
        )
        return table, spend.astype(np.int64), travel_dining.astype(np.int64)

    # ---- 6. digital events -----------------------------------------------------------------
    def _digital(self, day: int, clock: DayClock):
        rng, pop, n = self.rng, self.pop, self.n
        users = np.nonzero(self._active(day))[0]
        sessions = rng.poisson(
            cat.SESSIONS_PER_DAY * pop.digital[users] * cat.STAGE_DIGITAL_ACTIVITY[self.stage[users]]
        )
        customer = np.repeat(users, sessions)
        s = len(customer)
        start = rng.integers(6 * 3600, 23 * 3600 + 1800, s)
        channel = (rng.random(s) >= pop.app_share[customer]).astype(np.int32)  # 0 app, 1 web
        recent_complaint = (day - self.last_complaint_day[customer]) <= 7
        u = rng.random((s, 4))
        # Follow-ups per session: payment, view_product, start_application, support_chat.
        follow = np.column_stack(
            [
                u[:, 0] < 0.35,
                u[:, 1] < 0.15,
                u[:, 2] < 0.005 + 0.05 * self.propensity[customer].max(axis=1),
                u[:, 3] < np.where(recent_complaint, 0.15, 0.03),
            ]
        )
        event_type = [np.zeros(s, dtype=np.int32)]
        event_customer = [customer]
        event_seconds = [start]
        event_channel = [channel]
        event_product = [np.full(s, -1)]
        interest = np.column_stack([self.propensity[customer] * (1 - 0.7 * self.held[customer, :4]), np.full(s, 0.02)])
        for column, (kind, low, high) in enumerate(((3, 30, 300), (1, 20, 600), (2, 600, 1200), (4, 60, 900))):
            rows = np.nonzero(follow[:, column])[0]
            event_type.append(np.full(len(rows), kind, dtype=np.int32))
            event_customer.append(customer[rows])
            event_seconds.append(np.minimum(start[rows] + rng.integers(low, high, len(rows)), 86399))
            event_channel.append(channel[rows])
            if kind in (1, 2):
                weights = interest[rows] if kind == 1 else interest[rows] ** 2
                event_product.append(_pick(rng, weights) if len(rows) else np.zeros(0, dtype=np.int64))
            else:
                event_product.append(np.full(len(rows), -1))
        event_type, event_customer, event_seconds, event_channel, event_product = (
            np.concatenate(a) for a in (event_type, event_customer, event_seconds, event_channel, event_product)
        )
        order = np.lexsort((event_type, event_customer, event_seconds))
        event_type, event_customer, event_seconds, event_channel, event_product = (
            a[order] for a in (event_type, event_customer, event_seconds, event_channel, event_product)
        )
        logins = np.bincount(customer, minlength=n)
        table = pa.table(
            {
                "event_id": self._take_ids("event", "EV", 11, len(event_type)),
                "customer_id": self.customer_ids.take(pa.array(event_customer)),
                "event_at": clock.stamps(event_seconds),
                "channel": labels(cat.DIGITAL_CHANNELS, event_channel),
                "event_type": labels(cat.EVENT_TYPES, event_type),
                "product_code": labels(cat.PRODUCTS, np.maximum(event_product, 0), valid=event_product >= 0),
            }
        )
        return table, logins

    # ---- 7. complaints and surveys --------------------------------------------------------
    def _complaints(self, day: int, clock: DayClock):
        rng, pop, n = self.rng, self.pop, self.n
        active = np.nonzero(self._active(day))[0]
        overdrawn = self.balance[active] < 0
        probability = (
            cat.COMPLAINT_DAILY * cat.STAGE_COMPLAINT_FACTOR[self.stage[active]] * np.where(overdrawn, 1.5, 1.0)
        )
        who = active[rng.random(len(active)) < probability]
        k = len(who)
        digital = pop.digital[who]
        weights = np.column_stack(
            [
                0.25 + 0.3 * (self.balance[who] < 0),  # fees
                np.full(k, 0.20),  # service
                0.15 * np.where(self.held[who, 0], 1.5, 0.3),  # card
                0.15 * 2 * digital,  # app
                0.10 * np.where(self.held[who, 1] | self.held[who, 4], 2.0, 0.1),  # loan
                np.full(k, 0.15),  # other
            ]
        )
        category = _pick(rng, weights) if k else np.zeros(0, dtype=np.int64)
        u = rng.random(k)
        channel = np.where(
            u < digital * pop.app_share[who], 3, np.where(u < digital, 2, np.where(rng.random(k) < 0.6, 1, 0))
        )
        severity = rng.choice(np.array([1, 2, 3]), size=k, p=[0.6, 0.3, 0.1])
        seconds = rng.integers(8 * 3600, 21 * 3600, k)
        order = np.lexsort((who, seconds))
        who, category, channel, severity, seconds = (a[order] for a in (who, category, channel, severity, seconds))
        self.last_complaint_day[who] = day
        table = pa.table(
            {
                "complaint_id": self._take_ids("complaint", "CP", 8, k),
                "customer_id": self.customer_ids.take(pa.array(who)),
                "opened_at": clock.stamps(seconds),
                "category": labels(cat.COMPLAINT_CATEGORIES, category),
                "channel": labels(cat.COMPLAINT_CHANNELS, channel),
                "severity": pa.array(severity.astype(np.int64)),
            }
        )
        return table, np.bincount(who, minlength=n)

    def _surveys(self, day: int, clock: DayClock) -> pa.Table:
        rng = self.rng
        active = np.nonzero(self._active(day) & (self.stage != cat.DORMANT))[0]
        since_complaint = day - self.last_complaint_day[active]
        probability = cat.SURVEY_DAILY * np.where(
            (since_complaint >= 1) & (since_complaint <= 14), cat.SURVEY_AFTER_COMPLAINT_FACTOR, 1.0
        )
        who = active[rng.random(len(active)) < probability]
        k = len(who)
        mood = (
            7.6
            + cat.STAGE_SATISFACTION[self.stage[who]]
            - 2.5 * (self.complaints_90d[who] > 0)
            + rng.normal(0.0, 1.6, k)
        )
        nps = np.clip(np.round(mood), 0, 10).astype(np.int64)
        csat = np.clip(np.round(1 + 4 * mood / 10 + rng.normal(0.0, 0.5, k)), 1, 5).astype(np.int64)
        seconds = rng.integers(8 * 3600, 22 * 3600, k)
        order = np.lexsort((who, seconds))
        who, nps, csat, seconds = (a[order] for a in (who, nps, csat, seconds))
        return pa.table(
            {
                "survey_id": self._take_ids("survey", "SV", 8, k),
                "customer_id": self.customer_ids.take(pa.array(who)),
                "answered_at": clock.stamps(seconds),
                "nps_score": pa.array(nps),
                "csat_score": pa.array(csat),
            }
        )

    # ---- 8. what a warehouse can see, and the true propensities ----------------------
    def _observe(self, day, today, spend, travel_dining, logins, complaints) -> None:
        slot = day % SPEND_WINDOW
        self.spend_90d += spend - self.spend_ring[slot]
        self.spend_ring[slot] = spend
        self.travel_dining_90d += travel_dining - self.travel_dining_ring[slot]
        self.travel_dining_ring[slot] = travel_dining
        slot = day % LOGIN_WINDOW
        self.logins_30d += logins - self.login_ring[slot]
        self.login_ring[slot] = logins
        slot = day % COMPLAINT_WINDOW
        self.complaints_90d += complaints - self.complaint_ring[slot]
        self.complaint_ring[slot] = complaints
        features = self.features(day, today)
        self.propensity = true_propensity(features, self.stage)
        self.effect = contact_effect(features, self.stage)

    def features(self, day: int, today: int) -> dict[str, np.ndarray]:
        """The observable features of every customer at the end of ``day`` (see propensity.py)."""
        n, pop = self.n, self.pop
        open_balance = np.where(self.account_open, self.balance, 0) / 100
        total = open_balance[:n] + open_balance[n:]
        income = np.maximum(pop.income_cents / 100, 100.0)
        observed = np.clip(day - pop.arrival_day + 1, 1, SPEND_WINDOW)
        spend = self.spend_90d / 100
        age = (today - pop.birth_epoch) / 365.25
        return {
            "log_balance": np.log10(1 + np.maximum(total, 0)) - 3.5,
            "log_savings": np.log10(1 + np.maximum(open_balance[n:], 0)) - 3.0,
            "log_income": np.log(income / 2000.0),
            "age": (age - 45) / 15,
            "age_mid": np.exp(-(((age - 38) / 12) ** 2)) - 0.5,
            "travel_dining": np.where(self.spend_90d > 0, self.travel_dining_90d / np.maximum(self.spend_90d, 1), 0.0)
            - 0.2,
            "spend_income": np.minimum(spend / observed * 30 / income, 5.0) - 0.6,
            "logins": np.log1p(self.logins_30d) - 1.5,
            "tenure": np.log1p(np.maximum(today - pop.since_epoch, 0) / 365.25) - 2.0,
            "products": self.held.sum(axis=1) - 1.0,
            "complaints": np.minimum(self.complaints_90d, 3).astype(float),
        }

    # ---- 9. campaigns and contacts --------------------------------------------------------
    def _campaigns(self, day: int, date: dt.date) -> list[dict]:
        rows = []
        if day % cat.CAMPAIGN_EVERY_DAYS == 0:
            channels = self.rng.choice(
                len(cat.CAMPAIGN_CHANNELS), size=len(cat.PROMOTED), p=[0.35, 0.15, 0.15, 0.10, 0.25]
            )
            end = date + dt.timedelta(days=cat.CAMPAIGN_LENGTH_DAYS - 1)
            for product, channel in enumerate(channels):
                number = len(self.campaigns) + 1
                code, channel_name = cat.PROMOTED[product], cat.CAMPAIGN_CHANNELS[channel]
                campaign = {
                    "campaign_id": f"CMP{number:05d}",
                    "campaign_name": f"{cat.PRODUCT_LABELS[code]} {date.isoformat()} {channel_name}",
                    "product_code": code,
                    "channel": channel_name,
                    "start_date": date,
                    "end_date": end,
                    "response_window_days": cat.RESPONSE_WINDOW_DAYS,
                }
                self.campaigns.append(campaign)
                self.campaign_number[campaign["campaign_id"]] = number - 1
                self.active_campaign[product] = number - 1
                rows.append(campaign)
        return rows

    @staticmethod
    def _campaigns_table(rows: list[dict]) -> pa.Table:
        schema = pa.schema(
            [
                ("campaign_id", pa.string()),
                ("campaign_name", pa.string()),
                ("product_code", pa.string()),
                ("channel", pa.string()),
                ("start_date", pa.date32()),
                ("end_date", pa.date32()),
                ("response_window_days", pa.int64()),
            ]
        )
        return pa.Table.from_pylist(rows, schema=schema)

    def _contacts(self, day: int, today: int, clock: DayClock) -> pa.Table:
        """The bank's own campaigns (before ``platform_from``): a random share of the eligible."""
        rng, pop, n = self.rng, self.pop, self.n
        eligible_base = self._active(day) & pop.consent
        parts = []
        for product in range(len(cat.PROMOTED)):
            number = self.active_campaign[product]
            campaign = self.campaigns[number]
            channel = campaign["channel"]
            eligible = (
                eligible_base
                & self._reachable(channel)
                & ~self.held[:, product]
                & (day - self.last_contact_day[:, product] > cat.RESPONSE_WINDOW_DAYS)
            )
            chosen = np.nonzero(eligible & (rng.random(n) < self.contact_rate))[0]
            k = len(chosen)
            control = rng.random(k) < self.control_share
            seconds = self._contact_seconds(channel, k)
            channel_code = cat.CAMPAIGN_CHANNELS.index(channel)
            parts.append((chosen, np.full(k, number), np.full(k, product), seconds, control, np.full(k, channel_code)))
        chosen, campaign, product, seconds, control, channel = (np.concatenate([p[i] for p in parts]) for i in range(6))
        order = np.lexsort((product, chosen, seconds))
        chosen, campaign, product, seconds, control, channel = (
            a[order] for a in (chosen, campaign, product, seconds, control, channel)
        )
        delivered = ~control  # the bank's own campaigns reach everyone they contact
        contact = self._record_contacts(
            day,
            today,
            chosen,
            campaign,
            product,
            seconds,
            control,
            delivered,
            channel,
            window=np.full(len(chosen), cat.RESPONSE_WINDOW_DAYS),
            list_rows=None,
            changes=None,
        )
        return self._contacts_table(contact, campaign, chosen, seconds, channel, control, delivered, None, clock)

    def _reachable(self, channel: str) -> np.ndarray:
        """Customers a channel can reach: an e-mail address, a phone, the app, or anyone at a branch."""
        pop = self.pop
        return {
            "email": pop.email_number >= 0,
            "sms": pop.phone_number >= 0,
            "phone": pop.phone_number >= 0,
            "push": (pop.digital > 0) & (pop.app_share > 0),
        }.get(channel, np.ones(self.n, dtype=bool))

    def _contact_seconds(self, channel: str, k: int) -> np.ndarray:
        office = channel in ("phone", "branch")
        return self.rng.integers(9 * 3600 if office else 8 * 3600, 19 * 3600 if office else 21 * 3600, k)

    def _record_contacts(
        self, day, today, chosen, campaign, product, seconds, control, delivered, channel, window, list_rows, changes
    ) -> np.ndarray:
        """Draw every contact's outcome from the truth, schedule conversions, log the truth; returns contact numbers.

        One uniform draw per contact: it converts when the draw falls under the treated
        probability (contact delivered) or the control probability (held out, or not
        delivered), so a customer who buys anyway buys in either arm.
        """
        rng = self.rng
        k = len(chosen)
        treated_p = self.propensity[chosen, product]
        control_p = control_probability(treated_p, self.effect[chosen, product])
        holds = self.held[chosen, product]  # bought in the meantime: cannot convert again
        treated_p = np.where(holds, 0.0, treated_p)
        control_p = np.where(holds, 0.0, control_p)
        converted = rng.random(k) < np.where(delivered, treated_p, control_p)
        lag = 1 + (rng.geometric(0.18, k) - 1) % window
        self.last_contact_day[chosen, product] = day
        contact = np.arange(self.next_contact, self.next_contact + k)
        self.next_contact += k
        for due in np.unique(lag[converted]):
            rows = converted & (lag == due)
            self.pending.setdefault(day + int(due), []).append(
                (contact[rows], chosen[rows], product[rows], campaign[rows])
            )
        # Intent-to-treat: the uplift of being listed for contact through this channel.
        if list_rows is None:  # the bank's own campaigns deliver every treated contact
            reach = np.ones(k)
        else:
            rate = np.array([DELIVERY_RATE[c] for c in cat.CAMPAIGN_CHANNELS])[channel]
            reach = self._reachable_rows(chosen, channel) * rate
        if changes is not None:  # engagement with delivered messages lands the same day
            self._engagement(chosen, campaign, contact, seconds, delivered, channel, treated_p, changes)
        self.contact_log.append(
            {
                "contact": contact,
                "customer": chosen,
                "campaign": campaign,
                "product": product,
                "contacted": today * 86400 + seconds,
                "control": control,
                "delivered": delivered,
                "channel": channel,
                "probability": treated_p,
                "control_probability": control_p,
                "uplift": reach * (treated_p - control_p),
                "converted": converted,
                "stage": self.stage[chosen].copy(),
                "list_row": np.asarray(list_rows if list_rows is not None else np.full(k, ""), dtype=object),
            }
        )
        return contact

    def _reachable_rows(self, chosen: np.ndarray, channel: np.ndarray) -> np.ndarray:
        reachable = np.zeros(len(chosen), dtype=bool)
        for code, name in enumerate(cat.CAMPAIGN_CHANNELS):
            rows = channel == code
            reachable[rows] = self._reachable(name)[chosen[rows]]
        return reachable & (self.stage[chosen] != cat.CHURNED)

    def _engagement(self, chosen, campaign, contact, seconds, delivered, channel, treated_p, changes) -> None:
        """Opened and clicked (e-mail, push, SMS), visited (a product page or the branch), same day."""
        rng = self.rng
        k = len(chosen)
        digital = self.pop.digital[chosen]
        message = np.isin(channel, [cat.CAMPAIGN_CHANNELS.index(c) for c in ("email", "push", "sms")])
        opened = delivered & message & (rng.random(k) < 0.25 + 0.45 * digital)
        clicked = opened & (rng.random(k) < 0.15 + 2.0 * treated_p)
        visited = delivered & (rng.random(k) < 0.05 + 0.4 * clicked + 1.5 * treated_p)
        for kind, rows, after in (("opened", opened, 300), ("clicked", clicked, 900), ("visited", visited, 1800)):
            at = np.minimum(seconds[rows] + after, 86399)
            changes.add_responses(contact[rows], chosen[rows], campaign[rows], at, kind, None)

    def _execute_lists(self, day, today, clock, changes, lists, catalogue) -> tuple[list[dict], pa.Table]:
        """Execute the platform's published list rows of the day before: contact or hold out each row.

        A treated row is contacted through its channel (delivered with the channel's rate
        when the customer is reachable and still a customer, else failed); a control row is
        recorded as held out. Each contact carries the list row it came from.
        """
        date = self.start_date + dt.timedelta(days=day)
        rows: list[dict] = []
        if lists is None or len(lists) == 0:
            return rows, self._contacts_table(
                *(np.zeros(0, dtype=np.int64),) * 5, np.zeros(0, dtype=bool), np.zeros(0, dtype=bool), [], clock
            )
        for campaign_id in sorted(set(lists["campaign_id"])):
            if campaign_id in self.campaign_number:
                continue
            spec = catalogue.get(campaign_id)
            if spec is None:
                raise ValueError(f"list rows name campaign {campaign_id!r}, which the catalogue does not hold")
            campaign = {
                "campaign_id": campaign_id,
                "campaign_name": spec["campaign_name"],
                "product_code": spec["product_code"],
                "channel": "multichannel",
                "start_date": spec["start_date"],
                "end_date": max(spec["end_date"], date),
                "response_window_days": int(spec["response_window_days"]),
            }
            self.campaign_number[campaign_id] = len(self.campaigns)
            self.campaigns.append(campaign)
            rows.append(campaign)
        customer_numbers = lists["customer_id"].str[1:].astype(np.int64).to_numpy() - 1
        known = (customer_numbers >= 0) & (customer_numbers < self.n)
        if not known.all():
            bad = lists.loc[~known, "customer_id"].head(3).tolist()
            raise ValueError(f"list rows name customers the bank does not have: {bad}")
        chosen = customer_numbers
        campaign = lists["campaign_id"].map(self.campaign_number).to_numpy(dtype=np.int64)
        product = lists["product_code"].map({c: i for i, c in enumerate(cat.PROMOTED)}).to_numpy(dtype=np.int64)
        channel = lists["channel"].map({c: i for i, c in enumerate(cat.CAMPAIGN_CHANNELS)}).to_numpy(dtype=np.int64)
        control = lists["is_control"].astype(bool).to_numpy()
        seconds = np.where(
            np.isin(channel, [cat.CAMPAIGN_CHANNELS.index("phone"), cat.CAMPAIGN_CHANNELS.index("branch")]),
            self.rng.integers(9 * 3600, 19 * 3600, len(chosen)),
            self.rng.integers(8 * 3600, 21 * 3600, len(chosen)),
        )
        rate = np.array([DELIVERY_RATE[c] for c in cat.CAMPAIGN_CHANNELS])[channel]
        delivered = ~control & self._reachable_rows(chosen, channel) & (self.rng.random(len(chosen)) < rate)
        order = np.lexsort((product, chosen, seconds))
        chosen, campaign, product, seconds, control, delivered, channel = (
            a[order] for a in (chosen, campaign, product, seconds, control, delivered, channel)
        )
        list_rows = lists["list_row_id"].to_numpy(dtype=object)[order]
        window = np.array([self.campaigns[c]["response_window_days"] for c in campaign], dtype=np.int64)
        contact = self._record_contacts(
            day, today, chosen, campaign, product, seconds, control, delivered, channel, window, list_rows, changes
        )
        table = self._contacts_table(contact, campaign, chosen, seconds, channel, control, delivered, list_rows, clock)
        return rows, table

    def _contacts_table(self, contact, campaign, chosen, seconds, channel, control, delivered, list_rows, clock):
        campaign_ids = pa.array([c["campaign_id"] for c in self.campaigns], type=pa.string())
        k = len(contact)
        status = np.where(control, None, np.where(delivered, "delivered", "failed"))
        return pa.table(
            {
                "contact_id": ids("CT", contact, 9),
                "campaign_id": campaign_ids.take(pa.array(campaign, type=pa.int64())),
                "customer_id": self.customer_ids.take(pa.array(chosen, type=pa.int64())),
                "contacted_at": clock.stamps(seconds),
                "channel": labels(cat.CAMPAIGN_CHANNELS, channel),
                "is_control": pa.array(control, type=pa.bool_()),
                "delivery_status": pa.array(list(status) if k else [], type=pa.string()),
                "list_row_id": pa.array(
                    [None] * k if list_rows is None else [v or None for v in list_rows], type=pa.string()
                ),
            }
        )

    def _conversion_amount(self, customer: np.ndarray, product: np.ndarray) -> np.ndarray:
        """What a conversion is worth in the product's own terms, in cents: a card's limit, a loan's
        amount, the sum placed on deposit or in the mandate."""
        n = self.n
        income = self.pop.income_cents[customer].astype(float)
        savings = np.maximum(np.where(self.account_open[customer + n], self.balance[customer + n], 0), 0)
        current = np.maximum(self.balance[customer], 0)
        placed = np.maximum(savings, current).astype(float)
        amount = np.select(
            [product == 0, product == 1, product == 2],
            [income * 2.0, self.loan_payment[customer] * 36.0, placed * 0.3],
            placed * 0.2,
        )
        return np.round(np.maximum(amount, 10_000)).astype(np.int64)

    # ---- 10. deliveries built from the day's changes ------------------------------------------
    def _responses_table(self, changes: _Changes, clock: DayClock) -> pa.Table:
        contact, customer, campaign, seconds, kind, amount = changes.response_rows()
        campaign_ids = pa.array([c["campaign_id"] for c in self.campaigns], type=pa.string())
        return pa.table(
            {
                "response_id": self._take_ids("response", "RS", 9, len(contact)),
                "contact_id": ids("CT", contact, 9),
                "customer_id": self.customer_ids.take(pa.array(customer, type=pa.int64())),
                "campaign_id": campaign_ids.take(pa.array(campaign, type=pa.int64())),
                "responded_at": clock.stamps(seconds),
                "response_type": labels(cat.RESPONSE_TYPES, kind),
                "amount": pc.if_else(
                    pa.array(amount < 0), pa.scalar(None, pa.decimal128(18, 2)), decimals(np.maximum(amount, 0))
                ),
            }
        )

    def _customers_table(self, changes: _Changes, clock: DayClock) -> pa.Table:
        pop = self.pop
        who, seconds = changes.customer_rows()
        customer_ids = self.customer_ids.take(pa.array(who))
        first = cat.FIRST_NAMES_F + cat.FIRST_NAMES_M
        first_index = pop.first_name[who] + len(cat.FIRST_NAMES_F) * pop.gender[who]
        first_name = labels(first, first_index)
        last_name = labels(cat.LAST_NAMES, pop.last_name[who])
        has_email = pop.email_number[who] >= 0
        email = pc.binary_join_element_wise(
            labels(tuple(name.lower() for name in first), first_index),
            ".",
            labels(tuple(name.lower() for name in cat.LAST_NAMES), pop.last_name[who]),
            pa.array(np.maximum(pop.email_number[who], 0)).cast(pa.string()),
            "@",
            labels(cat.EMAIL_DOMAINS, pop.email_domain[who], valid=has_email),
            "",
        )
        number = pop.national_number[who]
        national_id = pc.binary_join_element_wise(
            pc.utf8_lpad(pa.array(number // 10**6).cast(pa.string()), 3, "0"),
            pc.utf8_lpad(pa.array(number // 10**4 % 100).cast(pa.string()), 2, "0"),
            pc.utf8_lpad(pa.array(number % 10**4).cast(pa.string()), 4, "0"),
            "-",
        )
        phone_number = pop.phone_number[who]
        has_phone = phone_number >= 0
        phone = pc.binary_join_element_wise(
            "+49 15",
            pa.array(np.maximum(phone_number, 0) // 10**7).cast(pa.string()),
            " ",
            pc.utf8_lpad(pa.array(np.maximum(phone_number, 0) % 10**7, mask=~has_phone).cast(pa.string()), 7, "0"),
            "",
        )
        return pa.table(
            {
                "customer_id": customer_ids,
                "first_name": first_name,
                "last_name": last_name,
                "national_id": national_id,
                "email": email,
                "phone": phone,
                "birth_date": dates(pop.birth_epoch[who]),
                "gender": labels(("F", "M"), pop.gender[who]),
                "region": labels(cat.REGIONS, pop.region[who]),
                "occupation": labels(cat.OCCUPATIONS, pop.occupation[who]),
                "monthly_income": decimals(pop.income_cents[who]),
                "customer_since": dates(pop.since_epoch[who]),
                "has_marketing_consent": pa.array(pop.consent[who], type=pa.bool_()),
                "updated_at": clock.stamps(seconds),
            }
        )

    def _accounts_table(self, today: int, changes: _Changes, clock: DayClock) -> pa.Table:
        slots, seconds = changes.account_rows_today()
        closed = changes.closed_slots()
        is_closed = np.isin(slots, closed)
        return pa.table(
            {
                "account_id": self.account_ids.take(pa.array(slots)),
                "customer_id": self.customer_ids.take(pa.array(slots % self.n)),
                "account_type": labels(cat.ACCOUNT_TYPES, (slots >= self.n).astype(np.int32)),
                "opened_on": dates(self.account_opened[slots]),
                "closed_on": dates(np.full(len(slots), today), valid=is_closed),
                "updated_at": clock.stamps(seconds),
            }
        )

    def _holdings_table(self, today: int, changes: _Changes, clock: DayClock) -> pa.Table:
        holding, customer, product, opened, closed, seconds = changes.holding_rows_today()
        return pa.table(
            {
                "holding_id": ids("H", holding, 9),
                "customer_id": self.customer_ids.take(pa.array(customer)),
                "product_code": labels(cat.PRODUCTS, product),
                "opened_on": dates(opened),
                "closed_on": dates(np.full(len(holding), today), valid=closed),
                "updated_at": clock.stamps(seconds),
            }
        )

    def _balances_table(self, today: int) -> pa.Table:
        slots = np.nonzero(self.account_open)[0]
        return pa.table(
            {
                "account_id": self.account_ids.take(pa.array(slots)),
                "balance_date": dates(np.full(len(slots), today)),
                "balance": decimals(self.balance[slots]),
            }
        )

    # ---- ground truth --------------------------------------------------------------------
    def contact_truth(self) -> pa.Table:
        """Every contact with its true probability and drawn outcome."""
        log = {key: np.concatenate([part[key] for part in self.contact_log]) for key in self.contact_log[0]}
        order = np.argsort(log["contact"], kind="stable")
        log = {key: values[order] for key, values in log.items()}
        responded = np.full(len(log["contact"]), -1, dtype=np.int64)
        if self.response_log:
            contact = np.concatenate([r[0] for r in self.response_log])
            stamp = np.concatenate([r[1] for r in self.response_log])
            responded[np.searchsorted(log["contact"], contact)] = stamp
        campaign_ids = pa.array([c["campaign_id"] for c in self.campaigns], type=pa.string())
        timestamps = pa.timestamp("s", tz="UTC")
        return pa.table(
            {
                "contact_id": ids("CT", log["contact"], 9),
                "customer_id": self.customer_ids.take(pa.array(log["customer"])),
                "campaign_id": campaign_ids.take(pa.array(log["campaign"])),
                "product_code": labels(cat.PROMOTED, log["product"]),
                "contacted_at": pa.array(log["contacted"], type=pa.int64()).cast(timestamps),
                "is_control": pa.array(log["control"], type=pa.bool_()),
                "channel": labels(cat.CAMPAIGN_CHANNELS, log["channel"]),
                "list_row_id": pa.array([v or None for v in log["list_row"]], type=pa.string()),
                "delivered": pa.array(log["delivered"], type=pa.bool_()),
                "true_probability": pa.array(log["probability"], type=pa.float64()),
                "true_probability_control": pa.array(log["control_probability"], type=pa.float64()),
                "true_uplift": pa.array(log["uplift"], type=pa.float64()),
                "converted": pa.array(log["converted"], type=pa.bool_()),
                "lifecycle_stage": labels(cat.STAGES, log["stage"]),
                "responded_at": pa.array(responded, type=pa.int64(), mask=responded < 0).cast(timestamps),
            }
        )

    def customer_truth(self, last_day: int) -> pa.Table:
        """Every customer's hidden stage and true propensities at the end of the last day."""
        columns = {
            "customer_id": self.customer_ids,
            "as_of_date": dates(np.full(self.n, self.start_epoch + last_day)),
            "lifecycle_stage": labels(cat.STAGES, self.stage),
        }
        for product, code in enumerate(cat.PROMOTED):
            columns[f"true_probability_{code}"] = pa.array(self.propensity[:, product])
        for product, code in enumerate(cat.PROMOTED):
            columns[f"holds_{code}"] = pa.array(self.held[:, product])
        return pa.table(columns)


class _Changes:
    """Rows that one day delivers for master-data sources and responses."""

    def __init__(self):
        self.customers: list[tuple] = []
        self.account_rows: list[tuple] = []
        self.closed_accounts: list[np.ndarray] = []
        self.holding_rows: list[tuple] = []
        self.responses: list[tuple] = []
        self._opened: list[tuple] = []

    def customer_rows(self):
        if not self.customers:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int32)
        who = np.concatenate([c[0] for c in self.customers])
        seconds = np.concatenate([c[1] for c in self.customers])
        order = np.lexsort((who, seconds))
        return who[order], seconds[order]

    def account_rows_today(self):
        if not self.account_rows:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int32)
        slots = np.concatenate([a[0] for a in self.account_rows]).astype(np.int64)
        seconds = np.concatenate([a[1] for a in self.account_rows])
        order = np.lexsort((slots, seconds))
        return slots[order], seconds[order]

    def closed_slots(self) -> np.ndarray:
        return np.concatenate(self.closed_accounts) if self.closed_accounts else np.zeros(0, dtype=np.int64)

    def open_holdings(self, bank: SyntheticBank, customer, product, seconds, today) -> None:
        k = len(customer)
        if k == 0:
            return
        holding = np.arange(bank.next_holding, bank.next_holding + k)
        bank.next_holding += k
        bank.held[customer, product] = True
        bank.holding_id[customer, product] = holding
        bank.holding_opened[customer, product] = today
        self.holding_rows.append((holding, customer, product, np.full(k, today), np.zeros(k, dtype=bool), seconds))
        self._opened.append((customer, product, seconds))

    def close_holdings(self, bank: SyntheticBank, customer, product, seconds) -> None:
        if len(customer) == 0:
            return
        bank.held[customer, product] = False
        self.holding_rows.append(
            (
                bank.holding_id[customer, product],
                customer,
                product,
                bank.holding_opened[customer, product],
                np.ones(len(customer), dtype=bool),
                seconds,
            )
        )

    def opened_today(self):
        if not self._opened:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty, empty
        return tuple(np.concatenate([o[i] for o in self._opened]) for i in range(3))

    def holding_rows_today(self):
        if not self.holding_rows:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty, empty, empty, np.zeros(0, dtype=bool), empty
        columns = [np.concatenate([h[i] for h in self.holding_rows]) for i in range(6)]
        order = np.lexsort((columns[0], columns[5]))
        return tuple(c[order] for c in columns)

    def add_responses(self, contact, customer, campaign, seconds, kind: str, amount_cents) -> None:
        """Responses of one kind (``catalogue.RESPONSE_TYPES``); ``amount_cents`` None: no amount."""
        k = len(contact)
        amount = np.full(k, -1, dtype=np.int64) if amount_cents is None else np.asarray(amount_cents, dtype=np.int64)
        code = np.full(k, cat.RESPONSE_TYPES.index(kind), dtype=np.int64)
        self.responses.append((contact, customer, campaign, seconds, code, amount))

    def response_rows(self):
        """Contact, customer, campaign, seconds, response type code and amount (cents, -1 none), by time."""
        if not self.responses:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty, empty, empty, empty, empty
        columns = [np.concatenate([r[i] for r in self.responses]) for i in range(6)]
        order = np.lexsort((columns[4], columns[0], columns[3]))
        return tuple(c[order] for c in columns)
