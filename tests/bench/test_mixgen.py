"""The mixed workload's Zipf sampler and class mix (pure Python, seeded, no servers)."""

import random
from collections import Counter

import pytest

from bench.mixgen import MIX, ORDER_RETRY, Plan, ZipfSampler, mix_weights

LIST_PATHS = [f"/v1/books?page={n}" for n in range(1, 101)]
SEARCH_PATHS = ["/v1/books?q=river", "/v1/books?q=night"]


TOKENS = [f"token-{n}" for n in range(4)]


def plan(orders: bool, seed: int = 7, connection: int = 0, tokens=TOKENS) -> Plan:
    config = {
        "orders": orders,
        "tokens": tokens,
        "books": 20_000,
        "list_paths": LIST_PATHS,
        "search_paths": SEARCH_PATHS,
        "order_books": 1000,
        "email": "customer@bench.example",
        "password": "secret",
    }
    return Plan(config, random.Random(seed), connection)


@pytest.mark.parametrize("n", [20_000, 1_000_000])
def test_one_percent_of_the_books_take_about_half_of_the_reads(n):
    sampler = ZipfSampler(n)
    rng = random.Random(1)
    ranks = [sampler.rank(rng) for _ in range(200_000)]
    head = sum(1 for r in ranks if r <= n // 100) / len(ranks)
    assert 0.47 <= head <= 0.53
    # And not all of them: the tail beyond the top 10 % still gets a real share.
    assert sum(1 for r in ranks if r > n // 10) / len(ranks) > 0.2
    assert all(1 <= r <= n for r in ranks)


def test_ranks_map_to_every_id_once():
    sampler = ZipfSampler(1000)
    assert sorted(sampler.item(rank) for rank in range(1, 1001)) == list(range(1, 1001))
    # The most popular books are spread over the catalog, not its first ids.
    assert max(sampler.item(rank) for rank in range(1, 11)) > 100


def test_the_full_mix_has_the_documented_shares_and_retries():
    p = plan(orders=True)
    requests = [p.next() for _ in range(100_000)]
    kinds = Counter(r.kind for r in requests)
    first = sum(n for kind, n in kinds.items() if kind != "order_retry")
    for kind, share in MIX.items():
        assert kinds[kind] / first == pytest.approx(share, abs=0.01 if share > 0.05 else 0.003)
    assert kinds["order_retry"] / kinds["order"] == pytest.approx(ORDER_RETRY, abs=0.03)
    keys = [r.headers["Idempotency-Key"] for r in requests if r.kind == "order"]
    assert len(set(keys)) == len(keys)
    for before, after in zip(requests, requests[1:], strict=False):
        if after.kind == "order_retry":
            assert before.kind == "order"
            assert after.headers["Idempotency-Key"] == before.headers["Idempotency-Key"]
            assert after.body == before.body


def test_the_read_only_mix_is_the_same_mix_without_orders():
    weights = mix_weights(orders=False)
    assert "order" not in weights
    assert sum(weights.values()) == pytest.approx(1.0)
    assert weights["book"] / weights["list"] == pytest.approx(MIX["book"] / MIX["list"])
    p = plan(orders=False)
    kinds = Counter(p.next().kind for _ in range(20_000))
    assert kinds["order"] == kinds["order_retry"] == 0
    assert kinds["book"] / 20_000 == pytest.approx(weights["book"], abs=0.01)


def test_each_connection_orders_as_its_own_customer():
    def tokens_used(connection: int) -> set[str]:
        p = plan(orders=True, connection=connection)
        orders = [r for r in (p.next() for _ in range(5_000)) if r.kind.startswith("order")]
        assert orders
        return {r.headers["Authorization"] for r in orders}

    assert [tokens_used(n) for n in range(6)] == [{f"Bearer token-{n % 4}"} for n in range(6)]


def test_without_tokens_the_mix_places_no_orders():
    p = plan(orders=True, tokens=[])
    kinds = Counter(p.next().kind for _ in range(20_000))
    assert kinds["order"] == kinds["order_retry"] == 0 and kinds["book"] > 0
