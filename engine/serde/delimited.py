"""The DELIMITED format: one CSV row per record, as ksqlDB's delimited serde reads and writes it.

Decoding parses all records at once with Arrow's CSV reader (quoting with `"`, a doubled quote
inside quotes, the configured delimiter), then converts the text fields to the column types in
DuckDB. An empty field is NULL. Only primitive types exist in this format.
"""
from __future__ import annotations

import csv
import io

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from pyksqlite.common.schema import Column
from pyksqlite.serde.api import DecodeResult
from pyksqlite.common.duck import quote_string, run_sql
from pyksqlite.serde.json_format import cast_decoded, json_ready_sql
from pyksqlite.common.types import SqlType

_NUMERIC_SQL = {"INTEGER": "INTEGER", "BIGINT": "BIGINT", "DOUBLE": "DOUBLE", "DATE": "INTEGER",
                "TIME": "INTEGER", "TIMESTAMP": "BIGINT"}


def _text_to_value_sql(x: str, t: SqlType) -> str:
    """The expression turning CSV field text `x` into a value of `t` (NULL if it cannot)."""
    if t.base == "STRING":
        return x
    if t.base == "BOOLEAN":
        return f"(lower({x}) = 'true')"   # Java's Boolean.parseBoolean: anything else is false
    if t.base == "BYTES":
        return f"try(from_base64({x}))"
    sql_type = _NUMERIC_SQL.get(t.base) or f"DECIMAL({t.precision}, {t.scale})"
    return f"TRY_CAST({x} AS {sql_type})"


def _value_to_text_sql(x: str, t: SqlType, delimiter: str, first: bool = False) -> str:
    """The expression writing value `x` of type `t` as a CSV field (NULL for a null value)."""
    if t.base == "STRING":
        return _csv_quoted_sql(x, delimiter, first)
    if t.base in ("BYTES", "DATE", "TIME", "TIMESTAMP"):
        # The same wire form as JSON: base64, days, ms of day, epoch ms.
        return _csv_quoted_sql(f"CAST({json_ready_sql(x, t)} AS VARCHAR)", delimiter, first)
    text = f"CAST({x} AS VARCHAR)"
    return _csv_quoted_sql(text, delimiter, first) if first else text   # a number quotes only as '-' first


def _csv_quoted_sql(text: str, delimiter: str, first: bool) -> str:
    """Commons CSV's minimal quoting, as ksqlDB writes: a record's first field unless it starts
    with a letter or digit; any field starting with a character up to '#', ending with one up to
    ' ', or holding the delimiter, a quote or a line break."""
    specials = " OR ".join(f"contains({text}, {quote_string(ch)})" for ch in sorted({delimiter, '"', "\n", "\r"}))
    edges = f"({text} <> '' AND (ord({text}) <= 35 OR ord(right({text}, 1)) <= 32))"
    leading = f" OR NOT regexp_matches({text}, '^[0-9A-Za-z]')" if first else ""
    quote, doubled = quote_string('"'), quote_string('""')
    return (f"(CASE WHEN {specials} OR {edges}{leading} "
            f"THEN {quote} || replace({text}, {quote}, {doubled}) || {quote} ELSE {text} END)")


class DelimitedSerde:
    """DELIMITED serde for a list of primitive columns and a one-character delimiter."""

    def __init__(self, columns: list[Column], delimiter: str = ","):
        self.columns = columns
        self.delimiter = delimiter
        fields = [f"f{i}" for i in range(len(columns))]
        values = ", ".join(f"{_text_to_value_sql(f, c.type)} AS c{i}" for i, (f, c) in enumerate(zip(fields, columns)))
        failed = " OR ".join(f"({f} IS NOT NULL AND c{i} IS NULL)" for i, f in enumerate(fields))
        self._convert_sql = f"SELECT *, {failed} AS __failed FROM (SELECT *, {values} FROM fields)"
        texts = [f"coalesce({_value_to_text_sql(f'c{i}', c.type, delimiter, i == 0)}, '')"
                 for i, c in enumerate(columns)]
        row = f" || {quote_string(delimiter)} || ".join(texts)
        self._encode_sql = (f"SELECT CASE WHEN {' AND '.join(f'c{i} IS NULL' for i in range(len(columns)))} "
                            f"AND {len(columns)} = 1 THEN NULL ELSE {row} END AS line FROM rows")

    def deserialize(self, data: pa.Array) -> DecodeResult:
        if isinstance(data, pa.ChunkedArray):
            data = data.combine_chunks()
        present = np.flatnonzero(data.is_valid().to_numpy(zero_copy_only=False))
        records = data.take(pa.array(present, pa.int64()))
        fields, errors = self._parse_fields(records)
        converted = run_sql(self._convert_sql, fields=fields)
        errors.update(self._conversion_errors(converted))
        columns = [self._scatter(converted.column(f"c{i}").combine_chunks(), present, len(data), errors, c)
                   for i, c in enumerate(self.columns)]
        errors = {int(present[row]): message for row, message in errors.items()}
        return DecodeResult(pa.table(columns, names=[c.name for c in self.columns]), errors)

    def serialize(self, columns: pa.Table) -> pa.Array:
        renamed = columns.rename_columns([f"c{i}" for i in range(columns.num_columns)])
        lines = run_sql(self._encode_sql, rows=renamed).column(0).combine_chunks()
        return lines.cast(pa.string()).cast(pa.binary())

    def _parse_fields(self, records: pa.Array) -> tuple[pa.Table, dict[int, str]]:
        """Text fields of every record (by record position) and the records that do not parse."""
        try:
            fields = self._parse_all(records)
            if fields.num_rows == len(records):
                return fields, {}
        except (pa.ArrowInvalid, ValueError):
            pass
        return self._parse_separately(records)

    def _parse_all(self, records: pa.Array) -> pa.Table:
        lines = pc.binary_join_element_wise(records.cast(pa.binary()), b"", b"\n")
        buffer = lines.buffers()[2] if len(lines) else pa.py_buffer(b"")
        start, end = _value_range(lines)
        names = [f"f{i}" for i in range(len(self.columns))]
        return pacsv.read_csv(
            pa.BufferReader(buffer.slice(start, end - start)),
            read_options=pacsv.ReadOptions(column_names=names, use_threads=False),
            parse_options=pacsv.ParseOptions(delimiter=self.delimiter, quote_char='"', double_quote=True,
                                             escape_char=False, newlines_in_values=True,
                                             ignore_empty_lines=False),
            convert_options=pacsv.ConvertOptions(column_types={n: pa.string() for n in names},
                                                 null_values=[""], strings_can_be_null=True,
                                                 quoted_strings_can_be_null=True))

    def _parse_separately(self, records: pa.Array) -> tuple[pa.Table, dict[int, str]]:
        """Error path: one Python step per record to find those with the wrong number of fields."""
        rows, errors = [], {}
        width = len(self.columns)
        for index, raw in enumerate(records.to_pylist()):
            row = _parse_one(raw, self.delimiter)
            if row is None or len(row) != width:
                got = "an unparseable record" if row is None else len(row)
                errors[index] = f"Column count mismatch on deserialization. expected: {width}, got: {got}"
                row = [None] * width
            rows.append([field if field else None for field in row])
        table = pa.table([pa.array([r[i] for r in rows], pa.string()) for i in range(width)],
                         names=[f"f{i}" for i in range(width)])
        return table, errors

    def _conversion_errors(self, converted: pa.Table) -> dict[int, str]:
        failed = converted.column("__failed").combine_chunks()
        rows = pc.indices_nonzero(failed.fill_null(False)).to_pylist()
        return {row: self._describe_failure(converted, row) for row in rows}

    def _describe_failure(self, converted: pa.Table, row: int) -> str:
        for i, column in enumerate(self.columns):
            text, value = converted.column(f"f{i}")[row].as_py(), converted.column(f"c{i}")[row].as_py()
            if text is not None and value is None:
                return f"Failed to parse {column.type} from \"{text}\" for column {column.name}"
        return "Failed to parse the record"

    @staticmethod
    def _scatter(values: pa.Array, present: np.ndarray, length: int, errors: dict[int, str],
                 column: Column) -> pa.Array:
        """Values of the present records, placed back at their rows; failed records get nulls."""
        if errors:
            keep = np.ones(len(values), dtype=bool)
            keep[list(errors)] = False
            values = pc.if_else(pa.array(keep), values, pa.nulls(len(values), values.type))
        positions = np.full(length, -1, dtype=np.int64)
        positions[present] = np.arange(len(present))
        indices = pa.array(positions, mask=positions < 0)
        return cast_decoded(values.take(indices), column.type)


def _value_range(binary: pa.Array) -> tuple[int, int]:
    if len(binary) == 0:
        return 0, 0
    offsets = np.frombuffer(binary.buffers()[1], dtype=np.int32, count=len(binary) + 1, offset=binary.offset * 4)
    return int(offsets[0]), int(offsets[-1])


def _parse_one(raw: bytes, delimiter: str) -> list[str] | None:
    try:
        rows = list(csv.reader(io.StringIO(raw.decode("utf-8"), newline=""), delimiter=delimiter, quotechar='"',
                               doublequote=True, strict=True))
    except (csv.Error, UnicodeDecodeError):
        return None
    if not rows:
        return [""]
    return rows[0] if len(rows) == 1 else None
