"""Defence in depth: every DuckDB connection the engine runs SQL on is locked down, so that even
SQL text an attacker wrote could not reach the machine.

The rule: a connection of `pyksqlite.common.duck` (the only place that opens one) reads no file, writes
none, attaches no database, installs or loads no extension, and refuses every configuration
change (SET, RESET, PRAGMA), from the first statement the engine runs on it. Checked three ways:
each attack run straight on engine connections (the layer under the quoting); the connections
that real queries ran on, captured mid-query; and statements whose names and literals carry
each attack, through the real Engine and once through the real REST server. The canary file
outside the data dir is never read (its content appears in no output) nor written.
"""
from __future__ import annotations

import json
import re
import secrets
import threading
import time
from pathlib import Path

import duckdb
import pytest

from pyksqlite.common import duck
from pyksqlite.facade.engine import Engine, TestRecord
from tests.security.hostile import ident, lit
from tests.shell.conftest import http, ksql, server  # noqa: F401 (the real server on a loopback port)

PROPS = {"ksql.streams.auto.offset.reset": "earliest", "ksqlite.log.flush": "none"}
LOCKED = {"enable_external_access": "false", "autoinstall_known_extensions": "false",
          "autoload_known_extensions": "false", "lock_configuration": "true", "threads": "1", "TimeZone": "UTC"}


class Canary:
    def __init__(self, tmp_path):
        self.outside = tmp_path / "outside"
        self.outside.mkdir()
        self.path = self.outside / "canary.txt"
        self.secret = "CANARY-" + secrets.token_hex(12)
        self.path.write_text(self.secret)
        (self.outside / "canary.csv").write_text(f"a,b\n{self.secret},1\n")
        (self.outside / "canary.json").write_text(json.dumps({"a": self.secret}))

    def attacks(self) -> dict[str, str]:
        return attack_sql(self.outside, self.path)

    def assert_untouched(self, *outputs) -> None:
        assert self.secret not in repr(outputs)
        assert self.path.read_text() == self.secret
        assert sorted(p.name for p in self.outside.iterdir()) == ["canary.csv", "canary.json", "canary.txt"]


def attack_sql(out: Path, canary: Path) -> dict[str, str]:
    """SQL that would read, write, attach, install, load or reconfigure if DuckDB let it."""
    return {
        "read_text": f"SELECT content FROM read_text('{canary}')",
        "read_blob": f"SELECT content FROM read_blob('{canary}')",
        "read_csv": f"SELECT * FROM read_csv('{out / 'canary.csv'}')",
        "read_json": f"SELECT * FROM read_json('{out / 'canary.json'}')",
        "read_parquet": f"SELECT * FROM read_parquet('{canary}')",
        "replacement_scan": f"SELECT * FROM '{out / 'canary.csv'}'",
        "glob": f"SELECT * FROM glob('{out}/*')",
        "copy_to": f"COPY (SELECT 42) TO '{out / 'written.csv'}'",
        "export": f"EXPORT DATABASE '{out / 'exported'}'",
        "attach": f"ATTACH '{out / 'attached.db'}' AS attached",
        "install": "INSTALL httpfs",
        "load": "LOAD httpfs",
        "set": "SET threads = 8",
        "set_access": "SET enable_external_access = true",
        "set_unlock": "SET lock_configuration = false",
        "reset": "RESET enable_external_access",
        "pragma": "PRAGMA threads = 8",
        "set_temp_dir": f"SET temp_directory = '{out}'",
    }


ATTACKS = list(attack_sql(Path("/x"), Path("/x/c")))
# How DuckDB words a refusal by the lockdown (not some other failure, such as no network).
REFUSED = re.compile(r"disabled (by|through) configuration|the configuration has been locked")


@pytest.fixture
def canary(tmp_path):
    return Canary(tmp_path)


@pytest.fixture
def engine(tmp_path):
    engine = Engine(tmp_path / "data", dict(PROPS))
    yield engine
    engine.close()


def settings_of(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    names = ", ".join(f"'{name}'" for name in LOCKED)
    rows = con.sql(f"SELECT name, value FROM duckdb_settings() WHERE name IN ({names})").fetchall()
    return dict(rows)


def in_new_thread(fn):
    """`fn()` run on a new thread (its own engine connection, as a query task gets)."""
    result = {}
    thread = threading.Thread(target=lambda: result.update(value=fn()))
    thread.start()
    thread.join(30)
    return result["value"]


# ---- the connections themselves ---------------------------------------------------------------

def test_a_new_connection_is_locked_before_first_use():
    assert in_new_thread(lambda: settings_of(duck.connection())) == LOCKED


@pytest.mark.parametrize("attack", ATTACKS)
def test_each_attack_fails_on_an_engine_connection(canary, attack):
    sql = canary.attacks()[attack]

    def run():
        con = duck.connection()
        try:
            relation = con.sql(sql)
            return "ran", relation.fetchall() if relation is not None else None
        except duckdb.Error as error:
            return "refused", str(error)
        finally:
            assert settings_of(con) == LOCKED

    outcome, detail = in_new_thread(run)
    assert outcome == "refused" and REFUSED.search(detail), f"{attack}: {outcome}: {detail}"
    canary.assert_untouched(detail)


def test_the_connections_real_queries_run_on_are_locked(engine, canary):
    """Capture each connection a query ran its SQL on (from inside a Python UDF it calls), then
    try every attack on it."""
    captured = {}

    def spy(values):
        con = getattr(duck._local, "con", None)
        if con is not None:
            captured[threading.get_ident()] = con
        return values

    engine.register_function(spy, params=["STRING"], returns="STRING", name="lockdown_spy")
    engine.create_topic("src")
    engine.execute("CREATE TABLE t (k STRING PRIMARY KEY, v STRING) WITH (kafka_topic='src', value_format='JSON');")
    engine.execute("CREATE TABLE out WITH (kafka_topic='out') AS SELECT k, LOCKDOWN_SPY(v) AS v FROM t;")
    engine.start()   # the persistent query runs on the engine's own threads
    engine.produce_test_records([TestRecord("src", "a", {"V": "x"}, 1)])
    deadline = time.monotonic() + 20
    while not engine.read_topic_records("out") and time.monotonic() < deadline:
        time.sleep(0.02)
    pulled = engine.pull_query("SELECT k, LOCKDOWN_SPY(v) AS v FROM out WHERE k = 'a';")
    assert pulled.rows == [["a", "x"]]
    assert threading.get_ident() in captured and len(captured) >= 2   # the pull query's and a task's
    for con in captured.values():
        assert settings_of(con) == LOCKED
        for attack, sql in canary.attacks().items():
            with pytest.raises(duckdb.Error, match=REFUSED):
                con.sql(sql).fetchall()
    canary.assert_untouched(engine.read_topic_records("out"), pulled.rows)


# ---- statements that carry the attacks ------------------------------------------------------

def breakouts(sql: str) -> list[str]:
    """Texts that would run `sql` if pasted inside a quoted SQL string or identifier."""
    return [f"x') || ({sql}) || ('", f"x'); {sql}; --", f'x" := ({sql}), "y', f'x"; {sql}; /*']


def test_statements_carrying_each_attack_keep_it_as_data(engine, canary):
    texts = [text for sql in canary.attacks().values() for text in breakouts(sql)]
    fields = [f"f{i} {t}" for i, t in enumerate(texts)]
    struct_type = "STRUCT<" + ", ".join(f"{ident(f)} STRING" for f in fields) + ">"
    engine.create_topic("src")
    engine.execute(f"CREATE STREAM s (k STRING KEY, st {struct_type}, v STRING) "
                   "WITH (kafka_topic='src', value_format='JSON');")
    derefs = [f"st->{ident(f)} AS d{i}" for i, f in enumerate(fields)]
    literals = [f"CONCAT(v, {lit(t)}) AS l{i}" for i, t in enumerate(texts)]
    aliases = [f"v AS {ident('a' + t)}" for t in texts[:20]]
    engine.execute(f"CREATE STREAM out WITH (kafka_topic='out') AS SELECT k, {', '.join(derefs + literals + aliases)} "
                   f"FROM s WHERE v <> {lit(texts[0])};")
    engine.produce_test_records([TestRecord("src", "k", {"ST": dict(zip(fields, texts)), "V": "v"}, 1)])
    engine.run_until_idle()
    [record] = engine.read_topic_records("out")
    for i, t in enumerate(texts):
        assert record.value[f"D{i}"] == t and record.value[f"L{i}"] == "v" + t
    assert all(record.value["a" + t] == "v" for t in texts[:20])
    after = in_new_thread(lambda: settings_of(duck.connection()))
    assert after == LOCKED
    canary.assert_untouched(record, engine.processing_log())


def test_the_rest_server_keeps_attacks_as_data(http, canary):  # noqa: F811
    read = canary.attacks()["read_text"]
    field, text = f"a') || ({read}) || ('", f"x'); {canary.attacks()['copy_to']}; --"
    created = ksql(http, f"CREATE TABLE t (k STRING PRIMARY KEY, st STRUCT<a STRING, {ident(field)} STRING>) "
                         "WITH (kafka_topic='t', partitions=1, value_format='JSON');"
                         f"CREATE TABLE v AS SELECT k, st->{ident(field)} AS got, "
                         f"CONCAT(st->{ident(field)}, {lit(text)}, SUBSTRING(CAST(RANDOM() AS STRING), 1, 0)) AS both "
                         "FROM t;"
                         f"INSERT INTO t (k, st) VALUES ({lit(text)}, STRUCT(a := 'plain', {ident(field)} := {lit(text)}));")
    assert created.status_code == 200, created.text
    deadline = time.monotonic() + 20
    while True:   # the CTAS materializes the row in the background
        pulled = http.post("/query", json={"ksql": f"SELECT * FROM v WHERE k = {lit(text)};"})
        if '"row"' in pulled.text or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    rows = [line for line in json.loads(pulled.text) if "row" in line]
    assert [r["row"]["columns"] for r in rows] == [[text, text, text + text]]
    pushed = http.post("/query", json={"ksql": f"SELECT st->{ident(field)} AS got FROM t EMIT CHANGES LIMIT 1;",
                                       "streamsProperties": {"ksql.streams.auto.offset.reset": "earliest"}})
    assert [line["row"]["columns"] for line in json.loads(pushed.text) if "row" in line] == [[text]]
    canary.assert_untouched(created.text, pulled.text, pushed.text)
