"""QTT files as cases: loading a file, ksqlDB's expansion of a case (one per format, one per
config value), which cases need a schema registry, and where the files are.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterable, Optional

SCHEMA_REGISTRY_FORMATS = ("AVRO", "PROTOBUF", "PROTOBUF_NOSR", "JSON_SR")
_SR_FORMAT_IN_SQL = re.compile(r"FORMAT\s*=\s*'(" + "|".join(SCHEMA_REGISTRY_FORMATS) + r")'",
                               re.IGNORECASE)
# The read-only reference material sits beside the project checkout: ../shared/ksql-qtt.
SHARED_QTT_DIR = Path(os.environ.get("KSQLITE_SHARED_QTT",
                                     Path(__file__).resolve().parents[2].parent / "shared" / "ksql-qtt"))
DEFAULT_AREAS_FILE = SHARED_QTT_DIR / "AREAS.md"


@dataclass
class QttCase:
    """One case after expansion (one per format and per config value)."""
    file: str                 # basename, e.g. "filter.json"
    name: str
    spec: dict[str, Any]      # the case's fields, with {FORMAT} / {CONFIG} substituted
    enabled: bool = True
    schema_registry: bool = False
    area: Optional[str] = None

    @property
    def line(self) -> str:
        """The case's identity in baselines and filters."""
        return f"{self.file} :: {self.name}"


def load_areas(areas_file: Optional[Path] = None) -> dict[str, str]:
    """AREAS.md: `## area (dir/)` headings, each followed by a comma-separated list of file stems."""
    path = Path(areas_file) if areas_file else DEFAULT_AREAS_FILE
    if not path.exists():
        return {}
    areas, current = {}, None
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if line.startswith("## "):
            current = line[3:].split()[0]
        elif current and line and not line.startswith("#"):
            areas.update({stem.strip(): current for stem in line.split(",") if stem.strip()})
    return areas


def load_cases(path: str | Path, areas: Optional[dict[str, str]] = None) -> list[QttCase]:
    """Every expanded case of one QTT file."""
    path = Path(path)
    document = _load_exact_json(path)
    area = (areas or {}).get(path.stem)
    cases = []
    for raw in document.get("tests", []):
        cases.extend(expand_case(path.name, raw, area))
    return cases


def _load_exact_json(path: Path) -> dict:
    """Parse with the stdlib so non-integer numbers stay exact Decimals (1.10 keeps its scale)."""
    return json.loads(path.read_text(), parse_float=Decimal)


def expand_case(file: str, raw: dict, area: Optional[str] = None) -> list[QttCase]:
    """ksqlDB's expansion: one case per `format` entry, then one per `config` value."""
    variants = [(raw["name"], raw)]
    if raw.get("format"):
        variants = [(f"{raw['name']} - {fmt}", _with_format(raw, fmt)) for fmt in raw["format"]]
    if raw.get("config"):
        variants = [(f"{name} - {value}", _with_config(spec, value))
                    for name, spec in variants for value in raw["config"]]
    return [QttCase(file=file, name=name, spec=spec, enabled=raw.get("enabled", True) is not False,
                    schema_registry=uses_schema_registry(spec, raw.get("format")), area=area)
            for name, spec in variants]


def _with_format(raw: dict, fmt: str) -> dict:
    spec = dict(raw)
    spec["statements"] = [s.replace("{FORMAT}", fmt) for s in raw.get("statements", [])]
    spec["expanded_format"] = fmt
    return spec


def _with_config(raw: dict, value: Any) -> dict:
    spec = dict(raw)
    spec["properties"] = {k: (value if v == "{CONFIG}" else v)
                          for k, v in (raw.get("properties") or {}).items()}
    return spec


def uses_schema_registry(spec: dict, formats: Optional[list] = None) -> bool:
    """Whether the case needs a schema-registry format (AVRO, PROTOBUF, PROTOBUF_NOSR, JSON_SR)."""
    fmt = spec.get("expanded_format")
    if fmt and str(fmt).upper() in SCHEMA_REGISTRY_FORMATS:
        return True
    if any(_SR_FORMAT_IN_SQL.search(s) for s in spec.get("statements", [])):
        return True
    topic_formats = [t.get(k) for t in spec.get("topics") or [] for k in ("keyFormat", "valueFormat", "format")]
    property_values = list((spec.get("properties") or {}).values())
    return any(str(v).upper() in SCHEMA_REGISTRY_FORMATS for v in topic_formats + property_values)


def discover_files(paths: Iterable[str | Path]) -> list[Path]:
    """The QTT files named, directories expanded to their *.json files (sorted)."""
    files: list[Path] = []
    for path in map(Path, paths):
        files.extend(sorted(path.glob("*.json")) if path.is_dir() else [path])
    return files


def qtt_files_dir() -> Path:
    """Where the QTT files are (KSQLITE_QTT_DIR overrides the shared reference copy)."""
    return Path(os.environ.get("KSQLITE_QTT_DIR", SHARED_QTT_DIR / "query-validation-tests"))
