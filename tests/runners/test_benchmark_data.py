"""The benchmark's data generation and result comparison (correctness only; nothing is timed)."""
import importlib.util
import json
import sys
from pathlib import Path

import pyarrow as pa
import pytest

np = pytest.importorskip("numpy")  # the benchmark needs numpy; the package itself does not

SPEC = importlib.util.spec_from_file_location(
    "benchmark_run", Path(__file__).resolve().parents[2] / "benchmarks" / "run.py")
bench = importlib.util.module_from_spec(SPEC)
sys.modules[SPEC.name] = bench  # dataclasses look their module up there
SPEC.loader.exec_module(bench)


def test_bids_are_deterministic_and_well_formed(tmp_path):
    bids = bench.generate_bids(500)
    values = bench.bid_json_values(bids)
    assert values.equals(bench.bid_json_values(bench.generate_bids(500)))
    first = json.loads(values[0].as_py())
    assert list(first) == ["auction", "bidder", "price", "channel", "url", "date_time", "extra"]
    assert 1000 <= first["auction"] <= 10999 and len(first["extra"]) == 20
    assert 150 < sum(len(v) for v in values.to_pylist()) / 500 < 220
    assert (np.diff(bids["date_time"].to_numpy()) >= 0).all()
    path = tmp_path / "bids.jsonl"
    bench.write_json_lines(values, path)
    assert [json.loads(line) for line in path.read_text().splitlines()] == [json.loads(v) for v in values.to_pylist()]


def test_keys_are_big_endian_bigints():
    keys = bench.big_endian_keys(pa.chunked_array([[1, 258]]))
    assert keys.to_pylist() == [b"\0" * 7 + b"\x01", b"\0" * 6 + b"\x01\x02"]


def test_duckdb_reference_and_comparison(tmp_path):
    workload = bench.WORKLOADS["filter"]
    values = bench.bid_json_values(bench.generate_bids(300))
    bench.write_json_lines(values, tmp_path / "bids.jsonl")
    _, rows = bench.run_duckdb(workload, tmp_path / "bids.jsonl", tmp_path / "out.jsonl")
    expected = [b for b in map(json.loads, values.to_pylist()) if b["price"] > 50000]
    assert rows.num_rows == len(expected) > 0
    as_sink = bench.parse_json_lines(pa.array(
        [json.dumps({"AUCTION": b["auction"], "BIDDER": b["bidder"], "PRICE_EUR": b["price"] * 0.908,
                     "DATE_TIME": b["date_time"]}) for b in reversed(expected)]))
    assert bench.results_equal(as_sink, rows, workload)
    assert not bench.results_equal(as_sink.slice(1), rows, workload)
