"""java.time.DateTimeFormatter's pattern letters and widths, as the JDK documents them, used by
every function that takes a pattern (formatting and parsing) and by TIMESTAMP_FORMAT.

Each row: pattern, the instant 2019-03-05T07:08:09.012Z (a Tuesday, day 64), the JDK's text."""
from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pytest

from pyksqlite.common.java_time.patterns import PatternError, check_pattern
from pyksqlite.common.java_time.format import format_with_pattern
from pyksqlite.common.java_time.parse import parse_millis

INSTANT = 1551769689012   # 2019-03-05T07:08:09.012Z

FORMATTED = [
    ("y", "2019"), ("yy", "19"), ("yyy", "2019"), ("yyyy", "2019"), ("yyyyy", "02019"),
    ("u", "2019"), ("uuuu", "2019"),
    ("M", "3"), ("MM", "03"), ("MMM", "Mar"), ("MMMM", "March"), ("MMMMM", "M"), ("L", "3"),
    ("d", "5"), ("dd", "05"), ("D", "64"), ("DD", "64"), ("DDD", "064"),
    ("E", "Tue"), ("EEE", "Tue"), ("EEEE", "Tuesday"), ("EEEEE", "T"),
    ("e", "3"), ("c", "3"),                              # US locale: Sunday is day 1
    ("Q", "1"), ("QQ", "01"), ("QQQ", "Q1"), ("QQQQ", "1st quarter"),
    ("G", "AD"), ("GGGG", "Anno Domini"), ("GGGGG", "A"),
    ("a", "AM"), ("h", "7"), ("hh", "07"), ("K", "7"), ("k", "7"), ("H", "7"), ("HH", "07"),
    ("m", "8"), ("mm", "08"), ("s", "9"), ("ss", "09"),
    ("S", "0"), ("SS", "01"), ("SSS", "012"), ("SSSSSS", "012000"), ("SSSSSSSSS", "012000000"),
    ("n", "12000000"), ("A", "25689012"), ("g", "58547"),
    ("X", "Z"), ("XX", "Z"), ("XXX", "Z"), ("x", "+00"), ("xx", "+0000"), ("xxx", "+00:00"),
    ("Z", "+0000"), ("ZZZZ", "GMT"), ("ZZZZZ", "Z"), ("O", "GMT"), ("OOOO", "GMT"),
    ("VV", "UTC"), ("z", "UTC"),
    ("yyyy-MM-dd'T'HH:mm:ss.SSS", "2019-03-05T07:08:09.012"),
    ("'o''clock' hh a", "o'clock 07 AM"), ("''", "'"), ("yyyy[-MM[-dd]]", "2019-03-05"),
    ("ppd", " 5"), ("ww", "10"), ("W", "2"), ("Y", "2019"),
]


@pytest.mark.parametrize("pattern,expected", FORMATTED)
def test_format_letters_and_widths(pattern, expected):
    assert format_with_pattern(np.array([INSTANT]), pattern, "timestamp", np.array(["UTC"], object))[0] == expected


@pytest.mark.parametrize("zone,pattern,expected", [
    ("America/Los_Angeles", "HH:mm z X xxx Z OOOO", "23:08 PST -08 -08:00 -0800 GMT-08:00"),
    ("Asia/Kolkata", "HH:mm XXX O", "12:38 +05:30 GMT+5:30"),
    ("+0530", "HH:mm VV", "12:38 +05:30"),
])
def test_format_in_zones(zone, pattern, expected):
    assert format_with_pattern(np.array([INSTANT]), pattern, "timestamp", np.array([zone], object))[0] == expected


def test_dates_have_no_time_fields_and_times_no_date_fields():
    """The JDK fails with 'Unsupported field' (the call is NULL), except in optional sections."""
    days = np.array([INSTANT // 86_400_000 * 86_400_000])
    assert format_with_pattern(days, "yyyy-MM-dd", "date")[0] == "2019-03-05"
    assert format_with_pattern(days, "HH:mm", "date")[0] is None
    assert format_with_pattern(days, "yyyy-MM-dd[ HH:mm]", "date")[0] == "2019-03-05"
    assert format_with_pattern(np.array([65000]), "HH:mm:ss", "time")[0] == "00:01:05"
    assert format_with_pattern(np.array([65000]), "yyyy", "time")[0] is None


def test_fixed_width_overflow_fails_the_call():
    assert format_with_pattern(np.array([INSTANT]), "nn", "timestamp", np.array(["UTC"], object))[0] is None


@pytest.mark.parametrize("pattern,message", [
    ("b", "Unknown pattern letter: b"), ("ddd", "Too many pattern letters: d"),
    ("aa", "Too many pattern letters: a"), ("V", "Pattern letter count must be 2: V"),
    ("'abc", "Pattern ends with an incomplete string literal"), ("]", "contains ] without previous ["),
    ("#", "reserved character: '#'"),
])
def test_invalid_patterns_are_rejected_as_the_jdk_does(pattern, message):
    with pytest.raises(PatternError, match=re.escape(message)):
        check_pattern(pattern)


PARSED = [
    ("yyyy-MM-dd'T'HH:mm:ss.SSS", "2019-03-05T07:08:09.012", INSTANT),
    ("yyyyMMddHHmmss", "20190305070809", INSTANT - 12),
    ("yy-M-d", "19-3-5", 1551744000000),
    ("dd-MMM-yyyy", "05-mar-2019", 1551744000000),             # text is matched in any case
    ("dd MMMM yyyy", "05 MARCH 2019", 1551744000000),
    ("EEE, d MMM yyyy", "Tue, 5 Mar 2019", 1551744000000),
    ("EEE, d MMM yyyy", "Wed, 5 Mar 2019", None),                # a day name that disagrees
    ("hh:mm a", "07:08 pm", 68_880_000),                         # missing date: 1970-01-01
    ("yyyy-MM-dd", "2019-02-30", 1551312000000),                 # SMART: clamped to Feb 28
    ("yyyy-MM-dd", "2019-13-01", None),
    ("yyyy-MM-dd HH:mm X", "2019-03-05 07:08 +01", INSTANT - 9012 - 3_600_000),
    ("yyyy-MM-dd HH:mm XXX", "2019-03-05 07:08 Z", INSTANT - 9012),
    ("yyyy-MM-dd HH:mm VV", "2019-03-05 07:08 America/New_York", INSTANT - 9012 + 5 * 3_600_000),
    ("yyyy-MM-dd HH:mm z", "2019-03-05 07:08 PST", INSTANT - 9012 + 8 * 3_600_000),
    ("yyyy-MM-dd[ HH:mm]", "2019-03-05", 1551744000000),
    ("yyyy-MM-dd[ HH:mm]", "2019-03-05 07:08", INSTANT - 9012),
    ("yyyy-DDD", "2019-064", 1551744000000),
    ("yyyy-MM-dd", "not a date", None),
]


@pytest.mark.parametrize("pattern,text,expected", PARSED)
def test_parse_letters_and_widths(pattern, text, expected):
    assert parse_millis(pa.array([text]), pa.array([pattern]))[0].as_py() == expected


def test_parse_reads_the_wall_clock_in_the_zone_given_unless_the_text_has_one():
    texts = pa.array(["2019-03-05 07:08", "2019-03-05 07:08 +0000"])
    patterns = pa.array(["yyyy-MM-dd HH:mm", "yyyy-MM-dd HH:mm[ Z]"])
    parsed = parse_millis(texts, patterns, pa.array(["America/Los_Angeles"] * 2)).to_pylist()
    assert parsed == [INSTANT - 9012 + 8 * 3_600_000, INSTANT - 9012]


def test_functions_use_the_patterns(engine):
    from pyksqlite.facade.engine import TestRecord
    engine.execute("CREATE STREAM s (k STRING KEY, ts BIGINT, txt STRING, pat STRING) "
                   "WITH (kafka_topic='s', value_format='JSON', partitions=1);")
    engine.execute("CREATE STREAM o AS SELECT k, TIMESTAMPTOSTRING(ts, 'yyy-MM-dd') AS a, "
                   "FORMAT_TIMESTAMP(FROM_UNIXTIME(ts), 'EEEE d MMMM y, h:mm a', 'America/Los_Angeles') AS b, "
                   "PARSE_TIMESTAMP(txt, pat) AS c, FORMAT_DATE(PARSE_DATE(txt, pat), 'D') AS d, "
                   "FORMAT_TIME(PARSE_TIME('7:08 PM', 'h:mm a'), 'HH:mm:ss') AS e, "
                   "STRINGTOTIMESTAMP(txt, pat) AS f FROM s;")
    engine.produce_test_records([TestRecord("s", "k", {"ts": INSTANT, "txt": "2019-03-05", "pat": "yyyy-MM-dd"})])
    engine.run_until_idle()
    (record,) = engine.read_topic_records("O")
    assert record.value == {"A": "2019-03-05", "B": "Monday 4 March 2019, 11:08 PM", "C": 1551744000000,
                            "D": "64", "E": "19:08:00", "F": 1551744000000}


def test_source_timestamp_format_uses_the_same_parser(engine):
    from pyksqlite.facade.engine import TestRecord
    engine.execute("CREATE STREAM s (k STRING KEY, t STRING) WITH (kafka_topic='s', value_format='JSON', "
                   "partitions=1, timestamp='t', timestamp_format='dd/MMM/yyyy:HH:mm:ss Z');")
    engine.execute("CREATE STREAM o AS SELECT k, t FROM s;")
    engine.produce_test_records([TestRecord("s", "k", {"t": "05/Mar/2019:08:08:09 +0100"})])
    engine.run_until_idle()
    assert [r.timestamp for r in engine.read_topic_records("O")] == [INSTANT - 12]


def test_source_timestamp_format_the_jdk_rejects_is_a_statement_error(engine):
    from pyksqlite.common.errors import KsqlException
    with pytest.raises(KsqlException, match="Invalid timestamp format: Unknown pattern letter: b"):
        engine.execute("CREATE STREAM s (k STRING KEY, t STRING) WITH (kafka_topic='s', value_format='JSON', "
                       "partitions=1, timestamp='t', timestamp_format='bb');")
