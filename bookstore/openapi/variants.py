"""Request and response variants of the resource schemas, as the document names them.

One marshmallow schema serves both directions in the code; the document splits it, so a
generator gets types it can use: ``BookInput`` holds only what a client may send (and what
it must), ``Book`` holds what a response carries, every always-present field required.
``PartialBook`` is the response of operations that take ``fields=``, where only ``id`` and
``_links`` are sure to be there.
"""

from __future__ import annotations

import copy
from typing import Any

from marshmallow import Schema, fields, missing

from bookstore.pagination import ALWAYS_FIELDS
from bookstore.schemas.common import SOMETIMES

_variants: dict[tuple[type[Schema], str], type[Schema]] = {}


def base_name(schema: type[Schema] | Schema) -> str:
    cls = schema if isinstance(schema, type) else type(schema)
    return cls.__name__.removesuffix("Schema")


def _instance(schema: type[Schema] | Schema | Any) -> Schema:
    if callable(schema) and not isinstance(schema, type | Schema):
        schema = schema()  # a lambda naming a schema defined later
    return schema() if isinstance(schema, type) else schema


def input_schema(schema: type[Schema] | Schema) -> type[Schema]:
    """What a client sends: load fields only; ``required`` as loading enforces it."""
    instance = _instance(schema)
    partial = instance.partial is True
    key = (type(instance), "input-partial" if partial else "input")
    if key not in _variants:
        name = base_name(instance)
        name = name if name.endswith("Input") else f"{name}Input"
        attrs = {
            attr: _convert(field, required=field.required and not partial, direction="input")
            for attr, field in instance.load_fields.items()
        }
        _variants[key] = type(name, (Schema,), attrs)
    return _variants[key]


def output_schema(schema: type[Schema] | Schema, *, sparse: bool = False) -> type[Schema]:
    """What a response carries: dump fields, required unless marked as sometimes absent."""
    instance = _instance(schema)
    key = (type(instance), "sparse" if sparse else "output")
    if key not in _variants:
        name = f"Partial{base_name(instance)}" if sparse else base_name(instance)
        attrs = {}
        for attr, field in instance.dump_fields.items():
            present = not field.metadata.get(SOMETIMES)
            if sparse:
                present = present and (field.data_key or attr) in ALWAYS_FIELDS
            attrs[attr] = _convert(field, required=present, direction="output")
        _variants[key] = type(name, (Schema,), attrs)
    return _variants[key]


def _nested(schema: Any, direction: str) -> type[Schema]:
    return input_schema(schema) if direction == "input" else output_schema(schema)


def _convert(field: fields.Field, *, required: bool, direction: str) -> fields.Field:
    metadata = {k: v for k, v in field.metadata.items() if k != SOMETIMES}
    common: dict[str, Any] = {
        "required": required,
        "allow_none": field.allow_none,
        "data_key": field.data_key,
        "metadata": metadata,
    }
    if isinstance(field, fields.Nested):
        return fields.Nested(_nested(field.nested, direction), **common)
    if isinstance(field, fields.List):
        inner = _convert(field.inner, required=False, direction=direction)
        converted: fields.Field = fields.List(inner, validate=field.validate, **common)
        return converted
    if isinstance(field, fields.Dict) and field.value_field is not None:
        values = _convert(field.value_field, required=False, direction=direction)
        return fields.Dict(keys=fields.String(), values=values, **common)
    out = copy.copy(field)
    out.required = required
    out.metadata = metadata
    out.dump_only = out.load_only = False
    if direction == "output":
        out.load_default = missing
    return out
