"""Fixed vocabularies and parameters of the synthetic bank.

Everything here is a documented constant (see docs/synthetic_bank.md); the
simulation in :mod:`bankmkt.generator.bank` only combines them with random draws.
"""

from __future__ import annotations

import numpy as np

# ---- landing sources, in the order a day is written ----------------------------------
SOURCES = (
    "customers",
    "accounts",
    "daily_balances",
    "transactions",
    "product_holdings",
    "digital_events",
    "campaigns",
    "campaign_contacts",
    "campaign_responses",
    "complaints",
    "satisfaction_surveys",
    "customer_attributes",
)

# ---- hidden life-cycle stages ----------------------------------------------------------
STAGES = ("new", "growing", "mature", "declining", "dormant", "churned")
NEW, GROWING, MATURE, DECLINING, DORMANT, CHURNED = range(len(STAGES))
NEW_STAGE_DAYS = 90  # a customer is "new" for the first 90 days of the relationship

# Stage mix of the day-1 base (customers past their first 90 days).
BASE_STAGE_MIX = {GROWING: 0.20, MATURE: 0.50, DECLINING: 0.15, DORMANT: 0.15}
# Where a "new" customer goes after 90 days.
AFTER_NEW_MIX = {GROWING: 0.70, MATURE: 0.20, DECLINING: 0.05, DORMANT: 0.05}
# Daily transition probabilities (from, to); the rest of each row stays put.
DAILY_TRANSITIONS = {
    (GROWING, MATURE): 1 / 200,
    (GROWING, DECLINING): 1 / 1000,
    (MATURE, GROWING): 1 / 1000,
    (MATURE, DECLINING): 1 / 800,
    (DECLINING, MATURE): 1 / 250,
    (DECLINING, DORMANT): 1 / 150,
    (DECLINING, CHURNED): 1 / 900,
    (DORMANT, GROWING): 1 / 700,
    (DORMANT, CHURNED): 1 / 1200,
}
# A complaint in the last 90 days multiplies the moves towards decline and churn.
COMPLAINT_DECLINE_FACTOR = 4.0
COMPLAINT_CHURN_FACTOR = 2.0

# Stage effects on behaviour:   new  growing mature declining dormant churned
STAGE_SPEND_ACTIVITY = np.array([0.80, 1.25, 1.00, 0.55, 0.05, 0.0])
STAGE_DIGITAL_ACTIVITY = np.array([1.20, 1.20, 1.00, 0.60, 0.05, 0.0])
STAGE_SALARY_DEPOSITED = np.array([1.00, 1.00, 1.00, 0.50, 0.05, 0.0])
STAGE_SPEND_RATIO = np.array([0.90, 0.75, 1.00, 0.80, 0.05, 0.0])
STAGE_SAVING_FACTOR = np.array([0.80, 1.50, 1.00, 0.00, 0.00, 0.0])
STAGE_COMPLAINT_FACTOR = np.array([1.30, 0.80, 1.00, 2.00, 0.30, 0.0])
STAGE_SATISFACTION = np.array([0.30, 0.50, 0.00, -1.50, -0.80, 0.0])

# ---- customers -----------------------------------------------------------------------
# Adult retail age bands (lower, upper, share) for the base and for newcomers.
BASE_AGE_BANDS = (
    (18, 25, 0.10),
    (25, 35, 0.16),
    (35, 45, 0.17),
    (45, 55, 0.17),
    (55, 65, 0.16),
    (65, 75, 0.13),
    (75, 91, 0.11),
)
NEW_AGE_BANDS = (
    (18, 25, 0.30),
    (25, 35, 0.30),
    (35, 45, 0.17),
    (45, 55, 0.10),
    (55, 65, 0.07),
    (65, 75, 0.04),
    (75, 91, 0.02),
)

OCCUPATIONS = ("employee", "self_employed", "retired", "student", "unemployed")
EMPLOYEE, SELF_EMPLOYED, RETIRED, STUDENT, UNEMPLOYED = range(len(OCCUPATIONS))
# Occupation mix by age band (upper age exclusive): employee, self_employed, retired, student, unemployed
OCCUPATION_BY_AGE = (
    (23, (0.33, 0.04, 0.00, 0.55, 0.08)),
    (30, (0.70, 0.08, 0.00, 0.12, 0.10)),
    (60, (0.78, 0.13, 0.02, 0.00, 0.07)),
    (67, (0.45, 0.12, 0.40, 0.00, 0.03)),
    (200, (0.02, 0.05, 0.93, 0.00, 0.00)),
)
# Log-normal monthly net income: median (EUR) and sigma of the log, per occupation.
INCOME_MEDIAN = np.array([2300.0, 2600.0, 1350.0, 650.0, 850.0])
INCOME_SIGMA = np.array([0.45, 0.85, 0.45, 0.50, 0.35])

# Daily probability of each profile change of an active customer (a declining
# customer withdraws consent three times as often).
PROFILE_CHANGE_DAILY = {
    "income": 1 / 720,
    "region": 1 / 2000,
    "email": 1 / 1500,
    "phone": 1 / 2000,
    "consent_withdrawn": 1 / 3000,
    "consent_given": 1 / 4000,
}

REGIONS = ("capital", "north", "south", "east", "west", "central", "coast", "islands")
REGION_SHARE = (0.28, 0.14, 0.13, 0.11, 0.12, 0.10, 0.08, 0.04)

FIRST_NAMES_F = (
    "Anna",
    "Maria",
    "Sofia",
    "Laura",
    "Julia",
    "Emma",
    "Clara",
    "Elena",
    "Sara",
    "Lucia",
    "Marta",
    "Paula",
    "Nora",
    "Alice",
    "Ines",
    "Eva",
    "Rita",
    "Helena",
    "Irene",
    "Teresa",
    "Carla",
    "Vera",
    "Lena",
    "Mia",
    "Olga",
    "Rosa",
    "Diana",
    "Hanna",
    "Ida",
    "Zoe",
)
FIRST_NAMES_M = (
    "John",
    "David",
    "Luca",
    "Marco",
    "Peter",
    "Paul",
    "Daniel",
    "Martin",
    "Thomas",
    "Jan",
    "Pedro",
    "Miguel",
    "Andre",
    "Hugo",
    "Leon",
    "Felix",
    "Oscar",
    "Victor",
    "Adam",
    "Samuel",
    "Tomas",
    "Ivan",
    "Karl",
    "Noah",
    "Elias",
    "Jonas",
    "Rui",
    "Bruno",
    "Simon",
    "Filip",
)
LAST_NAMES = (
    "Silva",
    "Santos",
    "Novak",
    "Horvat",
    "Schmidt",
    "Muller",
    "Rossi",
    "Bianchi",
    "Garcia",
    "Martin",
    "Dubois",
    "Janssen",
    "Peeters",
    "Nielsen",
    "Hansen",
    "Larsen",
    "Kowalski",
    "Nowak",
    "Popescu",
    "Ionescu",
    "Papadopoulos",
    "Costa",
    "Ferreira",
    "Pereira",
    "Oliveira",
    "Smith",
    "Brown",
    "Wilson",
    "Taylor",
    "Walker",
    "Murphy",
    "Kelly",
    "Fischer",
    "Weber",
    "Wagner",
    "Becker",
    "Keller",
    "Moreau",
    "Laurent",
    "Lefebvre",
    "Conti",
    "Ricci",
    "Marino",
    "Lopez",
    "Sanchez",
    "Ramos",
    "Blom",
    "Berg",
    "Lind",
    "Virtanen",
)
EMAIL_DOMAINS = ("mail.example", "post.example", "inbox.example", "webmail.example")

# ---- accounts, transactions ------------------------------------------------------------
ACCOUNT_TYPES = ("current", "savings")
CURRENT, SAVINGS = 0, 1

CATEGORIES = (
    "salary",
    "pension",
    "transfer_in",
    "groceries",
    "dining",
    "travel",
    "fuel",
    "utilities",
    "shopping",
    "health",
    "entertainment",
    "cash",
    "transfer_out",
    "loan_repayment",
    "investment",
)
CAT = {name: i for i, name in enumerate(CATEGORIES)}
# Debit categories that count as the customer's spend in the ground-truth features.
SPEND_CATEGORIES = (
    "groceries",
    "dining",
    "travel",
    "fuel",
    "utilities",
    "shopping",
    "health",
    "entertainment",
    "cash",
)
TRAVEL_DINING = ("travel", "dining")

# Discretionary spend: category, base log-odds of frequency, typical amount (EUR),
# share of card payments made online at full digital adoption.
DISCRETIONARY = (
    "groceries",
    "dining",
    "travel",
    "fuel",
    "shopping",
    "health",
    "entertainment",
    "cash",
    "transfer_out",
)
DISCRETIONARY_LOGIT = np.array([1.2, 0.6, -1.6, 0.0, 0.4, -0.6, -0.2, -0.2, -0.8])
DISCRETIONARY_AMOUNT = np.array([38.0, 28.0, 180.0, 55.0, 65.0, 40.0, 30.0, 90.0, 160.0])
ONLINE_SHARE = np.array([0.08, 0.10, 0.60, 0.00, 0.45, 0.10, 0.40, 0.0, 0.0])
# Monthly spend as a share of income by hidden need: saver, spender, borrower, investor.
NEED_SPEND_RATIO = np.array([0.55, 0.95, 1.05, 0.60])
NEED_SAVING_RATE = np.array([0.15, 0.02, 0.00, 0.10])
NEEDS = ("saver", "spender", "borrower", "investor")

TX_CHANNELS = ("card_pos", "card_online", "atm", "mobile", "web", "branch", "standing_order")
CH = {name: i for i, name in enumerate(TX_CHANNELS)}
DIRECTIONS = ("credit", "debit")

# ---- products and campaigns --------------------------------------------------------------
PRODUCTS = ("credit_card", "personal_loan", "term_deposit", "wealth_management", "mortgage")
PROMOTED = PRODUCTS[:4]
PRODUCT_LABELS = {
    "credit_card": "Credit card",
    "personal_loan": "Personal loan",
    "term_deposit": "Term deposit",
    "wealth_management": "Wealth management",
}
CAMPAIGN_CHANNELS = ("email", "sms", "phone", "branch", "push")
CAMPAIGN_EVERY_DAYS = 14
CAMPAIGN_LENGTH_DAYS = 14
RESPONSE_WINDOW_DAYS = 14
# What a contact can bring back (campaign_responses.response_type), in the order of a funnel.
RESPONSE_TYPES = ("opened", "clicked", "visited", "converted")
ORGANIC_DAILY_FACTOR = 1 / 1500  # anyone not holding a product opens it with p / 1500 a day
# Daily probability that a held product closes on its own (term ends, cancelled).
HOLDING_CLOSE_DAILY = np.array([1 / 2500, 1 / 900, 1 / 400, 1 / 2000, 1 / 4000])
MORTGAGE_OPEN_DAILY = 1 / 6000

# ---- digital, complaints, surveys ------------------------------------------------------------
DIGITAL_CHANNELS = ("mobile_app", "web")
EVENT_TYPES = ("login", "view_product", "start_application", "payment", "support_chat")
SESSIONS_PER_DAY = 0.45  # at full adoption and normal activity
COMPLAINT_CATEGORIES = ("fees", "service", "card", "app", "loan", "other")
COMPLAINT_CHANNELS = ("branch", "phone", "web", "mobile_app")
COMPLAINT_DAILY = 1 / 1500
SURVEY_DAILY = 1 / 900
SURVEY_AFTER_COMPLAINT_FACTOR = 15.0
