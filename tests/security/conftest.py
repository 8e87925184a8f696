"""Callers and data shared by the OWASP API Security Top 10 (2023) tests."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from flask import Flask

from tests.ordering import Caller, caller


@pytest.fixture
def alice(make) -> Caller:
    return caller(make)


@pytest.fixture
def bob(make) -> Caller:
    return caller(make)


@pytest.fixture
def admin(make) -> Caller:
    return caller(make, "admin")


@pytest.fixture
def book(make):
    return make.book(stock=50)


def operations(app: Flask) -> Iterator[tuple[str, str]]:
    """Every (method, rule) the app routes, HEAD and OPTIONS aside."""
    for rule in app.url_map.iter_rules():
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            yield method, rule.rule


def fill(rule: str, value: int | str = 1) -> str:
    """A concrete URL for ``rule``: every path parameter set to ``value``."""
    return re.sub(r"<(?:\w+:)?\w+>", str(value), rule)
