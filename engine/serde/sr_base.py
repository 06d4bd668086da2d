"""What the schema-registry formats (AVRO, PROTOBUF, JSON_SR) share.

A serde knows its columns and, through `FormatInfo.properties`, its registry (a token for
`pyksqlite.serde.registry.lookup`), its subject and the schema id it writes with (`schemaId`, when a
CREATE or a sink fixed it). Writing uses that schema, else the subject's latest, else the schema
generated from the columns (registered on first use, as Confluent's serializers auto-register).
Reading uses each record's writer schema (the id in its header), decoded by the format's codec
into that schema's Arrow shape, then reshaped into the columns (`schema_translate.coerce`).
Records are grouped by schema id so each group decodes in one call.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import pyarrow as pa

from pyksqlite.common.errors import KsqlException
from pyksqlite.common.schema import Column
from pyksqlite.serde import confluent_wire as wire
from pyksqlite.serde.api import DecodeResult, FormatInfo
from pyksqlite.serde.schema_translate import coerce, find_field
from pyksqlite.common.types import to_arrow


class Codec:
    """One schema's payload codec. `arrow_type` is the shape `decode` returns."""
    arrow_type: pa.DataType
    schema_text: str

    def decode(self, payloads: list[bytes]) -> tuple[pa.Array, dict[int, str]]:
        raise NotImplementedError

    def encode(self, values: pa.Array) -> pa.Array:
        raise NotImplementedError


class RegistrySerde:
    schema_type = "AVRO"
    uses_registry = True

    def __init__(self, fmt: FormatInfo, columns: list[Column], is_key: bool, wrapped: bool):
        props = dict(fmt.properties)
        self.fmt = fmt
        self.columns = columns
        self.is_key = is_key
        self.wrapped = wrapped
        self.subject = props.get("subject")
        self.fixed_id = int(props["schemaId"]) if props.get("schemaId") else None
        self.full_name = props.get("fullSchemaName")
        self.registry = None
        if self.uses_registry and props.get("registry"):
            from pyksqlite.serde.registry import lookup
            self.registry = lookup(props["registry"])
        self._writer: Optional[tuple[Optional[int], Codec]] = None
        self._readers: dict[int, Codec] = {}

    # --- format specifics ---------------------------------------------------------------
    def generated_schema(self) -> str:
        raise NotImplementedError

    def codec(self, schema_text: str, references: dict[str, str]) -> Codec:
        raise NotImplementedError

    # --- schemas ------------------------------------------------------------------------
    def writer(self) -> tuple[Optional[int], Codec]:
        if self._writer is None:
            self._writer = self._resolve_writer()
        return self._writer

    def _resolve_writer(self) -> tuple[Optional[int], Codec]:
        if self.registry is None:
            return None, self.codec(self.generated_schema(), {})
        if self.fixed_id is not None:
            registered = self.registry.by_id(self.fixed_id)
        else:
            registered = self.registry.latest(self.subject) if self.subject else None
            if registered is None:
                text = self.generated_schema()
                schema_id = self.registry.register(self.subject or "ksqlite-anonymous", text, self.schema_type)
                return schema_id, self.codec(text, {})
        return registered.id, self.codec(registered.schema, self.registry.resolve_references(registered))

    def reader(self, schema_id: int) -> Codec:
        if schema_id not in self._readers:
            writer_id, writer_codec = self._writer or (None, None)
            if writer_id == schema_id:
                self._readers[schema_id] = writer_codec
            else:
                registered = self.registry.by_id(schema_id)
                self._readers[schema_id] = self.codec(registered.schema, self.registry.resolve_references(registered))
        return self._readers[schema_id]

    # --- batches ------------------------------------------------------------------------
    def deserialize(self, data: pa.Array) -> DecodeResult:
        if isinstance(data, pa.ChunkedArray):
            data = data.combine_chunks()
        n = len(data)
        errors: dict[int, str] = {}
        if self.registry is not None:
            ids, starts, ends, bad = wire.read_headers(data)
            for row in np.nonzero(bad)[0]:
                errors[int(row)] = wire.UNKNOWN_MAGIC
        else:
            offsets, _, valid = wire.binary_parts(data)
            ids = np.where(valid, 0, -1)
            starts, ends = offsets[:-1], offsets[1:]
        _, buffer, _ = wire.binary_parts(data)
        parts: list[tuple[np.ndarray, list[pa.Array]]] = []
        for schema_id in np.unique(ids[ids >= 0]):
            rows = np.nonzero(ids == schema_id)[0]
            try:
                codec = self.reader(int(schema_id)) if self.registry is not None else self.writer()[1]
            except Exception as error:  # noqa: BLE001 - no schema: the whole group is undecodable
                for r in rows:
                    errors[int(r)] = _message(error)
                continue
            self._decode_rows(codec, buffer, starts, ends, rows, parts, errors)
        return DecodeResult(self._assemble(n, parts, errors), errors)

    def _decode_rows(self, codec, buffer, starts, ends, rows: np.ndarray, parts: list, errors: dict) -> None:
        """Decode `rows` in one go; if that raises (a record no codec check caught, a value the
        columns cannot hold), halves of them, so that only the records that fail are lost."""
        try:
            decode_batch = getattr(codec, "decode_batch", None)
            if decode_batch is not None:
                decoded, bad_rows = decode_batch(buffer, starts[rows], ends[rows])
            else:
                raw = buffer.tobytes()
                decoded, bad_rows = codec.decode([raw[starts[r]:ends[r]] for r in rows])
            arrays = self._to_columns(decoded)
        except Exception as error:  # noqa: BLE001 - isolate the records that raise it
            if len(rows) == 1:
                errors[int(rows[0])] = _message(error)
                return
            middle = len(rows) // 2
            self._decode_rows(codec, buffer, starts, ends, rows[:middle], parts, errors)
            self._decode_rows(codec, buffer, starts, ends, rows[middle:], parts, errors)
            return
        for i, message in bad_rows.items():
            errors[int(rows[i])] = message
        parts.append((rows, arrays))

    def _to_columns(self, decoded: pa.Array) -> list[pa.Array]:
        if not self.wrapped:
            return [coerce(decoded, self.columns[0].type)]
        if not pa.types.is_struct(decoded.type):
            raise KsqlException(f"Expected a record/message for {len(self.columns)} columns, got {decoded.type}")
        names = [decoded.type.field(i).name for i in range(decoded.type.num_fields)]
        out = []
        for column in self.columns:
            index = find_field(names, column.name)
            out.append(pa.nulls(len(decoded), to_arrow(column.type)) if index is None
                       else coerce(decoded.field(index), column.type))
        return out

    def _assemble(self, n: int, parts: list, errors: dict[int, str]) -> pa.Table:
        names = [c.name for c in self.columns]
        if len(parts) == 1 and len(parts[0][0]) == n and not errors:
            return pa.table(parts[0][1], names=names)
        position = np.full(n, -1, dtype=np.int64)   # row -> index in the concatenation
        covered = 0
        chunks: list[list[pa.Array]] = [[] for _ in self.columns]
        for rows, arrays in parts:
            position[rows] = np.arange(covered, covered + len(rows))
            covered += len(rows)
            for i, a in enumerate(arrays):
                chunks[i].append(a)
        for row in errors:
            position[row] = -1
        take = pa.array(np.where(position >= 0, position, 0))
        null_rows = pa.array(position < 0)
        columns = []
        for column, pieces in zip(self.columns, chunks):
            typ = to_arrow(column.type)
            joined = pa.concat_arrays(pieces) if pieces else pa.nulls(0, typ)
            if len(joined) == 0:
                columns.append(pa.nulls(n, typ))
                continue
            taken = joined.take(take)
            import pyarrow.compute as pc
            columns.append(pc.if_else(null_rows, pa.nulls(n, typ), taken) if (position < 0).any() else taken)
        return pa.table(columns, names=names)

    def serialize(self, columns: pa.Table) -> pa.Array:
        schema_id, codec = self.writer()
        if self.wrapped:
            arrays = [columns.column(i).combine_chunks() for i in range(columns.num_columns)]
            values = pa.StructArray.from_arrays(arrays, names=[c.name for c in self.columns]) if arrays else \
                pa.nulls(columns.num_rows, pa.struct([]))
        else:
            values = columns.column(0).combine_chunks()
        payloads = codec.encode(values)
        if self.is_key and columns.num_columns:
            # a key whose columns are all null is a null key (ksqlDB's null GenericKey)
            import pyarrow.compute as pc
            all_null = columns.column(0).is_null()
            for i in range(1, columns.num_columns):
                all_null = pc.and_(all_null, columns.column(i).is_null())
            all_null = all_null.combine_chunks() if isinstance(all_null, pa.ChunkedArray) else all_null
            if pc.any(all_null).as_py():
                payloads = pc.if_else(all_null, pa.nulls(len(payloads), pa.binary()), payloads)
        return self.frame(payloads, schema_id)

    def frame(self, payloads: pa.Array, schema_id: Optional[int]) -> pa.Array:
        if schema_id is None:
            return payloads
        return wire.prefix_all(payloads, wire.header(schema_id))

    # --- the test/PRINT edge --------------------------------------------------------------
    def writer_columns(self) -> tuple[list[Column], bool]:
        """The columns of the schema this serde writes with (QTT values convert through it)."""
        return self.columns, self.wrapped


def _message(error: Exception) -> str:
    return str(getattr(error, "message", None) or error) or type(error).__name__
