"""The AVRO format: Confluent-framed Avro records, decoded and encoded with fastavro.

fastavro has no batch API for schemaless records, so a record is one call into its compiled
reader/writer; everything around it is per batch: headers are split with numpy, the decoded
values become one Arrow array in one `pa.array` call (C++), and the reshaping into the columns'
types is Arrow compute (`schema_translate.coerce`).
"""
from __future__ import annotations

import io
import json
from typing import Any

import fastavro
import numpy as np
import pyarrow as pa

from pyksqlite.common.schema import Column
from pyksqlite.serde.schema_translate import (AvroNames, avro_arrow_type, avro_columns, avro_schema, load_avro,
                                           reshape)
from pyksqlite.serde import avro_vector
from pyksqlite.serde.sr_base import Codec, RegistrySerde
from pyksqlite.common.types import SqlType


class AvroCodec(Codec):
    def __init__(self, schema_text: str, references: dict[str, str]):
        self.schema_text = schema_text
        named: dict[str, Any] = {}
        for text in references.values():
            fastavro.parse_schema(load_avro(text), named_schemas=named)
        self.schema = load_avro(schema_text)
        self.parsed = fastavro.parse_schema(self.schema, named_schemas=named)
        names = AvroNames(self.schema)
        for text in references.values():
            names.types.update(AvroNames(load_avro(text)).types)
        self.names = names
        self.arrow_type = avro_arrow_type(self.schema, names)
        self.vector_plan = avro_vector.plan(self.schema)

    def decode_batch(self, buffer, starts, ends) -> tuple[pa.Array, dict[int, str]]:
        """Decode buffer[starts[i]:ends[i]] for every i: numpy for flat records, fastavro else
        (and for the rows the vectorized walk could not parse exactly)."""
        if self.vector_plan is None:
            raw = buffer.tobytes()
            return self.decode([raw[a:b] for a, b in zip(starts, ends)])
        decoded, bad = avro_vector.decode(buffer, starts, ends, self.vector_plan, self.arrow_type)
        if not bad.any():
            return decoded, {}
        rows = np.nonzero(bad)[0]
        raw = buffer.tobytes()
        exact, errors = self.decode([raw[starts[r]:ends[r]] for r in rows])
        merged = pa.concat_arrays([decoded, exact]).take(
            pa.array(np.where(bad, len(decoded) + np.cumsum(bad) - 1, np.arange(len(decoded)))))
        return merged, {int(rows[i]): message for i, message in errors.items()}

    def decode(self, payloads: list[bytes]) -> tuple[pa.Array, dict[int, str]]:
        read, schema = fastavro.schemaless_reader, self.parsed
        try:
            values = [read(io.BytesIO(p), schema, None) for p in payloads]
            errors: dict[int, str] = {}
        except Exception:  # noqa: BLE001 - find the bad records one by one
            values, errors = [], {}
            for i, p in enumerate(payloads):
                try:
                    values.append(read(io.BytesIO(p), schema, None))
                except Exception as error:  # noqa: BLE001
                    values.append(None)
                    errors[i] = f"Error deserializing Avro message: {error}"
        return pa.array(values, type=self.arrow_type), errors

    def encode(self, values: pa.Array) -> pa.Array:
        shaped = reshape(values, self.arrow_type)
        if self.vector_plan is not None and shaped.null_count == 0:
            try:
                return avro_vector.encode(shaped, self.vector_plan)
            except ValueError:
                pass   # e.g. a null for a non-optional field: fastavro reports it per record
        write, schema = fastavro.schemaless_writer, self.parsed
        out = []
        buffer = io.BytesIO()
        rows = shaped.to_pylist()
        if _has_map(self.arrow_type):   # Arrow gives maps as lists of pairs; Avro wants dicts
            rows = [_dicts(v, self.arrow_type) for v in rows]
        for value in rows:
            if value is None:   # a null value is a null record (a tombstone), as Connect writes it
                out.append(None)
                continue
            buffer.seek(0)
            buffer.truncate()
            write(buffer, schema, value)
            out.append(buffer.getvalue())
        return pa.array(out, pa.binary())

    def columns(self, wrapped, is_key: bool) -> tuple[list[tuple[str, SqlType]], bool]:
        return avro_columns(self.schema_text, wrapped, is_key)


def _has_map(t: pa.DataType) -> bool:
    if pa.types.is_map(t):
        return True
    if pa.types.is_list(t):
        return _has_map(t.value_type)
    if pa.types.is_struct(t):
        return any(_has_map(t.field(i).type) for i in range(t.num_fields))
    return False


def _dicts(value: Any, t: pa.DataType) -> Any:
    if value is None:
        return None
    if pa.types.is_map(t):
        return {k: _dicts(v, t.item_type) for k, v in value}
    if pa.types.is_list(t):
        return [_dicts(v, t.value_type) for v in value]
    if pa.types.is_struct(t):
        return {t.field(i).name: _dicts(value.get(t.field(i).name), t.field(i).type) for i in range(t.num_fields)}
    return value


class AvroSerde(RegistrySerde):
    schema_type = "AVRO"

    def generated_schema(self) -> str:
        return json.dumps(avro_schema(self.columns, self.wrapped, self.full_name))

    def codec(self, schema_text: str, references: dict[str, str]) -> Codec:
        return AvroCodec(schema_text, references)

    def writer_columns(self) -> tuple[list[Column], bool]:
        _, codec = self.writer()
        columns, wrapped = codec.columns(self.wrapped, self.is_key)
        return [Column(n, t) for n, t in columns], wrapped
