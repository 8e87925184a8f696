"""Marshmallow schemas, one module per resource, mirroring ``bookstore.models``."""
