"""The results of a QTT run: one `CaseResult` per case, the JSON report, the console summary
per area, and the baseline of passing cases (the conformance ratchet: lines are only added).
"""
from __future__ import annotations

import base64
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Optional

import orjson


@dataclass
class CaseResult:
    file: str
    name: str
    status: str               # passed | failed | error | skipped
    outputs: list[dict] = field(default_factory=list)   # the records the run really produced
    error: Optional[str] = None        # the error the run really raised (compared, if expected)
    reason: Optional[str] = None
    schema_registry: bool = False
    area: Optional[str] = None
    note: Optional[str] = None  # verbose-only detail (e.g. exception type differs)
    error_type: Optional[str] = None   # the class of the error raised
    expected_error: Optional[dict] = None   # the case's expectedException / expectedError

    @property
    def line(self) -> str:
        return f"{self.file} :: {self.name}"

    def to_report(self) -> dict:
        report = {"file": self.file, "name": self.name, "status": self.status,
                  "outputs": self.outputs, "error": self.error, "reason": self.reason,
                  "schema_registry": self.schema_registry, "area": self.area}
        if self.error_type is not None:
            report["error_type"] = self.error_type
        if self.expected_error is not None:
            report["expected_error"] = self.expected_error
        return report


def summarize(results: list[CaseResult]) -> dict[str, dict[str, int]]:
    """Per area: passed/total over the cases that ran, and the same leaving out schema-registry cases."""
    summary: dict[str, dict[str, int]] = {}
    for result in results:
        if result.status == "skipped":
            continue
        counts = summary.setdefault(result.area or "other",
                                    {"passed": 0, "total": 0, "passed_no_sr": 0, "total_no_sr": 0})
        passed = int(result.status == "passed")
        counts["passed"] += passed
        counts["total"] += 1
        if not result.schema_registry:
            counts["passed_no_sr"] += passed
            counts["total_no_sr"] += 1
    return dict(sorted(summary.items()))


def build_report(results: list[CaseResult]) -> dict:
    return {"tests": [r.to_report() for r in results], "summary": summarize(results)}


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return orjson.Fragment(str(value)) if value.is_finite() else str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    return str(value)


def write_report(results: list[CaseResult], path: str | Path) -> None:
    options = orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS
    Path(path).write_bytes(orjson.dumps(build_report(results), default=_json_default, option=options))


def console_lines(results: list[CaseResult], verbose: bool = False) -> list[str]:
    """Failing cases (verbose), per-area counts, and the closing `N passed, N failed` line."""
    lines = []
    if verbose:
        for r in results:
            if r.status in ("failed", "error"):
                lines.append(f"{r.status.upper()} {r.line}: {r.reason}")
            elif r.note:
                lines.append(f"passed {r.line}: {r.note}")
    for area, c in summarize(results).items():
        lines.append(f"{area}: {c['passed']}/{c['total']} passed "
                     f"(without schema registry: {c['passed_no_sr']}/{c['total_no_sr']})")
    count = {s: sum(r.status == s for r in results) for s in ("passed", "failed", "error", "skipped")}
    if count["error"]:
        lines.append(f"{count['error']} of the failed raised unexpected errors")
    lines.append(f"{count['passed']} passed, {count['failed'] + count['error']} failed, "
                 f"{count['skipped']} skipped")
    return lines


def read_baseline(path: str | Path) -> list[str]:
    path = Path(path)
    if not path.exists():
        return []
    return [line.rstrip("\n") for line in path.read_text().splitlines() if line.strip()]


def update_baseline(path: str | Path, results: list[CaseResult]) -> int:
    """Add the passing cases to the baseline (never removes a line); returns how many were added."""
    current = set(read_baseline(path))  # case names may end in spaces: lines are kept whole
    passing = {r.line for r in results if r.status == "passed"}
    Path(path).write_text("".join(f"{line}\n" for line in sorted(current | passing)))
    return len(passing - current)


def parse_baseline_line(line: str) -> tuple[str, str]:
    file, _, name = line.partition(" :: ")
    return file, name
