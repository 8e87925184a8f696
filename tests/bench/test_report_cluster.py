"""The report's worker-class-behind-nginx table and cluster mix section (pure rendering)."""

import pytest

from bench import mixgen, report, report_mix

CLUSTER = {
    "layout": "started",
    "instances": 2,
    "workers_per_instance": {"gthread": 2, "sync": 2},
    "threads": {"gthread": 4, "sync": 1},
}


def _m(rps, p99, errors=0, p50=5.0):
    return {"rps": rps, "p50": p50, "p95": p99 / 2, "p99": p99, "errors": errors,
            "socket_errors": 0, "timeouts": 0}  # fmt: skip


def _results(pairs):
    summary = {"book_miss": _m(900, 20)}
    for name, (gthread, sync) in pairs.items():
        summary[f"cluster_{name}"] = gthread
        summary[f"cluster_{name}_sync"] = sync
    return {"summary": summary, "cluster": CLUSTER}


def test_the_table_has_both_classes_of_each_scenario_and_errors():
    r = _results({"book_miss": (_m(500, 40.0), _m(600, 12.5, errors=3))})
    lines = report.proxied_workers_table(r)
    row = next(line for line in lines if line.startswith("| GET /v1/books/{id}, cache miss"))
    assert (
        row
        == "| GET /v1/books/{id}, cache miss | 500 | 5.00 / 40.0 | 0 | 600 | 5.00 / 12.5 | 3 | 900 |"
    )
    assert "2 gunicorn instances of 2 workers each, started" in lines[0]


@pytest.mark.parametrize(
    ("sync_rps", "sync_p99", "start"),
    [
        (600, 10.0, "By these figures sync is the better class"),
        (400, 50.0, "By these figures gthread is the better class"),
        (600, 50.0, "By these figures neither class wins every scenario"),
    ],
)
def test_the_verdict_counts_req_s_and_p99_wins(sync_rps, sync_p99, start):
    r = _results(
        {
            "book_miss": (_m(500, 20.0), _m(sync_rps, sync_p99)),
            "mix": (_m(500, 30.0), _m(sync_rps, sync_p99)),
        }
    )
    lines = report.proxied_workers_table(r)
    assert lines[-1].startswith(start)
    faster = 2 if sync_rps > 500 else 0
    assert f"more req/s in {faster} of 2" in lines[-1]


def test_a_scenario_without_its_sync_twin_is_left_out():
    r = _results({"book_miss": (_m(500, 20.0), _m(600, 10.0))})
    r["summary"]["cluster_book_hit"] = _m(700, 9.0)
    lines = report.proxied_workers_table(r)
    assert not any("cache hit" in line for line in lines)
    assert report.proxied_workers_table({"summary": {}, "cluster": {"layout": None}}) == [
        "(not measured in this run: no nginx, or BENCH_PROXY=off)"
    ]


def _mix_row(rps):
    return {"rps": rps, "p50": 4.0, "p95": 8.0, "p99": 16.0, "requests": 10, "errors": 0,
            "statuses": {}, "hit_rate": 0.5}  # fmt: skip


def _mix(names):
    classes = {kind: _mix_row(100) for kind in mixgen.CLASSES}
    return {name: {"classes": classes, "read_hit_rate": 0.5} for name in names}


def test_started_clusters_get_a_mix_table_per_worker_class():
    names = ["cluster_mix", "cluster_mix_read", "cluster_mix_sync", "cluster_mix_read_sync"]
    r = {"summary": {n: {**_m(100, 16.0), "p95": 8.0} for n in names}, "mix": _mix(names),
         "cluster": CLUSTER, "settings": {"cluster_url": ""}}  # fmt: skip
    lines = report_mix.cluster_section(r)
    assert "Under sync workers:" in lines
    assert sum(line.startswith("| **all requests** | full |") for line in lines) == 2
    assert len(report_mix.targets(r)) == 4  # hit rate and req/s, for each class


def test_no_cluster_mix_says_how_to_get_one():
    [line] = report_mix.cluster_section({"summary": {}, "mix": {}, "cluster": {"layout": None}})
    assert line.startswith("Not measured") and "BENCH_PROXY" in line
