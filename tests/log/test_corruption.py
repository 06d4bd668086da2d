"""Damaged bytes on disk are an error that names topic, partition and offset, never a skip.

The rule: every batch's CRC is checked before its records are used, in every segment; a read
returns the records before damaged ones and raises `CorruptRecordError` at them; records after
them stay readable; nothing damaged is cut off except a torn tail (see test_crash_recovery).
"""
import logging

import pytest

from pyksqlite.facade.engine import Engine
from pyksqlite.log import EmbeddedLog, TopicConfig
from pyksqlite.log.api import CorruptRecordError, OffsetOutOfRangeError
from pyksqlite.log.embedded.scan import scan
from pyksqlite.log.embedded.segment import HEADER, base_offset_of
from pyksqlite.runtime.query_task import ERROR, RUNNING
from tests.log.log_test_data import records, values_of


def segments(directory, topic="t", partition=0):
    return sorted((directory / "topics" / topic / str(partition)).glob("*.log"))


def flip_byte(path, batch_index, where="payload"):
    """Flip one byte of the batch_index-th batch of a segment file (in its payload, or its magic)."""
    entry = scan(path, verify_crc=False, base_offset=base_offset_of(path)).entries[batch_index]
    at = entry.position + (HEADER.size + (entry.size - HEADER.size) // 2 if where == "payload" else 0)
    data = bytearray(path.read_bytes())
    data[at] ^= 0xFF
    path.write_bytes(bytes(data))


def log_of_batches(directory, batches=5, segment_bytes=1):
    """A closed log of `batches` batches of 3 records (one segment each with segment_bytes=1)."""
    log = EmbeddedLog(directory)
    log.create_topic("t", TopicConfig(segment_bytes=segment_bytes))
    for b in range(batches):
        log.append("t", records(["k"] * 3, [f"{b}.{i}" for i in range(3)]))
    log.close()


def test_a_flipped_byte_in_an_old_segment_is_an_error_naming_where(tmp_path):
    log_of_batches(tmp_path)
    oldest_but_one = segments(tmp_path)[1]
    flip_byte(oldest_but_one, 0)
    damaged = oldest_but_one.read_bytes()
    log = EmbeddedLog(tmp_path)
    assert values_of(log.read("t", 0, 0)) == ["0.0", "0.1", "0.2"]  # stops before the damage
    with pytest.raises(CorruptRecordError) as raised:
        log.read("t", 0, 3)
    error = raised.value
    assert (error.topic, error.partition, error.offset, error.last_offset) == ("t", 0, 3, 5)
    assert "topic 't' partition 0 at offsets 3-5" in str(error) and "checksum" in str(error)
    with pytest.raises(CorruptRecordError):
        log.read("t", 0, 4)  # inside it too
    assert values_of(log.read("t", 0, 6))[:3] == ["2.0", "2.1", "2.2"]  # after it: readable
    assert oldest_but_one.read_bytes() == damaged  # nothing cut
    log.close()


def test_a_consumer_gets_the_records_before_the_damage_then_the_error(tmp_path):
    log_of_batches(tmp_path)
    flip_byte(segments(tmp_path)[2], 0)
    log = EmbeddedLog(tmp_path)
    consumer = log.consumer("g", ["t"])
    assert values_of(consumer.poll()) == ["0.0", "0.1", "0.2", "1.0", "1.1", "1.2"]
    with pytest.raises(CorruptRecordError, match="offsets 6-8"):
        consumer.poll()
    consumer.seek("t", 0, 9)  # a reader may choose to skip it, explicitly
    assert values_of(consumer.poll())[:1] == ["3.0"]
    log.close()


def test_a_damaged_header_in_the_middle_of_a_segment_is_reported_and_the_batches_after_it_read(tmp_path, caplog):
    log_of_batches(tmp_path, segment_bytes=64 * 1024 * 1024)  # one segment, the active one
    path = segments(tmp_path)[0]
    flip_byte(path, 2, where="magic")
    size = path.stat().st_size
    log = EmbeddedLog(tmp_path)
    assert "offsets 6-8 are damaged" in caplog.text
    assert path.stat().st_size == size  # reported, not truncated
    assert log.end_offsets("t") == [15]
    with pytest.raises(CorruptRecordError, match="topic 't' partition 0 at offsets 6-8"):
        log.read("t", 0, 6)
    assert values_of(log.read("t", 0, 9)) == ["3.0", "3.1", "3.2", "4.0", "4.1", "4.2"]
    log.append("t", records(["k"], ["5.0"]))
    assert log.read("t", 0, 15).column("offset").to_pylist() == [15]
    log.close()


def test_compaction_and_timestamp_lookups_do_not_pass_over_damage(tmp_path, caplog):
    log = EmbeddedLog(tmp_path)
    log.create_topic("t", TopicConfig(segment_bytes=1, cleanup_policy="compact"))
    for b in range(4):
        log.append("t", records(["k"] * 3, [f"{b}.{i}" for i in range(3)], [b * 10 + i for i in range(3)]))
    log.close()
    flip_byte(segments(tmp_path)[1], 0)
    before = [p.read_bytes() for p in segments(tmp_path)]
    log = EmbeddedLog(tmp_path)
    with caplog.at_level(logging.ERROR):
        log.run_maintenance(now_ms=10**9)
    assert "cleaning topic 't' partition 0 failed" in caplog.text
    assert [p.read_bytes() for p in segments(tmp_path)] == before
    with pytest.raises(CorruptRecordError):
        log.offset_for_timestamp("t", 0, 11)
    assert log.offset_for_timestamp("t", 0, 21) == 7
    log.close()


def test_a_committed_offset_past_the_end_is_an_error_not_a_silent_wait(tmp_path):
    log = EmbeddedLog(tmp_path)
    log.create_topic("t")
    log.append("t", records(["k"] * 5, list("abcde")))
    log.consumer("g", ["t"]).commit({("t", 0): 100})
    with pytest.raises(OffsetOutOfRangeError) as raised:
        log.consumer("g", ["t"]).poll()
    assert (raised.value.topic, raised.value.partition, raised.value.offset, raised.value.end) == ("t", 0, 100, 5)
    assert "position 100 of topic 't' partition 0 is past the end" in str(raised.value)
    log.close()


# --- above the log: queries and the command topic ---------------------------------------------

STREAMS = "".join(f"CREATE STREAM s{n} (id INT KEY, v STRING) WITH (kafka_topic='t{n}', partitions=1, "
                  f"value_format='JSON');" for n in (1, 2))


def test_a_query_reading_damaged_records_errors_with_where_and_the_others_run_on(tmp_path):
    engine = Engine(tmp_path)
    engine.execute(STREAMS)
    for batch in range(3):  # three appends: three batches per topic
        engine.execute("".join(f"INSERT INTO s{n} (id, v) VALUES ({batch * 10 + i}, 'x');"
                               for n in (1, 2) for i in range(3)))
    engine.close()
    flip_byte(segments(tmp_path / "log", "t1")[0], 1)
    engine = Engine(tmp_path, {"ksql.streams.auto.offset.reset": "earliest"})
    engine.execute("CREATE STREAM o1 AS SELECT * FROM s1; CREATE STREAM o2 AS SELECT * FROM s2;")
    engine.run_until_idle(timeout=30)
    tasks = {t.plan.sink.sink.name: t for t in engine.scheduler.tasks.values()}
    assert tasks["O1"].state == ERROR
    assert "CorruptRecordError" in tasks["O1"].error and "topic 't1' partition 0 at offsets 3-5" in tasks["O1"].error
    assert tasks["O2"].state == RUNNING
    assert sorted(r.key for r in engine.read_topic_records("O1")) == [0, 1, 2]
    assert sorted(r.key for r in engine.read_topic_records("O2")) == [0, 1, 2, 10, 11, 12, 20, 21, 22]
    engine.close()


COMMANDS = "".join(f"CREATE STREAM c{n} (id INT KEY, v STRING) WITH (kafka_topic='c{n}', partitions=1, "
                   f"value_format='JSON');" for n in range(3))


@pytest.mark.parametrize("damaged", [1, 2])
def test_a_damaged_command_is_an_error_naming_its_offset_and_the_others_still_replay(tmp_path, caplog, damaged):
    engine = Engine(tmp_path)
    engine.execute(COMMANDS)
    engine.close()
    command_topic = [p for p in (tmp_path / "log" / "topics").iterdir() if p.name.endswith("command_topic")][0]
    flip_byte(segments(tmp_path / "log", command_topic.name)[0], damaged)
    engine = Engine(tmp_path)
    for n in range(3):
        assert (engine.catalog.get_source(f"C{n}") is not None) == (n != damaged)
    assert f"offset {damaged}" in caplog.text
    corrupt = [e for e in engine.processing_log() if e["type"] == "COMMAND_TOPIC_CORRUPT"]
    assert len(corrupt) == 1 and f"at offset {damaged}" in corrupt[0]["message"]
    engine.close()


def test_a_read_from_a_compaction_gap_just_before_damage_raises_rather_than_skip_to_the_end(tmp_path):
    log = EmbeddedLog(tmp_path)
    log.create_topic("t", TopicConfig(segment_bytes=1, cleanup_policy="compact"))
    for keys in (["a", "k", "k"], ["x", "y", "z"], ["k"], ["w"]):
        log.append("t", records(keys, keys))
    log.run_maintenance(now_ms=10**9)  # offsets 1 and 2 (older k) are compacted away
    log.close()
    flip_byte(segments(tmp_path)[1], 0)  # offsets 3-5
    log = EmbeddedLog(tmp_path)
    with pytest.raises(CorruptRecordError, match="offsets 3-5"):
        log.read("t", 0, 1)
    log.close()


@pytest.mark.parametrize("query", ["CREATE STREAM o1 AS SELECT * FROM s1;",
                                   "CREATE TABLE o1 AS SELECT id, COUNT(*) AS n FROM s1 GROUP BY id;"])
def test_a_query_whose_committed_position_is_past_the_end_errors_and_the_others_start(tmp_path, query):
    engine = Engine(tmp_path, {"ksql.streams.auto.offset.reset": "earliest"})
    engine.execute(STREAMS + query + "CREATE STREAM o2 AS SELECT * FROM s2;")
    engine.execute("INSERT INTO s1 (id, v) VALUES (1, 'x'); INSERT INTO s2 (id, v) VALUES (2, 'y');")
    engine.run_until_idle(timeout=30)
    engine.close()
    for offsets in (tmp_path / "log" / "groups").glob("*/offsets.json"):
        if '"t1"' in offsets.read_text():
            offsets.write_text('{"t1": {"0": 1000000}}')  # as if the log had lost what was read
    engine = Engine(tmp_path, {"ksql.streams.auto.offset.reset": "earliest"})
    engine.execute("INSERT INTO s2 (id, v) VALUES (3, 'z');")
    engine.run_until_idle(timeout=30)
    tasks = {t.plan.sink.sink.name: t for t in engine.scheduler.tasks.values()}
    assert tasks["O1"].state == ERROR
    assert "position 1000000 of topic 't1' partition 0 is past the end of the partition (1)" in tasks["O1"].error
    assert tasks["O2"].state == RUNNING
    assert sorted(r.key for r in engine.read_topic_records("O2")) == [2, 3]
    engine.close()
