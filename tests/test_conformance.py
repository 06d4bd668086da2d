"""The conformance ratchet: every QTT case listed in tests/conformance/baseline.txt must still pass.

The baseline only grows (`ksqlite qtt --update-baseline tests/conformance/baseline.txt FILES...`).
Only the files holding baseline cases are run, and only those cases.
"""
from pathlib import Path

import pytest

from shell.runners import qtt

BASELINE = Path(__file__).parent / "conformance" / "baseline.txt"


def baseline_lines() -> list[str]:
    return qtt.read_baseline(BASELINE)


def test_baseline_is_sorted_unique_and_well_formed():
    lines = baseline_lines()
    assert lines == sorted(set(lines))
    for line in lines:
        file, name = qtt.parse_baseline_line(line)
        assert file.endswith(".json") and name, f"malformed baseline line: {line!r}"


def test_baseline_cases_still_pass():
    lines = baseline_lines()
    files = sorted({qtt.parse_baseline_line(line)[0] for line in lines})
    paths = [qtt.qtt_files_dir() / name for name in files]
    missing = [str(p) for p in paths if not p.exists()]
    assert not missing, f"QTT files not found (../shared/ksql-qtt beside the checkout): {missing[:3]}"
    results = qtt.run_paths(paths, qtt.RunOptions(only=frozenset(lines)), jobs=2)
    passed = {r.line for r in results if r.status == "passed"}
    regressions = [f"{r.line}: {r.reason}" for r in results if r.line not in passed]
    not_found = sorted(set(lines) - {r.line for r in results})
    assert not regressions and not not_found, "\n".join(
        ["baseline cases no longer passing:"] + regressions + [f"{n}: case not found" for n in not_found])
