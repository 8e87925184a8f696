"""Command-line tasks: ``flask seed`` and friends."""

from __future__ import annotations

import sys
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
    # The bar goes to stderr so the summary line on stdout stays scriptable.
    with click.progressbar(length=book_count, label="Loading books", file=sys.stderr) as bar:
        seed.bulk_books(book_count, progress=bar.update)
    elapsed = time.perf_counter() - started
    click.echo(f"Loaded {book_count} books in {elapsed:.1f}s ({book_count / elapsed:,.0f}/s).")
    if db.engine.dialect.name == "postgresql":
        db.session.execute(db.text("ANALYZE books"))
        db.session.commit()


def register_cli(app: Flask) -> None:
    app.cli.add_command(seed_command)
