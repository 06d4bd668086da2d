"""AVRO, PROTOBUF, PROTOBUF_NOSR and JSON_SR serdes, the embedded registry, and engine-level
inference and sink registration."""
from __future__ import annotations

import io
import json
from decimal import Decimal

import fastavro
import pyarrow as pa
import pytest

from pyksqlite.facade.engine import Engine, TestRecord
from pyksqlite.common.errors import KsqlException
from pyksqlite.serde.registry import SchemaRegistry, SchemaRegistryError, register_handle
from pyksqlite.common.schema import Column
from pyksqlite.serde import avro_vector
from pyksqlite.serde.api import FormatInfo
from pyksqlite.serde.avro_format import AvroCodec
from pyksqlite.serde.factory import create_serde
from pyksqlite.serde.testing import decode_test_value, encode_test_value
from pyksqlite.common.types import BIGINT, BOOLEAN, DOUBLE, INTEGER, STRING, TIMESTAMP, array, decimal, map_of, struct

COLUMNS = [Column("ID", BIGINT), Column("NAME", STRING), Column("PRICE", decimal(6, 2)),
           Column("TAGS", array(STRING)), Column("ATTRS", map_of(STRING, INTEGER)),
           Column("INNER", struct([("F1", BOOLEAN), ("F2", DOUBLE)])), Column("TS", TIMESTAMP)]
ROWS = pa.table({
    "ID": pa.array([1, None], pa.int64()), "NAME": ["a", None],
    "PRICE": pa.array([Decimal("12.34"), None], pa.decimal128(6, 2)),
    "TAGS": pa.array([["x", None], None], pa.list_(pa.string())),
    "ATTRS": pa.array([[("k", 1)], None], pa.map_(pa.string(), pa.int32())),
    "INNER": pa.array([{"F1": True, "F2": 1.5}, None], pa.struct([("F1", pa.bool_()), ("F2", pa.float64())])),
    "TS": pa.array([1000, None], pa.timestamp("ms")),
})


def _format(name: str, registry=None, topic: str = "t") -> FormatInfo:
    props = (("registry", register_handle(registry)), ("subject", f"{topic}-value")) if registry else ()
    return FormatInfo(name, properties=props)


@pytest.mark.parametrize("name", ["AVRO", "JSON_SR", "PROTOBUF"])
def test_round_trip_through_the_registry(name):
    registry = SchemaRegistry()
    serde = create_serde(_format(name, registry), COLUMNS, is_key=False)
    encoded = serde.serialize(ROWS)
    assert encoded[0].as_py()[0] == 0                      # Confluent's magic byte
    assert registry.subjects() == ["t-value"]              # auto-registered on first write
    decoded = serde.deserialize(encoded)
    assert not decoded.errors
    first = decoded.columns.slice(0, 1).to_pylist()[0]
    assert first["ID"] == 1 and first["NAME"] == "a" and first["PRICE"] == Decimal("12.34")
    # proto3 repeated scalars have no nulls: a null element is written as the default
    assert first["TAGS"] == (["x", ""] if name == "PROTOBUF" else ["x", None])
    assert first["INNER"] == {"F1": True, "F2": 1.5}
    assert dict(first["ATTRS"]) == {"k": 1}


def test_protobuf_nosr_has_no_header_and_defaults_scalars():
    serde = create_serde(FormatInfo("PROTOBUF_NOSR"), [Column("I", INTEGER), Column("S", STRING)], False)
    encoded = serde.serialize(pa.table({"I": pa.array([None], pa.int32()), "S": [None]}))
    assert encoded[0].as_py() == b""                        # proto3: defaults are not written
    assert serde.deserialize(encoded).columns.to_pylist() == [{"I": 0, "S": ""}]


def test_bad_magic_byte_is_a_per_record_error():
    registry = SchemaRegistry()   # handles are weak: the engine (here the test) owns the registry
    serde = create_serde(_format("AVRO", registry), [Column("A", BIGINT)], False)
    good = serde.serialize(pa.table({"A": pa.array([5], pa.int64())}))
    decoded = serde.deserialize(pa.array([good[0].as_py(), b"\x01junk", None]))
    assert decoded.errors == {1: "Unknown magic byte!"}
    assert decoded.columns.column("A").to_pylist() == [5, None, None]


def test_vectorized_avro_matches_fastavro():
    schema = {"type": "record", "name": "R", "fields": [
        {"name": "a", "type": ["null", "long"]}, {"name": "b", "type": "string"},
        {"name": "c", "type": ["double", "null"]}, {"name": "d", "type": "boolean"}]}
    codec = AvroCodec(json.dumps(schema), {})
    assert codec.vector_plan is not None
    rows = [{"a": 1, "b": "héllo", "c": 1.5, "d": True}, {"a": None, "b": "", "c": None, "d": False},
            {"a": -2 ** 40, "b": "x" * 300, "c": -2.0, "d": True}]
    payloads = []
    for row in rows:
        out = io.BytesIO()
        fastavro.schemaless_writer(out, codec.parsed, row)
        payloads.append(out.getvalue())
    assert codec.encode(pa.array(rows, codec.arrow_type)).to_pylist() == payloads
    data = pa.array(payloads + [b"\x05"])
    from pyksqlite.serde.confluent_wire import binary_parts
    offsets, buffer, _ = binary_parts(data)
    decoded, errors = codec.decode_batch(buffer, offsets[:-1], offsets[1:])
    assert decoded.to_pylist()[:3] == rows and list(errors) == [3]
    assert avro_vector.plan({"type": "record", "name": "X", "fields": [{"name": "m", "type": {"type": "map", "values": "int"}}]}) is None


def test_avro_rejects_what_it_cannot_hold():
    with pytest.raises(KsqlException, match="Avro only supports MAPs with STRING keys"):
        create_serde(FormatInfo("AVRO"), [Column("M", map_of(INTEGER, STRING))], False)
    with pytest.raises(KsqlException, match="Illegal initial character: 1A"):
        create_serde(FormatInfo("AVRO"), [Column("1A", STRING)], False)


def test_registry_versions_ids_and_backward_compatibility(tmp_path):
    registry = SchemaRegistry(tmp_path)
    v1 = json.dumps({"type": "record", "name": "R", "fields": [{"name": "a", "type": "int"}]})
    v2 = json.dumps({"type": "record", "name": "R", "fields": [{"name": "a", "type": "long"},
                                                                {"name": "b", "type": ["null", "string"], "default": None}]})
    bad = json.dumps({"type": "record", "name": "R", "fields": [{"name": "c", "type": "string"}]})
    assert registry.register("s-value", v1) == 1
    assert registry.register("s-value", v1) == 1          # same schema: same id
    assert registry.register("s-value", v2) == 2
    with pytest.raises(SchemaRegistryError) as raised:
        registry.register("s-value", bad)
    assert raised.value.error_code == 409
    assert registry.register("other-value", v1) == 1      # ids are global per schema
    reopened = SchemaRegistry(tmp_path)                   # durable in the data dir
    assert reopened.versions("s-value") == [1, 2] and reopened.latest("s-value").id == 2


def test_engine_infers_columns_and_registers_sinks(tmp_path):
    engine = Engine(tmp_path, properties={"ksqlite.log.flush": "none"})
    try:
        engine.create_topic("input")
        engine.schema_registry.register("input-value", json.dumps({"type": "record", "name": "blah", "fields": [
            {"name": "c1", "type": "int"}, {"name": "c2", "type": {"type": "enum", "name": "E", "symbols": ["A", "B"]}}]}))
        engine.execute("CREATE STREAM INPUT WITH (kafka_topic='input', value_format='AVRO');"
                       "CREATE STREAM OUTPUT WITH (value_format='PROTOBUF') AS SELECT * FROM INPUT;")
        fields = [f["name"] for f in engine.describe_source("INPUT")["fields"]]
        assert fields == ["C1", "C2"]
        assert "OUTPUT-value" in engine.schema_registry.subjects()
        engine.produce_test_records([TestRecord("input", value={"c1": 7, "c2": "B"})])
        engine.run_until_idle()
        assert [r.value for r in engine.read_topic_records("OUTPUT")] == [{"C1": 7, "C2": "B"}]
    finally:
        engine.close()


def test_test_values_convert_through_the_topic_schema():
    registry = SchemaRegistry()
    columns = [Column("C1", INTEGER)]
    fmt = _format("AVRO", registry, "in")
    data = encode_test_value({"c1": 3}, fmt, columns, False)
    assert data[:1] == b"\x00" and decode_test_value(data, fmt, columns, False) == {"C1": 3}


def test_a_value_its_column_cannot_hold_costs_only_its_record():
    # A record written with a newer schema (V as long) and a value beyond the stream's INT column:
    # converting the decoded batch fails for that one value; the others of the batch still decode.
    registry = SchemaRegistry()
    serde = create_serde(_format("AVRO", registry), [Column("V", INTEGER)], False)
    serde.serialize(pa.table({"V": pa.array([1], pa.int32())}))           # registers V as int
    long_schema = {"type": "record", "name": "KsqlDataSourceSchema",
                   "fields": [{"name": "V", "type": ["null", "long"], "default": None}]}
    schema_id = registry.register("t-value", json.dumps(long_schema))

    def record(value):
        buffer = io.BytesIO()
        fastavro.schemaless_writer(buffer, fastavro.parse_schema(long_schema), {"V": value})
        return b"\x00" + schema_id.to_bytes(4, "big") + buffer.getvalue()
    decoded = serde.deserialize(pa.array([record(1), record(2 ** 40), record(3)], pa.binary()))
    assert list(decoded.errors) == [1]
    assert decoded.columns.column("V").to_pylist() == [1, None, 3]
