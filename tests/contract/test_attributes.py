"""The contract keeps what real extracts carry: the bank's own attributes (declared, typed), unknown values
(empty, kept as unknown), a contact's attributes and experiments whose arms share one control."""

from __future__ import annotations

from datetime import date

import pytest

from bankmkt.attributes import AttributeDeclarationError, AttributeSpec, parse_declaration, write_declaration
from bankmkt.contract.check import check_landing_batch
from bankmkt.contract.schema import load_contract

DAY1 = date(2024, 1, 1)

SPECS = [
    AttributeSpec("marital", "category", ("single", "married", "divorced"), "Marital status"),
    AttributeSpec("credit_limit", "number", (), "Credit card limit (EUR)"),
]


def _attribute(customer: str, attribute: str, value: str) -> dict[str, str]:
    return {"customer_id": customer, "attribute": attribute, "value": value, "valid_from": "2024-01-01T00:00:00Z"}


def _write_day_with_attributes(landing, rows):
    for source in load_contract():
        landing.write(source, DAY1, rows if source == "customer_attributes" else None)


def test_declared_attributes_pass_and_unknown_is_an_empty_value_or_the_word(landing):
    write_declaration(landing.settings, SPECS)
    rows = [
        _attribute("C0000001", "marital", "married"),
        _attribute("C0000002", "marital", ""),
        _attribute("C0000001", "credit_limit", "2500.50"),
        _attribute("C0000002", "credit_limit", ""),
        {**_attribute("C0000002", "marital", "unknown"), "valid_from": "2024-01-01T06:00:00Z"},
    ]
    _write_day_with_attributes(landing, rows)
    report = check_landing_batch(DAY1, landing.settings)
    assert report.passed, report.message()


def test_an_undeclared_attribute_a_bad_number_and_a_bad_category_are_named_by_row(landing):
    write_declaration(landing.settings, SPECS)
    rows = [
        _attribute("C0000001", "marital", "married"),
        _attribute("C0000001", "shoe_size", "42"),  # row 2: not declared
        _attribute("C0000002", "credit_limit", "2,500"),  # row 3: not a number
        _attribute("C0000002", "marital", "widowed"),  # row 4: not a declared category
    ]
    _write_day_with_attributes(landing, rows)
    report = check_landing_batch(DAY1, landing.settings)
    found = {(v.rule, v.column, tuple(v.rows)) for v in report.violations}
    assert found == {
        ("attribute_value", "attribute", (2,)),
        ("attribute_value", "value", (3,)),
        ("attribute_value", "value", (4,)),
    }
    message = report.message()
    assert "'shoe_size'" in message and "not declared in reference/customer_attributes.csv" in message
    assert "credit_limit is a number" in message and "marital='widowed'" in message
    assert "unknown, single, married, divorced" in message


def test_attributes_without_a_declaration_are_refused(landing):
    _write_day_with_attributes(landing, [_attribute("C0000001", "marital", "married")])
    report = check_landing_batch(DAY1, landing.settings)
    assert [(v.rule, v.rows) for v in report.violations] == [("attribute_value", [1])]
    assert "declared: none" in report.message()


def test_a_malformed_declaration_names_row_and_column(landing):
    with pytest.raises(AttributeDeclarationError, match=r"row 2, column kind: 'text' is not one of"):
        parse_declaration("attribute,kind,categories,description\nmarital,category,a;b,x\nnote,text,,y\n")
    with pytest.raises(AttributeDeclarationError, match=r"row 1, column categories: a category needs its values"):
        parse_declaration("attribute,kind,categories,description\nmarital,category,,x\n")
    landing.settings.customer_attributes_file.parent.mkdir(parents=True, exist_ok=True)
    landing.settings.customer_attributes_file.write_text("name,type\nmarital,category\n")
    _write_day_with_attributes(landing, [_attribute("C0000001", "marital", "married")])
    message = check_landing_batch(DAY1, landing.settings).message()
    assert "the declaration cannot be read" in message and "the header lacks" in message


def test_unknown_profile_values_and_contact_attributes_are_accepted(landing):
    customers = landing.rows("customers", DAY1)
    customers[1].update(gender="", occupation="", region="", monthly_income="", birth_date="")
    contacts = landing.rows("campaign_contacts", DAY1)
    for row in contacts:
        row.update(
            channel="",
            attempt_number="3",
            previous_campaign_contacts="1",
            days_since_previous_campaign="",
            previous_campaign_outcome="failure",
        )
    for source in load_contract():
        rows = {"customers": customers, "campaign_contacts": contacts}.get(source)
        landing.write(source, DAY1, rows)
    report = check_landing_batch(DAY1, landing.settings)
    assert report.passed, report.message()


def test_a_contact_attribute_out_of_its_rules_is_named(landing):
    contacts = landing.rows("campaign_contacts", DAY1)
    contacts[0].update(attempt_number="0", previous_campaign_outcome="maybe")
    for source in load_contract():
        landing.write(source, DAY1, contacts if source == "campaign_contacts" else None)
    found = {(v.rule, v.column) for v in check_landing_batch(DAY1, landing.settings).violations}
    assert found == {("range", "attempt_number"), ("allowed_values", "previous_campaign_outcome")}
