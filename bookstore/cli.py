"""Command-line tasks: ``flask seed`` and friends."""

from __future__ import annotations

import datetime as dt
import threading
import time

import click
from flask import Flask
from flask.cli import AppGroup

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


webhooks_cli = AppGroup("webhooks", help="Webhook delivery: the worker and housekeeping.")


@webhooks_cli.command("work")
@click.option("--once", is_flag=True, help="Deliver what is due now, then exit.")
@click.option(
    "--poll-interval",
    type=click.FloatRange(min=0.01),
    default=None,
    help="Seconds between polls when idle (default WEBHOOK_POLL_INTERVAL).",
)
def webhooks_work(once: bool, poll_interval: float | None) -> None:
    """Deliver webhook events until stopped (SIGTERM/SIGINT finish the current one)."""
    from bookstore.services.webhooks import worker

    stop = threading.Event()
    worker.install_signal_handlers(stop)
    totals = worker.run(stop, once=once, poll_interval=poll_interval)
    summary = ", ".join(f"{count} {status}" for status, count in sorted(totals.items()))
    click.echo(f"Processed {sum(totals.values())} deliveries{': ' + summary if summary else ''}.")


@webhooks_cli.command("purge")
@click.option("--days", type=click.IntRange(min=1), default=30, show_default=True)
def webhooks_purge(days: int) -> None:
    """Delete events older than --days whose deliveries are all settled."""
    from bookstore.services.webhooks.queue import purge

    removed = purge(dt.datetime.now(dt.UTC) - dt.timedelta(days=days))
    click.echo(f"Deleted {removed} events and their deliveries.")


def register_cli(app: Flask) -> None:
    app.cli.add_command(seed_command)
    app.cli.add_command(webhooks_cli)
