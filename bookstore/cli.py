"""Command-line tasks: ``flask seed``, ``flask idempotency purge`` and friends."""

from __future__ import annotations

import time

import click
from flask import Flask

from bookstore.extensions import db


@click.command("seed")
@click.option(
    "--books",
    "book_count",
    type=click.IntRange(min=1),
    default=None,
    help="Bulk-load this many extra books (COPY on PostgreSQL).",
)
@click.option("--force", is_flag=True, help="Load the sample catalog even if books exist.")
def seed_command(book_count: int | None, force: bool) -> None:
    """Load the sample catalog, or bulk-load N books with --books N."""
    from bookstore.services import seed

    if book_count is None:
        if not force and not seed.catalog_is_empty():
            click.echo("The catalog already has books; sample data not loaded (use --force).")
            return
        seed.seed_sample()
        click.echo("Loaded the sample catalog: 50 authors, 300 books, 20 magazines.")
        return
    started = time.perf_counter()
    with click.progressbar(
        length=book_count, label="Loading books", file=click.get_text_stream("stderr")
    ) as bar:
        seed.bulk_books(book_count, progress=bar.update)
    elapsed = time.perf_counter() - started
    click.echo(f"Loaded {book_count} books in {elapsed:.1f}s ({book_count / elapsed:,.0f}/s).")
    if db.engine.dialect.name == "postgresql":
        db.session.execute(db.text("ANALYZE books"))
        db.session.commit()


@click.group("idempotency")
def idempotency_group() -> None:
    """Idempotency keys."""


@idempotency_group.command("purge")
def purge_command() -> None:
    """Delete idempotency keys past their expiry (IDEMPOTENCY_TTL_SECONDS)."""
    from bookstore.services.idempotency import purge_expired

    click.echo(f"Deleted {purge_expired()} expired idempotency keys.")


def register_cli(app: Flask) -> None:
    app.cli.add_command(seed_command)
    app.cli.add_command(idempotency_group)
