"""The release version: pyproject.toml reads it, the OpenAPI document and ``GET /v1`` show it."""

__version__ = "0.1.0"
