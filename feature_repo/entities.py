"""Entities of the bank's feature store."""

from feast import Entity, ValueType

customer = Entity(
    name="customer",
    join_keys=["customer_id"],
    value_type=ValueType.STRING,
    description="A retail bank customer (customer number C + 7 digits).",
)
