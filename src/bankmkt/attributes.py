"""The bank's own customer attributes: the declaration that carries them to features and models.

A bank knows more about its customers than the core profile of the landing contract
(marital status, education, a credit limit, whether the customer defaulted...). Such
attributes land in the ``customer_attributes`` source, one row per customer, attribute
and change, and each must be declared in ``DATA_DIR/reference/customer_attributes.csv``:

==============  ==========================================================================
column          meaning
==============  ==========================================================================
attribute       lower-case name (``marital``, ``credit_limit``); the feature is ``attr_<name>``
kind            ``category`` or ``number``
categories      a category's values, ``;``-separated (``single;married;divorced``); empty for
                a number. ``unknown`` is always a category of its own: an empty value, or the
                value ``unknown``, is kept as it, never imputed
description     what the attribute says (shown in the feature store and the docs)
==============  ==========================================================================

Declared attributes reach the Feast view ``customer_attributes`` (one field per attribute:
a category as its code, the position in ``unknown`` + categories; a number as a float) and
the propensity and churn models (a category as a LightGBM categorical feature), without
code changes. The contract check refuses an undeclared attribute, a number that does not
parse and a category that is not declared (rule ``attribute_value``).
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

from bankmkt.runtime import write_atomically

FEATURE_PREFIX = "attr_"
UNKNOWN = "unknown"
KINDS = ("category", "number")
COLUMNS = ("attribute", "kind", "categories", "description")
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
# A feature store field per attribute: a bank with more than this is probably mapping rows as columns.
MAX_ATTRIBUTES = 200


class AttributeDeclarationError(ValueError):
    """The attribute declaration file is malformed; the message names the row and column."""


@dataclass(frozen=True)
class AttributeSpec:
    attribute: str
    kind: str
    categories: tuple[str, ...] = ()
    description: str = ""

    @property
    def feature(self) -> str:
        """The feature's name: ``attr_<attribute>``."""
        return FEATURE_PREFIX + self.attribute

    @property
    def is_category(self) -> bool:
        return self.kind == "category"

    @property
    def codes(self) -> dict[str, int]:
        """A category's code per value: ``unknown`` is 0, the declared categories 1, 2, ..."""
        return {UNKNOWN: 0, **{value: i + 1 for i, value in enumerate(self.categories)}}


def declaration_path(settings) -> Path:
    return settings.customer_attributes_file


def parse_declaration(text: str, where: str = "customer_attributes.csv") -> list[AttributeSpec]:
    """The declared attributes of a declaration file's text; every problem named by row and column."""
    reader = csv.DictReader(io.StringIO(text))
    header = reader.fieldnames or []
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise AttributeDeclarationError(f"{where}: the header lacks {missing} (expected {','.join(COLUMNS)})")
    problems: list[str] = []
    specs: list[AttributeSpec] = []
    seen: set[str] = set()
    for row_number, row in enumerate(reader, start=1):
        name = (row["attribute"] or "").strip()
        kind = (row["kind"] or "").strip()
        categories = tuple(c.strip() for c in (row["categories"] or "").split(";") if c.strip())
        if not NAME_PATTERN.match(name):
            problems.append(
                f"row {row_number}, column attribute: {name!r} is not a lower-case name ({NAME_PATTERN.pattern})"
            )
        elif name in seen:
            problems.append(f"row {row_number}, column attribute: {name!r} is declared twice")
        seen.add(name)
        if kind not in KINDS:
            problems.append(f"row {row_number}, column kind: {kind!r} is not one of {list(KINDS)}")
        elif kind == "category" and not categories:
            problems.append(f"row {row_number}, column categories: a category needs its values (a;b;c)")
        elif kind == "number" and categories:
            problems.append(
                f"row {row_number}, column categories: a number has no categories (found {row['categories']!r})"
            )
        repeated = sorted({c for c in categories if categories.count(c) > 1})
        if repeated:
            problems.append(f"row {row_number}, column categories: {repeated} repeated")
        specs.append(
            AttributeSpec(name, kind, tuple(c for c in categories if c != UNKNOWN), (row["description"] or "").strip())
        )
    if len(specs) > MAX_ATTRIBUTES:
        problems.append(f"{len(specs)} attributes declared; at most {MAX_ATTRIBUTES}")
    if problems:
        raise AttributeDeclarationError(f"{where}: {len(problems)} problem(s):\n  " + "\n  ".join(problems))
    return specs


def load_declaration(settings) -> list[AttributeSpec]:
    """The bank's declared attributes; none when the file does not exist."""
    path = declaration_path(settings)
    if not path.is_file():
        return []
    return parse_declaration(path.read_text(encoding="utf-8"), str(path))


def declaration_text(specs: list[AttributeSpec]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for spec in specs:
        writer.writerow([spec.attribute, spec.kind, ";".join(spec.categories), spec.description])
    return out.getvalue()


def write_declaration(settings, specs: list[AttributeSpec]) -> Path:
    """Write (replace) the declaration file; checked as it would be read."""
    text = declaration_text(specs)
    parse_declaration(text)
    path = declaration_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, lambda partial: partial.write_text(text, encoding="utf-8"))
    return path


def feature_columns(specs: list[AttributeSpec]) -> list[str]:
    return [spec.feature for spec in specs]


def categorical_features(specs: list[AttributeSpec]) -> list[str]:
    return [spec.feature for spec in specs if spec.is_category]
