"""No code in data, and no name that leaves the data directory.

The rule: nothing the engine persists is read back with a format that can run code (no pickle,
marshal, shelve, eval, yaml.load), so a file planted under a data dir is at worst wrong data, a
checkpoint that is rebuilt or a clear error; and every name that becomes part of a path (query
ids, topic names, consumer group and service names) matches a strict pattern and the path is
checked to stay inside the data dir, so a hostile name is a statement error and creates nothing
anywhere. Real engines on real files; a real server on a loopback port for the REST case."""
from __future__ import annotations

import ast
import os
import pickle
from pathlib import Path

import httpx
import pytest

from pyksqlite.facade.engine import Engine, TestRecord
from pyksqlite.common.errors import KsqlException, KsqlStatementException
from pyksqlite.log.api import HEADER_TYPE
from pyksqlite.common.names import inside
from pyksqlite.serde.registry.store import SchemaRegistryError
from pyksqlite.shell.server import ServerThread

ROOT = Path(__file__).resolve().parents[2]
PROPERTIES = {"ksql.streams.auto.offset.reset": "earliest", "ksqlite.log.flush": "none",
              "ksqlite.checkpoint.interval.ms": 0}
STREAM = "CREATE STREAM s (k STRING KEY, v INT) WITH (kafka_topic='s', value_format='JSON', partitions=1);"
AGGREGATION = "CREATE TABLE t AS SELECT k, COUNT(*) AS n, SUM(v) AS total, COLLECT_LIST(v) AS vs FROM s GROUP BY k;"
HOSTILE_NAMES = ["../x", "/abs", "a/b", "..", ".", "", "nul\x00byte", "x" * 5000, "ünïcödé", "a\nb", "a b",
                 "..\\..\\x", "%2e%2e"]


class _Payload:
    """Unpickling this creates `marker`: what an attacker's planted pickle would do."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _malicious_pickle(marker: Path) -> bytes:
    return pickle.dumps(_Payload(marker))


def _records(start: int, count: int) -> list[TestRecord]:
    return [TestRecord("s", f"k{i % 5}", {"v": i}, timestamp=i) for i in range(start, start + count)]


def _table(engine: Engine) -> dict:
    return {row[0]: tuple(row[1:]) for row in engine.pull_query("SELECT * FROM t;").rows}


def _files_outside(base: Path, data_dir: Path) -> set[str]:
    return {str(p.relative_to(base)) for p in base.rglob("*") if data_dir not in p.parents and p != data_dir}


# --- no code in data ----------------------------------------------------------------------------

def test_no_module_can_read_code_from_data():
    """The engine, the shell and the grammar import no code-running format and call no eval."""
    forbidden_modules = {"pickle", "cPickle", "_pickle", "marshal", "shelve", "dill", "cloudpickle", "joblib"}
    offenders = []
    for path in [*ROOT.glob("engine/**/*.py"), *ROOT.glob("shell/**/*.py"), *ROOT.glob("grammar/**/*.py")]:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name.split(".")[0] for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module.split(".")[0]]
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("eval", "exec"):
                names = [node.func.id]
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in (
                    "read_pickle", "unsafe_load") or (isinstance(node, ast.Call) and any(
                    k.arg == "allow_pickle" for k in getattr(node, "keywords", []))):
                names = ["pickle"]
            offenders += [f"{path.relative_to(ROOT)}:{node.lineno} {n}" for n in names
                          if n in forbidden_modules or n in ("eval", "exec")]
    assert offenders == []


def test_a_planted_pickle_is_never_loaded_and_the_state_is_rebuilt(tmp_path):
    data = tmp_path / "data"
    marker = tmp_path / "pwned"
    engine = Engine(data, PROPERTIES)
    engine.execute(STREAM + AGGREGATION)
    engine.produce_test_records(_records(0, 40))
    engine.run_until_idle()
    expected_after = None
    engine.close()

    state_dir = data / "state" / "CTAS_T_0"
    blobs = state_dir / "checkpoint.state.blobs"
    assert (state_dir / "checkpoint.state").exists() and any(blobs.iterdir())
    # Every place a checkpoint could be read from holds the payload: the legacy file name, the
    # checkpoint itself, each of its blobs.
    (state_dir / "checkpoint.pickle").write_bytes(_malicious_pickle(marker))
    (state_dir / "checkpoint.state").write_bytes(_malicious_pickle(marker))
    for blob in blobs.iterdir():
        blob.write_bytes(_malicious_pickle(marker))

    engine = Engine(data, PROPERTIES)
    engine.produce_test_records(_records(40, 10))
    engine.run_until_idle()
    assert not marker.exists()
    task = engine.scheduler.tasks["CTAS_T_0"]
    assert task.state == "RUNNING"
    notes = [e["message"] for e in engine.processing_log() if e["type"] == "STATE"]
    assert len(notes) == 1 and str(state_dir / "checkpoint.state") in notes[0] and "rebuilding" in notes[0]
    rebuilt = _table(engine)
    engine.close()

    clean = Engine(tmp_path / "clean", PROPERTIES)
    clean.execute(STREAM + AGGREGATION)
    clean.produce_test_records(_records(0, 50))
    clean.run_until_idle()
    expected_after = _table(clean)
    clean.close()
    assert rebuilt == expected_after
    assert not marker.exists()


def test_a_pickle_in_a_changelog_snapshot_is_never_loaded(tmp_path):
    """Partition tasks keep state in a changelog topic: a planted record there is data too."""
    properties = {**PROPERTIES, "ksqlite.partitioned.tasks": True}
    marker = tmp_path / "pwned"
    engine = Engine(tmp_path / "data", properties)
    engine.execute(STREAM + "CREATE TABLE t AS SELECT k, COUNT(*) AS n FROM s GROUP BY k;")
    engine.produce_test_records(_records(0, 30))
    engine.run_until_idle()
    changelog = next(t for t in engine.log.list_topics() if t.endswith("-changelog"))
    engine.close()

    engine = Engine(tmp_path / "data", properties)
    payload = b"\x00" * 8 + _malicious_pickle(marker)           # a newer "snapshot" made of a pickle
    sequence = (1 << 40).to_bytes(8, "big")
    import pyarrow as pa
    engine.log.append(changelog, pa.table({
        "key": pa.array([b"slot0-chunk0", b"slot0-manifest"], pa.binary()),
        "value": pa.array([sequence + payload[8:], sequence + (1).to_bytes(8, "big")], pa.binary()),
        "timestamp": pa.array([0, 0], pa.int64()), "headers": pa.nulls(2, HEADER_TYPE)}), partition=0)
    engine.close()
    engine = Engine(tmp_path / "data", properties)
    engine.produce_test_records(_records(30, 10))
    engine.run_until_idle()
    assert not marker.exists()
    assert {k: n for k, n in engine.pull_query("SELECT * FROM t;").rows} == {f"k{i}": 8 for i in range(5)}
    engine.close()


def test_a_pickled_schema_registry_file_is_an_error_naming_it(tmp_path):
    marker = tmp_path / "pwned"
    Engine(tmp_path / "data", PROPERTIES).close()
    registry_file = tmp_path / "data" / "schema-registry" / "schema-registry.json"
    registry_file.parent.mkdir(parents=True, exist_ok=True)
    registry_file.write_bytes(_malicious_pickle(marker))
    with pytest.raises(KsqlException, match="schema-registry.json is corrupt"):
        Engine(tmp_path / "data", PROPERTIES)
    assert not marker.exists()


def test_a_command_topic_entry_that_is_not_a_command_is_reported_and_not_run(tmp_path):
    marker = tmp_path / "pwned"
    engine = Engine(tmp_path / "data", PROPERTIES)
    engine.execute(STREAM)
    topic = engine._commands.topic
    import pyarrow as pa
    for value in (_malicious_pickle(marker), b'{"statement": 42}', b"[1, 2]"):
        engine.log.append(topic, pa.table({"key": pa.nulls(1, pa.binary()), "value": pa.array([value], pa.binary()),
                                           "timestamp": pa.array([0], pa.int64()), "headers": pa.nulls(1, HEADER_TYPE)}),
                          partition=0)
    engine.execute(AGGREGATION)
    engine.close()

    engine = Engine(tmp_path / "data", PROPERTIES)
    assert not marker.exists()
    assert "T" in engine.catalog.sources and "CTAS_T_0" in engine.scheduler.tasks   # later entries still ran
    skipped = [e["message"] for e in engine.processing_log() if e["type"] == "COMMAND_TOPIC_CORRUPT"]
    assert len(skipped) == 3 and all("not a valid command" in m and "offset" in m for m in skipped)
    engine.close()


# --- names that become paths ---------------------------------------------------------------------

@pytest.mark.parametrize("name", HOSTILE_NAMES, ids=range(len(HOSTILE_NAMES)))
def test_a_hostile_query_id_is_a_statement_error_and_creates_nothing(tmp_path, name):
    data = tmp_path / "data"
    engine = Engine(data, PROPERTIES)
    engine.execute(STREAM + "CREATE STREAM out (k STRING KEY, v INT) WITH (kafka_topic='out', "
                            "value_format='JSON', partitions=1);")
    before = _files_outside(tmp_path, data)
    state_before = sorted(os.listdir(data / "state")) if (data / "state").exists() else []
    literal = name.replace("'", "''")
    with pytest.raises(KsqlStatementException) as error:
        engine.execute(f"INSERT INTO out WITH (QUERY_ID='{literal}') SELECT * FROM s;")
    assert "Query IDs may" in error.value.message
    assert _files_outside(tmp_path, data) == before
    assert (sorted(os.listdir(data / "state")) if (data / "state").exists() else []) == state_before
    assert engine.scheduler.tasks == {}
    engine.close()


def test_query_ids_follow_ksqldb_rules(tmp_path):
    engine = Engine(tmp_path / "data", PROPERTIES)
    engine.execute(STREAM + "CREATE STREAM out (k STRING KEY, v INT) WITH (kafka_topic='out', "
                            "value_format='JSON', partitions=1);")
    with pytest.raises(KsqlStatementException, match="reserved query ID prefix"):
        engine.execute("INSERT INTO out WITH (QUERY_ID='csas_mine') SELECT * FROM s;")
    result = engine.execute("INSERT INTO out WITH (QUERY_ID='my_Query_1') SELECT * FROM s;")
    assert "MY_QUERY_1" in engine.scheduler.tasks            # upper-cased, as ksqlDB does
    assert "MY_QUERY_1" in result[0].entity["commandStatus"]["message"]
    # A quoted sink name may hold anything: its generated query id holds only [A-Za-z0-9_].
    engine.execute("CREATE STREAM \"we/ird ../name\" WITH (kafka_topic='weird') AS SELECT * FROM s;")
    generated = [q for q in engine.scheduler.tasks if q.startswith("CSAS_")]
    assert generated == ["CSAS_we_ird____name_0"]
    engine.close()


@pytest.mark.parametrize("name", HOSTILE_NAMES, ids=range(len(HOSTILE_NAMES)))
def test_a_hostile_topic_name_is_a_statement_error_and_creates_nothing(tmp_path, name):
    data = tmp_path / "data"
    engine = Engine(data, PROPERTIES)
    engine.execute(STREAM)
    before = _files_outside(tmp_path, data)
    topics = engine.log.list_topics()
    literal = name.replace("'", "''")
    with pytest.raises(KsqlStatementException, match="Topic name"):
        engine.execute(f"CREATE STREAM x (v INT) WITH (kafka_topic='{literal}', value_format='JSON', partitions=1);")
    with pytest.raises(KsqlStatementException, match="Topic name"):
        engine.execute(f"CREATE STREAM y WITH (kafka_topic='{literal}') AS SELECT * FROM s;")
    assert engine.log.list_topics() == topics and set(engine.catalog.sources) == {"S"}
    assert _files_outside(tmp_path, data) == before
    assert sorted(os.listdir(data / "log" / "topics")) == sorted(topics)
    engine.close()


def test_a_hostile_service_id_stops_the_engine_with_a_clear_error(tmp_path):
    data = tmp_path / "data"
    with pytest.raises(KsqlException, match="Invalid ksql.service.id"):
        Engine(data, {**PROPERTIES, "ksql.service.id": "../../escaped"})
    assert _files_outside(tmp_path, data) == set()


def test_a_state_directory_that_links_outside_the_data_dir_is_refused(tmp_path):
    data, outside = tmp_path / "data", tmp_path / "elsewhere"
    outside.mkdir()
    engine = Engine(data, PROPERTIES)
    engine.execute(STREAM + "CREATE STREAM out (k STRING KEY, v INT) WITH (kafka_topic='out', "
                            "value_format='JSON', partitions=1);")
    (data / "state").mkdir(exist_ok=True)
    os.symlink(outside, data / "state" / "LINKED")
    with pytest.raises(KsqlStatementException, match="leaves the data directory"):
        engine.execute("INSERT INTO out WITH (QUERY_ID='linked') SELECT * FROM s;")
    assert list(outside.iterdir()) == []
    with pytest.raises(KsqlStatementException):
        inside(data, "..", "x")
    engine.close()


def test_schema_subjects_are_names_without_control_characters(tmp_path):
    engine = Engine(tmp_path / "data", PROPERTIES)
    for subject in ("", "a\x00b", "line\nbreak", "x" * 1001):
        with pytest.raises(SchemaRegistryError) as error:
            engine.schema_registry.register(subject, '"string"')
        assert error.value.error_code == 42208
    assert engine.schema_registry.register("../odd but valid-value", '"string"') >= 1   # not a path
    engine.close()


def test_a_hostile_query_id_over_rest_is_a_400_statement_error(tmp_path):
    engine = Engine(tmp_path / "data", PROPERTIES)
    try:
        engine.execute(STREAM + "CREATE STREAM out (k STRING KEY, v INT) WITH (kafka_topic='out', "
                                "value_format='JSON', partitions=1);")
        with ServerThread(engine, port=0, send_timeout=3.0) as server, \
                httpx.Client(base_url=server.url, timeout=30) as http:
            response = http.post("/ksql", json={"ksql": "INSERT INTO out WITH (QUERY_ID='../../../../some/dir') "
                                                        "SELECT * FROM s;"})
        assert response.status_code == 400
        body = response.json()
        assert body["@type"] == "statement_error"
        assert "Query IDs may contain only alphanumeric characters and '_'. Got: '../../../../SOME/DIR'" \
            in body["message"]
        assert not (tmp_path / "some").exists()
    finally:
        engine.close()
