"""The benchmark's data: a fresh database with N books, two accounts, and request lists.

Every URL in a list is distinct, so a run's requests miss the response cache and the
database answers each one (before every run the cache generation moves, see bench.run).
The filters and search terms vary; where the benchmark needs the *same* database work on
every request (a page at a fixed depth), the URL is varied in a way the API reads back
as the same request and that does not reach the response's links:

- offset pages: the page number with leading zeros or spaces (``page=0025001``), which
  the integer field reads as 25001;
- keyset pages: the same signed cursor payload with JSON whitespace in it, which decodes
  to the same sort key, value and direction (checked below).
"""

from __future__ import annotations

import os
import random
import re
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import psycopg2
from sqlalchemy.engine import make_url

from bench.settings import OUT, ROOT, Settings

DEPTHS = (0, 10_000, 100_000, 500_000)
PER_PAGE = 20


def flask(settings: Settings, *args: str, env: dict[str, str] | None = None) -> str:
    """Run a ``flask`` command of the app with the benchmark's environment."""
    full = {**os.environ, **settings.app_env(), "FLASK_APP": "wsgi.py", **(env or {})}
    binary = str(Path(sys.executable).with_name("flask"))
    done = subprocess.run(
        [binary, *args], cwd=ROOT, env=full, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"flask {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def _admin_connection(url: str):
    target = make_url(url)
    conn = psycopg2.connect(
        host=target.host,
        port=target.port or 5432,
        user=target.username,
        password=target.password,
        dbname="postgres",
    )
    conn.autocommit = True
    return conn, target.database


def ensure_database(url: str) -> None:
    """Create the database ``url`` names unless it exists."""
    conn, name = _admin_connection(url)
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        if cur.fetchone() is None:
            cur.execute(f'CREATE DATABASE "{name}"')
    conn.close()


def recreate_database(settings: Settings) -> None:
    conn, name = _admin_connection(settings.database_url)
    if not re.fullmatch(r"[a-z0-9_]+", name or ""):
        raise SystemExit(f"refusing to drop a database named {name!r}")
    with conn.cursor() as cur:
        cur.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
        )
        cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
        cur.execute(f'CREATE DATABASE "{name}"')
    conn.close()


def seed(settings: Settings) -> dict[str, float]:
    """Migrate and bulk-load the catalog; returns the timings the report shows."""
    started = time.perf_counter()
    flask(settings, "db", "upgrade")
    migrated = time.perf_counter()
    out = flask(settings, "seed", "--books", str(settings.books))
    seeded = time.perf_counter()
    match = re.search(r"Loaded \d+ books in ([\d.]+)s", out)
    return {
        "migrate_s": migrated - started,
        "seed_s": seeded - migrated,
        "copy_s": float(match.group(1)) if match else seeded - migrated,
    }


def prepare_accounts_and_stock(settings: Settings) -> None:
    """The customers (registered through the service, bcrypt cost 12) and an admin (CLI)."""
    with psycopg2.connect(settings.database_url) as conn, conn.cursor() as cur:
        cur.execute("UPDATE books SET stock = 100000000 WHERE id <= %s", (settings.order_books,))
    flask(
        settings,
        "create-admin",
        "--email",
        settings.admin_email,
        env={"ADMIN_PASSWORD": settings.password},
    )
    from bench.inprocess import app_context
    from bookstore.extensions import db
    from bookstore.models import User
    from bookstore.services import accounts

    with app_context(settings):
        for n, email in enumerate(settings.customer_emails()):
            if db.session.query(User.id).filter_by(email=email).first() is None:
                accounts.register(email, settings.password, f"Bench Customer {n}")


# -- request lists -----------------------------------------------------------------------


def page_spellings(page: int, count: int) -> list[str]:
    """``count`` distinct spellings of ``page``: leading zeros, leading and trailing spaces."""
    out = []
    for n in range(count):
        zeros, before, after = n % 40, n // 40 % 40, n // 1600
        out.append("+" * before + "0" * zeros + str(page) + "+" * after)  # "+" is a space
    return out


def cursor_spellings(boundary: int, count: int) -> list[str]:
    """``count`` distinct cursors that all decode to ``encode_cursor("id", [boundary], "n")``.

    Needs an app context (the signature uses SECRET_KEY).
    """
    from bookstore.pagination.cursors import sign

    out = []
    for n in range(count):
        a, b, c, d = n % 14, n // 14 % 14, n // 196 % 14, n // 2744
        # The JSON encode_cursor writes, with whitespace in four places.
        raw = f'{{{" " * a}"s":"id",{" " * b}"v":[{" " * c}{boundary}],{" " * d}"d":"n"}}'
        out.append(sign(raw.encode()))
    return out


def _write(name: str, lines: list[str]) -> Path:
    path = OUT / "requests" / f"{name}.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def search_terms(rng: random.Random, count: int, books: int) -> list[str]:
    """A third each: one catalog word, an adjective-noun pair, a book's whole title.

    Needs an app context (the titles come from the database).
    """
    from sqlalchemy import select

    from bookstore.extensions import db
    from bookstore.models import Book
    from bookstore.services.seed import ADJECTIVES, NOUNS, WORDS

    ids = rng.sample(range(1, books + 1), count // 3 + 1)
    titles = list(db.session.execute(select(Book.title).where(Book.id.in_(ids))).scalars())
    rng.shuffle(titles)
    terms = []
    for n in range(count):
        kind = n % 3
        if kind == 0:
            terms.append(rng.choice(ADJECTIVES + NOUNS + WORDS))
        elif kind == 1:
            terms.append(f"{rng.choice(ADJECTIVES)} {rng.choice(NOUNS)}")
        else:
            terms.append(titles[n // 3 % len(titles)])
    return terms


def request_lists(settings: Settings, seed_value: int = 20260101) -> dict[str, Path]:
    from bench.inprocess import app_context
    from bookstore.pagination.pages import decode_cursor, encode_cursor
    from bookstore.services.seed import CATEGORIES

    rng = random.Random(seed_value)
    books = settings.books
    files = {}
    ids = rng.sample(range(1, books + 1), min(books, 200_000))
    files["book_miss"] = _write("book_miss", [f"/v1/books/{i}" for i in ids])
    hot = rng.sample(range(settings.order_books + 1, books + 1), settings.hot_books)
    files["book_hot"] = _write("book_hot", [f"/v1/books/{i}" for i in hot])

    filtered = set()
    while len(filtered) < 30_000:  # more than a run serves: every request a miss
        low = rng.randint(300, 4000)
        filtered.add(
            f"/v1/books?category={rng.choice(CATEGORIES)}&min_price={low // 100}.{low % 100:02d}"
            f"&max_price={low // 100 + 10}.{low % 100:02d}&sort=-price&per_page={PER_PAGE}"
        )
    files["list_filtered"] = _write("list_filtered", sorted(filtered, key=lambda _: rng.random()))

    seen: dict[str, int] = {}
    searches = []
    with app_context(settings):
        terms = search_terms(rng, 4000, books)
    for term in terms:
        n = seen[term] = seen.get(term, -1) + 1
        searches.append(
            f"/v1/books?q={quote(term)}&page={page_spellings(1, n + 1)[n]}&per_page={PER_PAGE}"
        )
    files["search"] = _write("search", searches)
    files["mix_list"] = _write("mix_list", mix_list_paths(list(CATEGORIES)))

    # The baseline's keyset page: the 20 rows the API's cursor pages at depth 0 return.
    files["baseline_list"] = _write("baseline_list", [f"/v1/books?after={depth_boundary(0)}"])
    with app_context(settings):
        for depth in (d for d in DEPTHS if d < books):  # a small BENCH_BOOKS skips deep pages
            boundary = depth_boundary(depth)
            expected = decode_cursor(encode_cursor("id", [boundary], "n"), _book_spec())
            cursors = cursor_spellings(boundary, 30_000)
            assert all(decode_cursor(c, _book_spec()) == expected for c in cursors[::997])
            rng.shuffle(cursors)
            files[f"cursor_{depth}"] = _write(
                f"cursor_{depth}", [f"/v1/books?per_page={PER_PAGE}&cursor={c}" for c in cursors]
            )
            pages = page_spellings(depth // PER_PAGE + 1, 30_000)
            rng.shuffle(pages)
            files[f"offset_{depth}"] = _write(
                f"offset_{depth}", [f"/v1/books?page={p}&per_page={PER_PAGE}" for p in pages]
            )
    return files


def mix_list_paths(categories: list[str]) -> list[str]:
    """The list and filter pages the mix reads: popular first pages, fewer deep ones."""
    paths = [f"/v1/books?page={page}&per_page={PER_PAGE}" for page in range(1, 21)]
    for category in categories:
        for page in range(1, 6):
            paths.append(
                f"/v1/books?category={category}&sort=-price&page={page}&per_page={PER_PAGE}"
            )
            low = 5 * page
            paths.append(
                f"/v1/books?category={category}&min_price={low}&max_price={low + 20}"
                f"&per_page={PER_PAGE}"
            )
    return paths


def _book_spec():
    from bookstore.api.books import BOOK_LIST

    return BOOK_LIST


def depth_boundary(depth: int) -> int:
    """The id a keyset cursor holds to start exactly ``depth`` rows into the catalog."""
    if depth == 0:
        return 0
    from sqlalchemy import select

    from bookstore.extensions import db
    from bookstore.models import Book

    stmt = select(Book.id).order_by(Book.id).offset(depth - 1).limit(1)
    return db.session.execute(stmt).scalar_one()
