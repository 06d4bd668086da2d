"""Running QTT cases end to end against a fake engine: statements, inputs, outputs, post checks,
expected exceptions, crashes and hangs, and the process pool."""
import json
import time
from pathlib import Path

from engine.errors import KsqlException
from shell.runners import qtt


class FakeLog:
    def __init__(self, topics):
        self.topics = topics

    def list_topics(self):
        return sorted(self.topics)


class FakeEngine:
    """Copies every record produced to topic `input` into topic `OUTPUT` (value doubled) once a
    statement mentioning OUTPUT has run. Statements containing BAD fail; HANG sleeps."""
    instances = []

    def __init__(self, data_dir, properties):
        self.properties = properties
        self.topics = {}
        self.log = FakeLog(self.topics)
        self.pending = []
        self.closed = False
        FakeEngine.instances.append(self)

    def create_topic(self, name, partitions=1):
        self.topics.setdefault(name, [])

    def execute(self, sql):
        if "BAD" in sql:
            raise KsqlException("Line: 1, Col: 1: something is BAD")
        if "HANG" in sql:
            time.sleep(30)
        if "OUTPUT" in sql:
            self.topics.setdefault("OUTPUT", [])

    def produce_test_records(self, records):
        for record in records:
            self.topics[record.topic].append(record)
            self.pending.append(record)

    def run_until_idle(self, timeout=None):
        for record in self.pending:
            if "OUTPUT" in self.topics:
                if record.value == "crash":
                    raise RuntimeError("processing blew up")
                doubled = {"V": record.value["v"] * 2}
                self.topics["OUTPUT"].append(type(record)(topic="OUTPUT", key=record.key,
                                                          value=doubled, timestamp=record.timestamp))
        self.pending = []

    def read_topic_records(self, topic):
        return list(self.topics[topic])

    def describe_source(self, name):
        if name != "OUTPUT":
            raise KsqlException(f"Source {name} does not exist.")
        return {"name": "OUTPUT", "type": "STREAM", "keyFormat": "KAFKA", "valueFormat": "JSON",
                "fields": [{"name": "K", "schema": {"type": "STRING"}, "fieldType": "KEY"},
                           {"name": "V", "schema": {"type": "INTEGER"}}]}

    def close(self):
        self.closed = True


CREATE = "CREATE STREAM OUTPUT AS SELECT * FROM input;"


def case(**spec):
    spec.setdefault("statements", [CREATE])
    return qtt.QttCase("f.json", spec.get("name", "c"), spec, area="core")


def run(test_case, **options):
    return qtt.run_case(test_case, qtt.RunOptions(**options), FakeEngine)


def inputs(*values):
    return [{"topic": "input", "key": "k", "value": {"v": v}, "timestamp": i} for i, v in enumerate(values)]


def outputs(*values):
    return [{"topic": "OUTPUT", "key": "k", "value": {"V": v}} for v in values]


def test_passing_case_reports_outputs_and_closes_engine():
    result = run(case(inputs=inputs(1, 2), outputs=outputs(2, 4)))
    assert (result.status, result.reason) == ("passed", None)
    assert [o["value"] for o in result.outputs] == [{"V": 2}, {"V": 4}]
    assert all(o["topic"] == "OUTPUT" for o in result.outputs)
    engine = FakeEngine.instances[-1]
    assert engine.closed
    assert engine.properties["ksql.service.id"] == "some.ksql.service.id"


def test_case_properties_override_base_config():
    run(case(properties={"ksql.streams.auto.offset.reset": "latest", "x": 1}))
    properties = FakeEngine.instances[-1].properties
    assert properties["ksql.streams.auto.offset.reset"] == "latest" and properties["x"] == 1


def test_output_mismatch_fails_with_reason():
    result = run(case(inputs=inputs(1, 2), outputs=outputs(2, 5)))
    assert result.status == "failed" and "record 1" in result.reason and "value" in result.reason
    assert run(case(inputs=inputs(1), outputs=outputs(2, 4))).reason.endswith("expected 2 records, got 1")


def test_output_topic_matched_case_insensitively():
    expected = [dict(record, topic="output") for record in outputs(2)]
    assert run(case(inputs=inputs(1), outputs=expected)).status == "passed"


def test_unexpected_exception_is_an_error():
    result = run(case(statements=["CREATE BAD;"]))
    assert result.status == "error" and "something is BAD" in result.error


def test_processing_exception_is_an_error():
    result = run(case(inputs=[{"topic": "input", "value": "crash"}], outputs=[]))
    assert result.status == "error" and "processing blew up" in result.error


def test_expected_exception():
    expected = {"type": "io.confluent.ksql.util.KsqlStatementException", "message": "is BAD"}
    passed = run(case(statements=["CREATE BAD;"], expectedException=expected))
    assert passed.status == "passed"
    assert passed.note and "KsqlException" in passed.note  # the type differs: verbose-only note
    wrong = run(case(statements=["CREATE BAD;"], expectedException={"message": "other"}))
    assert wrong.status == "failed" and "other" in wrong.reason
    missing = run(case(expectedException={"message": "is BAD"}))
    assert missing.status == "failed" and "none was raised" in missing.reason


def test_post_sources_and_blacklist():
    good = {"name": "OUTPUT", "type": "stream", "schema": "K STRING KEY, V INT", "keyFormat": {"format": "KAFKA"}}
    assert run(case(post={"sources": [good]})).status == "passed"
    wrong_schema = run(case(post={"sources": [dict(good, schema="K STRING KEY, V BIGINT")]}))
    assert wrong_schema.status == "failed" and "schema" in wrong_schema.reason
    missing = run(case(post={"sources": [{"name": "NOPE", "type": "table"}]}))
    assert missing.status == "failed" and "does not exist" in missing.reason
    blacklisted = run(case(post={"topics": {"blacklist": "OUT.*"}}))
    assert blacklisted.status == "failed" and "blacklist" in blacklisted.reason


def test_disabled_case_is_skipped():
    skipped = qtt.run_case(qtt.QttCase("f.json", "c", {}, enabled=False), engine_factory=FakeEngine)
    assert skipped.status == "skipped"


def test_hanging_case_times_out():
    started = time.monotonic()
    result = run(case(statements=["HANG"]), case_timeout=0.5)
    assert result.status == "error" and "timed out" in result.error
    assert time.monotonic() - started < 5
    assert FakeEngine.instances[-1].closed


def test_crashing_engine_factory_is_an_error():
    def broken_factory(data_dir, properties):
        raise RuntimeError("cannot start")
    result = qtt.run_case(case(), engine_factory=broken_factory)
    assert result.status == "error" and "cannot start" in result.error


def write_file(directory: Path, name: str, tests: list[dict]) -> Path:
    path = directory / name
    path.write_text(json.dumps({"tests": tests}))
    return path


def test_run_paths_keeps_file_order_with_a_pool(tmp_path):
    # The real engine is not needed: cases that fail to load or run still come back, in order.
    write_file(tmp_path, "b.json", [{"name": "b1", "statements": [], "enabled": False}])
    write_file(tmp_path, "a.json", [{"name": "a1", "statements": [], "enabled": False},
                                    {"name": "a2", "statements": [], "enabled": False}])
    (tmp_path / "c.json").write_text("not json")
    serial = qtt.run_paths([tmp_path], qtt.RunOptions())
    pooled = qtt.run_paths([tmp_path], qtt.RunOptions(), jobs=2)
    assert [r.line for r in serial] == [r.line for r in pooled] == [
        "a.json :: a1", "a.json :: a2", "b.json :: b1", "c.json :: <file>"]
    assert [r.status for r in pooled] == ["skipped", "skipped", "skipped", "error"]
