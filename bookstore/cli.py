"""Command-line tasks: ``flask seed``, ``flask create-admin``, ``flask idempotency purge``,
``flask webhooks work``, ``flask orders expire``."""

from __future__ import annotations

import datetime as dt
import os
import sys
import threading
import time

import click
from flask import Flask
from flask.cli import AppGroup

from bookstore.extensions import db
from bookstore.schemas.user import Email
from bookstore.services import accounts, order_expiry, seed
from bookstore.services.idempotency import purge_expired
from bookstore.services.webhooks import worker
from bookstore.services.webhooks.queue import purge


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
        # COPY leaves the visibility map empty: until a VACUUM sets it, counts and deep
        # offset pages read every heap page instead of using index-only scans (2-5x slower
        # on 1M books), and autovacuum would get to it at some unpredictable later time.
        db.session.commit()
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(db.text("VACUUM (ANALYZE) books"))


@click.command("create-admin")
@click.option("--email", required=True, help="The admin's email address.")
@click.option("--name", default=None, help="Display name (new accounts only).")
def create_admin_command(email: str, name: str | None) -> None:
    """Create an admin account, or promote (and reactivate) an existing one.

    The password of a new account comes from ADMIN_PASSWORD or a hidden prompt, never
    from the command line (it would end up in the shell history and the process list).
    """
    from marshmallow import ValidationError

    try:
        address = Email().deserialize(email)
    except ValidationError as exc:
        raise click.BadParameter(str(exc.messages[0]), param_hint="--email") from None

    def password() -> str:
        value = os.environ.get("ADMIN_PASSWORD")
        if value:
            return value
        return click.prompt("Password", hide_input=True, confirmation_prompt=True)

    try:
        user, created = accounts.create_or_promote_admin(address, password, name)
    except ValidationError as exc:
        raise click.ClickException(f"Password refused: {exc.messages[0]}") from None
    verb = "Created admin" if created else "Promoted to admin"
    click.echo(f"{verb} {user.email} (id {user.id}).")


@click.group("idempotency")
def idempotency_group() -> None:
    """Idempotency keys."""


@idempotency_group.command("purge")
def purge_command() -> None:
    """Delete idempotency keys past their expiry (IDEMPOTENCY_TTL_SECONDS)."""
    click.echo(f"Deleted {purge_expired()} expired idempotency keys.")


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
    stop = threading.Event()
    worker.install_signal_handlers(stop)
    totals = worker.run(stop, once=once, poll_interval=poll_interval)
    summary = ", ".join(f"{count} {status}" for status, count in sorted(totals.items()))
    click.echo(f"Processed {sum(totals.values())} deliveries{': ' + summary if summary else ''}.")


@webhooks_cli.command("purge")
@click.option("--days", type=click.IntRange(min=1), default=30, show_default=True)
def webhooks_purge(days: int) -> None:
    """Delete events older than --days whose deliveries are all settled."""
    removed = purge(dt.datetime.now(dt.UTC) - dt.timedelta(days=days))
    click.echo(f"Deleted {removed} events and their deliveries.")


orders_cli = AppGroup("orders", help="Orders: expiring the unpaid ones.")


@orders_cli.command("expire")
@click.option("--loop", is_flag=True, help="Keep expiring until SIGTERM/SIGINT.")
@click.option(
    "--interval",
    type=click.FloatRange(min=0.01),
    default=None,
    help="Seconds between passes with --loop (default ORDER_EXPIRY_INTERVAL).",
)
def orders_expire(loop: bool, interval: float | None) -> None:
    """Expire pending orders past their payment window, returning their stock."""
    if loop:
        stop = threading.Event()
        worker.install_signal_handlers(stop, "order expiry: stopping after the current pass")
        count = order_expiry.run(stop, interval)
    else:
        count = order_expiry.expire_due()
    click.echo(f"Expired {count} unpaid orders.")


def register_cli(app: Flask) -> None:
    app.cli.add_command(seed_command)
    app.cli.add_command(create_admin_command)
    app.cli.add_command(idempotency_group)
    app.cli.add_command(webhooks_cli)
    app.cli.add_command(orders_cli)
