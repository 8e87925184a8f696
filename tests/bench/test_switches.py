"""The benchmark's "with and without" scenarios and their report section (no servers)."""

from bench import loadgen
from bench.report import switches_table
from bookstore.config import load_config


def _run(rps: dict[str, list[float]]) -> dict:
    runs = {name: [{"rps": value} for value in values] for name, values in rps.items()}
    summary = {
        name: {"rps": sorted(values)[len(values) // 2], "p99": 20.0} for name, values in rps.items()
    }
    return {"summary": summary, "runs": runs}


def test_every_switch_is_a_setting_whose_default_is_on():
    config = load_config({"APP_ENV": "testing"})
    for switch, _, _ in loadgen.SWITCHES:
        assert config[switch] is True
        assert load_config({"APP_ENV": "testing", switch: "false"})[switch] is False


def test_each_off_scenario_is_its_on_scenario_with_one_switch_false():
    known = {s.name: s for s in loadgen.SCENARIOS}
    assert len(loadgen.SWITCHED_OFF) == sum(len(ons) for _, _, ons in loadgen.SWITCHES)
    for switch, _, ons in loadgen.SWITCHES:
        for on in ons:
            off = known[loadgen.switched_off(on, switch)]
            assert known[on].server == off.server == "plain"
            assert known[on].server_env == {}
            assert off.server_env == {switch: "false"}
            assert (off.paths, off.mode, off.connections) == (
                known[on].paths,
                known[on].mode,
                known[on].connections,
            )


def test_the_report_keeps_what_gains_five_per_cent_and_removes_the_rest():
    off = loadgen.switched_off
    rps = {
        "book_miss_plain": [1000.0, 1010.0, 990.0],
        "cursor_0_plain": [500.0, 505.0, 495.0],
        # 1.10 on the book read: kept, although the list page gains nothing.
        off("book_miss_plain", "PERF_ORJSON_ENVELOPE"): [910.0, 920.0, 900.0],
        off("cursor_0_plain", "PERF_ORJSON_ENVELOPE"): [500.0, 500.0, 500.0],
        # 1.04 and 1.02: removed.
        off("book_miss_plain", "PERF_XXH3_ETAG"): [962.0, 960.0, 961.0],
        off("cursor_0_plain", "PERF_XXH3_ETAG"): [490.0, 490.0, 490.0],
    }
    lines = switches_table(_run(rps))
    rows = [line for line in lines if line.startswith("| ") and "`PERF_" in line]
    assert len(rows) == 4  # the switches measured in this run only
    assert rows[0].split(" | ")[4:6] == ["1.10", "1.10 / 1.10 / 1.10"]
    assert rows[0].endswith("| kept |") and rows[1].endswith("| below 5 % |")
    assert lines[-1] == "By the rule: `PERF_ORJSON_ENVELOPE` kept; `PERF_XXH3_ETAG` **removed**."


def test_no_section_without_an_off_scenario():
    assert switches_table(_run({"book_miss_plain": [1000.0]})) == []


def test_each_on_scenario_is_followed_by_its_off_twins():
    names = loadgen.switch_scenario_names()
    assert set(names) == {s.name for s in loadgen.PLAIN} | {s.name for s in loadgen.SWITCHED_OFF}
    current = None
    for name in names:
        scenario = loadgen.by_name([name])[0]
        if not scenario.server_env:
            current = name
        else:
            assert scenario.tags["on"] == current, name
    # The whole benchmark runs them in the same order, as one block.
    everything = [s.name for s in loadgen.SCENARIOS]
    start = everything.index(names[0])
    assert everything[start : start + len(names)] == names
