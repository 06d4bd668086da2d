"""The conformance ratchet: every QTT case listed in tests/conformance/baseline.txt must still pass
(query-validation tests on the engine, REST query-validation tests against a real server).

The baseline only grows (`ksqlite qtt --extension-dir tests/conformance/udfs --update-baseline
tests/conformance/baseline.txt FILES...`).
Only the files holding baseline cases are run, and only those cases.
"""
import concurrent.futures
from pathlib import Path

import pytest

from pyksqlite.shell.runners import qtt, rest_qtt
from tests.reference import qtt_root

BASELINE = Path(__file__).parent / "conformance" / "baseline.txt"
# ksqlDB's test functions (TEST_UDF, TEST_UDAF...), loaded as ksqlDB's harness loads its jar.
TEST_FUNCTIONS = Path(__file__).parent / "conformance" / "udfs"


def baseline_lines() -> list[str]:
    return qtt.read_baseline(BASELINE)


def _locate(name: str) -> Path:
    """A QTT file by name: a query-validation test, else a REST query-validation test."""
    path = qtt.qtt_files_dir() / name
    rest = qtt.qtt_files_dir().parent / "rest-query-validation-tests" / name
    return path if path.exists() or not rest.exists() else rest


def test_baseline_is_sorted_unique_and_well_formed():
    lines = baseline_lines()
    assert lines == sorted(set(lines))
    for line in lines:
        file, name = qtt.parse_baseline_line(line)
        assert file.endswith(".json") and name, f"malformed baseline line: {line!r}"


@pytest.mark.timeout(900)   # ~100 s on 2 idle cores; a loaded machine must not fail it
def test_baseline_cases_still_pass():
    qtt_root()
    lines = baseline_lines()
    files = sorted({qtt.parse_baseline_line(line)[0] for line in lines})
    paths = [_locate(name) for name in files]
    missing = [str(p) for p in paths if not p.exists()]
    assert not missing, f"QTT files not found (KSQLITE_SHARED_QTT): {missing[:3]}"
    options = qtt.RunOptions(only=frozenset(lines), extension_dir=str(TEST_FUNCTIONS))
    rest = [p for p in paths if rest_qtt.is_rest_file(p)]      # against a real server on loopback
    with concurrent.futures.ProcessPoolExecutor(max_workers=1) as pool:   # beside the other cases
        rest_results = pool.submit(rest_qtt.run_paths, rest, options)
        results = qtt.run_paths([p for p in paths if p not in rest], options, jobs=2) + rest_results.result()
    passed = {r.line for r in results if r.status == "passed"}
    regressions = [f"{r.line}: {r.reason}" for r in results if r.line not in passed]
    not_found = sorted(set(lines) - {r.line for r in results})
    assert not regressions and not not_found, "\n".join(
        ["baseline cases no longer passing:"] + regressions + [f"{n}: case not found" for n in not_found])
