"""``flask seed``: the sample catalog, and bulk loads with ``--books N``."""

from __future__ import annotations

from sqlalchemy import func, select, text

from bookstore.extensions import db
from bookstore.models import Author, Book, Magazine
from bookstore.schemas.book import book_schema
from bookstore.schemas.magazine import magazine_schema, magazine_to_dict


def counts() -> dict[str, int]:
    def count(model) -> int:
        return db.session.execute(select(func.count()).select_from(model)).scalar_one()

    categories = db.session.execute(select(func.count(func.distinct(Book.category)))).scalar_one()
    return {
        "authors": count(Author),
        "books": count(Book),
        "magazines": count(Magazine),
        "categories": categories,
    }


def test_seed_loads_the_sample_catalog_once(app, app_ctx):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["seed"])
    assert result.exit_code == 0, result.output
    assert "Loaded the sample catalog" in result.output
    loaded = counts()
    assert loaded["authors"] >= 50
    assert loaded["books"] >= 300
    assert loaded["categories"] >= 10
    assert loaded["magazines"] >= 20

    again = runner.invoke(args=["seed"])
    assert again.exit_code == 0, again.output
    assert "already has books" in again.output
    assert counts() == loaded


def test_sample_rows_pass_the_api_validation(app, app_ctx):
    """Seeded data must be data the API itself would accept (checksums, dates, lengths)."""
    assert app.test_cli_runner().invoke(args=["seed"]).exit_code == 0
    book_fields = [f for f, field in book_schema.fields.items() if not field.dump_only]
    for book in db.session.execute(select(Book)).scalars():
        book_schema.load({f: v for f, v in book_schema.dump(book).items() if f in book_fields})
    for row in db.session.execute(select(Magazine.__table__)):
        item = magazine_to_dict(row)
        magazine_schema.load({f: item[f] for f in magazine_schema.load_fields})


def test_seed_books_bulk_loads_with_full_text_search(app, app_ctx, client):
    runner = app.test_cli_runner()
    assert runner.invoke(args=["seed"]).exit_code == 0
    before = counts()
    first_new_id = db.session.execute(select(func.max(Book.id))).scalar_one() + 1

    result = runner.invoke(args=["seed", "--books", "2000"])
    assert result.exit_code == 0, result.output
    assert "Loaded 2000 books" in result.output
    db.session.rollback()  # see the committed rows
    assert counts()["books"] == before["books"] + 2000
    assert counts()["authors"] == before["authors"]  # reuses the existing authors

    missing = db.session.execute(
        text("SELECT count(*) FROM books WHERE id >= :first AND search_vector IS NULL"),
        {"first": first_new_id},
    ).scalar_one()
    assert missing == 0
    isbn_ok = db.session.execute(select(func.count(func.distinct(Book.isbn)))).scalar_one()
    # Vacuumed after the load: the visibility map allows index-only scans (counts, offsets).
    visible = db.session.execute(
        text("SELECT relallvisible FROM pg_class WHERE relname = 'books'")
    ).scalar_one()
    assert visible > 0
    assert isbn_ok == before["books"] + 2000

    # The new rows are findable through the API's full-text search, author name included.
    title, author = db.session.execute(
        select(Book.title, Author.name).join(Author).where(Book.id == first_new_id + 1)
    ).one()
    number = title.rsplit(" ", 1)[-1]
    found = client.get(f"/v1/books?q={number}&per_page=100").get_json()["data"]
    assert first_new_id + 1 in [item["id"] for item in found]
    by_author = client.get(f"/v1/books?q={author.split()[-1]}&per_page=1").get_json()
    assert by_author["pagination"]["total"] > 0


def test_seed_books_rejects_a_non_positive_count(app):
    result = app.test_cli_runner().invoke(args=["seed", "--books", "0"])
    assert result.exit_code == 2
    assert "--books" in result.output
