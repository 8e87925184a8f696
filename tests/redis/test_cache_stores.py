"""Cache stores: generation tags, races with writes, and writes made while Redis is away."""

from __future__ import annotations

import time

import pytest

from bookstore.redis.cache_stores import (
    INDEX_KEY,
    FileCounter,
    LocalStore,
    RedisStore,
    book_key,
    entry_key,
)
from bookstore.redis.client import RedisLink
from tests.redis.monitor import Monitor


@pytest.fixture
def redis_store(redis_server):
    link = RedisLink(redis_server.app_client(), retry_interval=0.1)
    return RedisStore(link, ttl=60, max_entries=3)


def test_an_entry_counts_only_under_the_current_generation(redis_store):
    generation, entry = redis_store.get("/v1/books")
    assert (generation, entry) == (b"0", None)
    redis_store.put("/v1/books", generation, b"cached")
    assert redis_store.get("/v1/books") == (b"0", b"cached")
    redis_store.bump()
    assert redis_store.get("/v1/books") == (b"1", None)


def test_a_response_built_across_a_write_is_never_served(redis_store):
    generation, _ = redis_store.get("/v1/books/1")  # lookup, then the view reads old rows
    redis_store.bump()  # a write commits meanwhile
    redis_store.put("/v1/books/1", generation, b"old rows")
    assert redis_store.get("/v1/books/1")[1] is None


def test_entries_are_stored_at_once_with_a_ttl(redis_server, redis_store):
    redis_store.put("/v1/books", b"0", b"x")  # connects and loads the script
    with Monitor(redis_server) as monitor:
        redis_store.put("/v1/authors", b"0", b"x")
    assert monitor.commands == ["EVALSHA"]  # one script call: the entry and the index
    with redis_server.client() as client:
        assert 0 < client.ttl(entry_key("/v1/authors")) <= 60
    with Monitor(redis_server) as monitor:
        assert redis_store.get("/v1/authors") == (b"0", b"x")
    assert monitor.commands == ["MGET"]


def test_the_store_keeps_at_most_max_entries_the_newest(redis_server, redis_store):
    urls = [f"/v1/books?page={n}" for n in range(10)]
    for url in urls:
        redis_store.put(url, b"0", url.encode())
    with redis_server.client() as client:
        assert len(list(client.scan_iter("cache:entry:*"))) == 3
        assert client.zcard(INDEX_KEY) == 3 and 0 < client.ttl(INDEX_KEY) <= 60
    assert [redis_store.get(url)[1] is not None for url in urls] == [False] * 7 + [True] * 3


def test_index_members_of_expired_entries_are_dropped(redis_server):
    store = RedisStore(RedisLink(redis_server.app_client(), retry_interval=0.1), 1, 100)
    with redis_server.client() as client:
        client.zadd(INDEX_KEY, {entry_key("/gone"): time.time() - 5})  # expired long ago
        store.put("/v1/books", b"0", b"x")
        assert client.zrange(INDEX_KEY, 0, -1) == [entry_key("/v1/books").encode()]


def test_a_stopped_redis_is_a_miss_not_an_error(redis_server, redis_store):
    redis_server.stop()
    assert redis_store.get("/v1/books") == (None, None)
    redis_store.put("/v1/books", b"0", b"x")
    redis_store.bump()
    assert redis_store.bump_pending and not redis_store.link.up


def test_a_write_while_redis_is_unresponsive_invalidates_when_it_answers(redis_server, redis_store):
    generation, _ = redis_store.get("/v1/books/1")
    redis_store.put("/v1/books/1", generation, b"before the write")
    with redis_server.client() as admin:
        # Redis keeps its data but answers nobody: the bump times out.
        admin.execute_command("CLIENT", "PAUSE", 1200, "ALL")
        paused_at = time.monotonic()
    redis_store.bump()  # a write committed; its invalidation cannot reach Redis
    assert redis_store.bump_pending and not redis_store.link.up
    time.sleep(max(0.0, paused_at + 1.4 - time.monotonic()))
    generation, entry = redis_store.get("/v1/books/1")  # the bump is replayed first
    assert entry is None and generation != b"0"
    assert not redis_store.bump_pending and redis_store.link.up


def test_without_the_replay_the_old_entry_would_have_been_served(redis_store):
    redis_store.put("/v1/books/1", b"0", b"before the write")
    assert redis_store.get("/v1/books/1") == (b"0", b"before the write")


def test_local_store_is_bounded_and_tagged(tmp_path):
    store = LocalStore(max_entries=2, ttl=60, generation_file=tmp_path / "generation")
    for url in ("/a", "/b"):
        store.put(url, store.counter.value, url.encode())
    assert store.get("/a") == (0, b"/a")  # /a is now the most recently used
    store.put("/c", 0, b"/c")
    assert store.get("/b") == (0, None) and store.get("/a")[1] == b"/a"
    generation, _ = store.get("/d")
    store.bump()
    store.put("/d", generation, b"old")
    assert store.get("/d") == (1, None) and store.get("/a") == (1, None)


def test_local_stores_of_one_machine_share_the_generation(tmp_path):
    first, second = (LocalStore(8, 60, tmp_path / "generation") for _ in range(2))
    second.put("/v1/books", second.counter.value, b"cached")
    assert second.get("/v1/books")[1] == b"cached"
    first.bump()  # a write in another worker
    assert second.get("/v1/books") == (1, None)
    assert FileCounter(tmp_path / "generation").value == 1


def test_a_books_entry_is_tagged_with_its_own_generation_too(redis_server, redis_store):
    tag, _ = redis_store.get("/v1/books/1", 1)
    assert tag == b"0:0"
    redis_store.put("/v1/books/1", tag, b"item", book_id=1)
    redis_store.put("/v1/books", b"0", b"list")
    redis_store.bump_books([2])
    assert redis_store.get("/v1/books/1", 1) == (b"0:0", b"item")
    redis_store.bump_books([1, 3])
    tag, entry = redis_store.get("/v1/books/1", 1)
    assert entry is None and tag != b"0:0"
    assert redis_store.get("/v1/books") == (b"0", b"list")  # lists keep theirs
    with redis_server.client() as client:
        assert 60 < client.ttl(book_key(1)) <= 2 * 60 + 60


def test_a_book_generation_never_comes_back_after_its_key_expires(redis_server, redis_store):
    redis_store.bump_books([1])
    tag, _ = redis_store.get("/v1/books/1", 1)
    redis_store.put("/v1/books/1", tag, b"item", book_id=1)
    with redis_server.client() as client:
        client.delete(book_key(1))  # as if it had expired
    redis_store.bump_books([1])
    assert redis_store.get("/v1/books/1", 1)[1] is None  # a new value, not the old one again


def test_an_entry_whose_tag_went_stale_is_not_stored(redis_server, redis_store):
    tag, _ = redis_store.get("/v1/books/1", 1)  # lookup, then the view reads old rows
    redis_store.bump_books([1])  # an order commits meanwhile
    redis_store.put("/v1/books/1", tag, b"old stock", book_id=1)
    with redis_server.client() as client:  # not even kept: its key could expire and return
        assert not client.exists(entry_key("/v1/books/1"))


def test_a_shorter_ttl_is_kept_and_never_longer_than_the_stores(redis_server, redis_store):
    redis_store.put("/v1/books", b"0", b"list", ttl=1)
    redis_store.put("/v1/authors", b"0", b"list", ttl=600)
    with redis_server.client() as client:
        assert 0 < client.ttl(entry_key("/v1/books")) <= 1
        assert 1 < client.ttl(entry_key("/v1/authors")) <= 60


def test_a_book_bump_redis_cannot_take_becomes_a_catalog_wide_one(redis_server, redis_store):
    redis_server.stop()
    redis_store.bump_books([1])
    assert redis_store.bump_pending and not redis_store.link.up


def test_local_stores_of_one_machine_share_the_book_generations(tmp_path):
    first, second = (LocalStore(8, 60, tmp_path / "generation") for _ in range(2))
    tag = second.tag(7)
    second.put("/v1/books/7", tag, b"item", book_id=7)
    second.put("/v1/books", second.tag(None), b"list", ttl=1)
    assert 0 < second.expires_in("/v1/books") <= 1
    first.bump_books([8])
    assert second.get("/v1/books/7", 7) == (tag, b"item")
    first.bump_books([7])  # an order in another worker
    assert second.get("/v1/books/7", 7)[1] is None
    assert second.get("/v1/books")[1] == b"list"
