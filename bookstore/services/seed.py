"""Sample data: a realistic small catalog, and fast bulk loads of large ones."""

from __future__ import annotations

import csv
import datetime as dt
import io
import random
from collections.abc import Callable, Iterator
from decimal import Decimal

from sqlalchemy import func, insert, select, text

from bookstore.extensions import db
from bookstore.models import Author, Book, Magazine
from bookstore.models.base import utcnow

CATEGORIES = (
    "fiction",
    "science-fiction",
    "fantasy",
    "mystery",
    "thriller",
    "romance",
    "history",
    "biography",
    "science",
    "philosophy",
    "poetry",
    "children",
    "travel",
    "cooking",
)
FIRST = (
    "Ada",
    "Alan",
    "Grace",
    "Ursula",
    "Isaac",
    "Mary",
    "Octavia",
    "Jorge",
    "Toni",
    "Haruki",
    "Chinua",
    "Italo",
    "Virginia",
    "Gabriel",
    "Doris",
    "Terry",
    "Iain",
    "Zadie",
    "Kazuo",
    "Margaret",
    "Leo",
    "Fyodor",
    "Jane",
    "Emily",
    "Arthur",
    "Neil",
    "Ann",
    "Philip",
)
LAST = (
    "Lovelace",
    "Turing",
    "Hopper",
    "Le Guin",
    "Asimov",
    "Shelley",
    "Butler",
    "Borges",
    "Morrison",
    "Murakami",
    "Achebe",
    "Calvino",
    "Woolf",
    "Marquez",
    "Lessing",
    "Pratchett",
    "Banks",
    "Smith",
    "Ishiguro",
    "Atwood",
    "Tolstoy",
    "Dostoevsky",
    "Austen",
    "Bronte",
    "Clarke",
    "Gaiman",
    "Leckie",
    "Dick",
)
ADJECTIVES = (
    "Silent",
    "Hidden",
    "Last",
    "Broken",
    "Golden",
    "Distant",
    "Burning",
    "Quiet",
    "Endless",
    "Forgotten",
    "Crimson",
    "Hollow",
    "Northern",
    "Secret",
    "Wandering",
)
NOUNS = (
    "River",
    "Empire",
    "Garden",
    "Machine",
    "Harbour",
    "Mountain",
    "Library",
    "Voyage",
    "Kingdom",
    "Archive",
    "Lighthouse",
    "Orchard",
    "Frontier",
    "Cathedral",
    "Station",
)
WORDS = (
    "memory",
    "war",
    "love",
    "time",
    "family",
    "power",
    "exile",
    "music",
    "sea",
    "science",
    "faith",
    "city",
    "journey",
    "loss",
    "friendship",
    "revolution",
    "dream",
    "winter",
)
MAGAZINES = (
    "Science Weekly",
    "The Reader",
    "History Today",
    "Code Monthly",
    "Travel Notes",
    "Kitchen Table",
    "Poetry Review",
    "Future Tense",
    "Mystery Digest",
    "Young Minds",
)


def isbn13(n: int) -> str:
    body = f"978{n % 1_000_000_000:09d}"
    total = sum((1 if i % 2 == 0 else 3) * int(c) for i, c in enumerate(body))
    return body + str((10 - total % 10) % 10)


def issn(n: int) -> str:
    digits = f"{n % 10_000_000:07d}"
    total = sum((8 - i) * int(c) for i, c in enumerate(digits))
    check = (11 - total % 11) % 11
    return f"{digits[:4]}-{digits[4:]}{'X' if check == 10 else check}"


def _title(rng: random.Random) -> str:
    return f"The {rng.choice(ADJECTIVES)} {rng.choice(NOUNS)}"


def _description(rng: random.Random) -> str:
    a, b = rng.sample(WORDS, 2)
    place = f"{rng.choice(ADJECTIVES)} {rng.choice(NOUNS)}".lower()
    return f"A novel of {a} and {b}, set in a {place}."


def catalog_is_empty() -> bool:
    return db.session.execute(select(func.count()).select_from(Book)).scalar_one() == 0


def seed_sample(authors: int = 50, books: int = 300, magazines: int = 20, seed: int = 7) -> None:
    """The sample catalog ``make run`` loads: one transaction, deterministic content."""
    rng = random.Random(seed)
    author_rows = [
        Author(
            name=f"{rng.choice(FIRST)} {rng.choice(LAST)}",
            bio=f"Writes about {rng.choice(WORDS)} and {rng.choice(WORDS)}.",
            birth_year=rng.randint(1800, 1995),
        )
        for _ in range(authors)
    ]
    db.session.add_all(author_rows)
    db.session.flush()
    for i in range(books):
        db.session.add(
            Book(
                title=_title(rng),
                isbn=isbn13(100_000 + i),
                author_id=author_rows[i % authors].id,
                category=CATEGORIES[i % len(CATEGORIES)],
                publication_year=rng.randint(1900, 2025),
                price=Decimal(rng.randint(299, 4999)) / 100,
                stock=rng.randint(0, 40),
                description=_description(rng),
            )
        )
    for i in range(magazines):
        db.session.add(
            Magazine(
                title=MAGAZINES[i % len(MAGAZINES)],
                issn=issn(1_000_000 + i % len(MAGAZINES)),
                publisher=f"{rng.choice(LAST)} Media",
                issue_number=1 + i // len(MAGAZINES),
                publication_date=dt.date(2024, 1, 1) + dt.timedelta(days=30 * i),
                category=CATEGORIES[i % len(CATEGORIES)],
                price=Decimal(rng.randint(399, 1299)) / 100,
                stock=rng.randint(0, 100),
            )
        )
    db.session.commit()


def _book_rows(count: int, start: int, author_ids: list[int], seed: int) -> Iterator[tuple]:
    rng = random.Random(seed)
    now = utcnow()
    for i in range(start, start + count):
        yield (
            _title(rng) + f" {i}",
            isbn13(200_000_000 + i),
            author_ids[i % len(author_ids)],
            CATEGORIES[i % len(CATEGORIES)],
            rng.randint(1900, 2025),
            f"{rng.randint(299, 4999) / 100:.2f}",
            rng.randint(0, 40),
            _description(rng),
            now,
            now,
        )


BOOK_COLUMNS = (
    "title",
    "isbn",
    "author_id",
    "category",
    "publication_year",
    "price",
    "stock",
    "description",
    "created_at",
    "updated_at",
)


def bulk_books(
    count: int, batch: int = 50_000, progress: Callable[[int], None] | None = None, seed: int = 11
) -> int:
    """Load ``count`` books with COPY on PostgreSQL (executemany elsewhere); returns count."""
    author_ids = list(db.session.execute(select(Author.id)).scalars())
    if not author_ids:
        db.session.add_all(Author(name=f"Author {i}") for i in range(1000))
        db.session.flush()
        author_ids = list(db.session.execute(select(Author.id)).scalars())
    start = db.session.execute(select(func.coalesce(func.max(Book.id), 0))).scalar_one()
    postgres = db.engine.dialect.name == "postgresql"
    done = 0
    while done < count:
        size = min(batch, count - done)
        rows = _book_rows(size, start + done, author_ids, seed + done)
        if postgres:
            # An operator's bulk load, not a request: the per-statement cap would cut it short.
            db.session.execute(text("SET LOCAL statement_timeout = 0"))
            buffer = io.StringIO()
            csv.writer(buffer).writerows(rows)
            buffer.seek(0)
            raw = db.session.connection().connection.dbapi_connection
            with raw.cursor() as cursor:
                cursor.copy_expert(
                    f"COPY books ({', '.join(BOOK_COLUMNS)}) FROM STDIN WITH (FORMAT csv)", buffer
                )
        else:
            db.session.execute(
                insert(Book), [dict(zip(BOOK_COLUMNS, row, strict=True)) for row in rows]
            )
        db.session.commit()
        done += size
        if progress:
            progress(size)
    return done
