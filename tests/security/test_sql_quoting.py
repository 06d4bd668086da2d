"""Hostile names and texts go through every statement shape that compiles to DuckDB SQL, on the
real engine and log, and come out intact: the query runs, the data round-trips under the hostile
names, and the canary file outside the data dir is never read (its content appears nowhere) nor
written.

The rule: whatever a quoted ksqlDB name or string literal holds (quotes, backticks, `;`, `--`,
`/*`, line breaks, non-ASCII, whole break-out attempts) it is data, never SQL. NUL, which DuckDB
cannot keep in a name, is a statement error; in a string it is data too.
"""
from __future__ import annotations

import json

import pytest

from pyksqlite.facade.engine import Engine, TestRecord
from pyksqlite.common.errors import KsqlException
from tests.security.hostile import Hostile, create_source, ident, lit, records

PROPS = {"ksql.streams.auto.offset.reset": "earliest", "ksqlite.log.flush": "none"}


@pytest.fixture
def hostile(tmp_path):
    return Hostile(tmp_path)


@pytest.fixture
def engine(tmp_path, hostile):
    engine = Engine(tmp_path / "data", dict(PROPS))
    yield engine
    try:
        hostile.assert_untouched(engine)
    finally:
        engine.close()


# ---- projections, WHERE, aliases, stream names -----------------------------------------------

def test_projection_where_and_aliases(engine, hostile):
    texts, columns, aliases = hostile.texts, hostile.names("c"), hostile.names("a")
    source, key = "src " + texts[8], "key " + texts[9]
    create_source(engine, "STREAM", source, key, [(c, "STRING") for c in columns], "src")
    projection = ", ".join(f"{ident(c)} AS {ident(a)}" for c, a in zip(columns, aliases))
    where = " AND ".join(f"{ident(c)} <> {lit(t)}" for c, t in zip(columns, texts))
    engine.execute(f"CREATE STREAM {ident('out ' + texts[0])} WITH (kafka_topic='out') AS "
                   f"SELECT {ident(key)}, {projection} FROM {ident(source)} WHERE {where};")
    kept = {c: t + "!" for c, t in zip(columns, texts)}
    dropped = dict(kept, **{columns[4]: texts[4]})        # equal to a literal: filtered out
    engine.produce_test_records([TestRecord("src", texts[3], kept, 1), TestRecord("src", "k", dropped, 2)])
    engine.run_until_idle()
    assert records(engine, hostile, "out") == [(texts[3], {a: t + "!" for a, t in zip(aliases, texts)})]


def test_expressions_over_string_literals_and_map_keys(engine, hostile):
    texts = hostile.texts
    create_source(engine, "STREAM", "S", "K", [("V", "STRING")], "src")
    items = [f"MAP({lit(t)} := 1, 'other' := 2)[{lit(t)}] AS m{i}" for i, t in enumerate(texts)]
    items += [f"CONCAT(V, {lit(t)}) AS c{i}" for i, t in enumerate(texts)]
    items += [f"(CASE WHEN V = {lit(t)} THEN {lit(t + '?')} ELSE 'no' END) AS w{i}" for i, t in enumerate(texts)]
    items += [f"REPLACE(V, {lit(texts[0])}, {lit(texts[8])}) AS r",
              f"V IN ({', '.join(lit(t) for t in texts)}) AS isin",
              f"V LIKE {lit('%' + texts[0][-2:])} AS liked",
              f"SPLIT({lit(';'.join(texts))}, ';') AS parts",
              f"LEN({lit(texts[9])}) AS n",
              f"ARRAY[{', '.join(lit(t) for t in texts)}] AS arr"]
    engine.execute(f"CREATE STREAM out WITH (kafka_topic='out') AS SELECT K, {', '.join(items)} FROM S;")
    engine.produce_test_records([TestRecord("src", "k", {"V": texts[0]}, 1)])
    engine.run_until_idle()
    [(_, value)] = records(engine, hostile, "out")
    for i, t in enumerate(texts):
        assert value[f"M{i}"] == 1
        assert value[f"C{i}"] == texts[0] + t
        assert value[f"W{i}"] == (t + "?" if i == 0 else "no")
    assert value["R"] == texts[8] and value["ISIN"] is True and value["LIKED"] is True
    assert value["PARTS"] == ";".join(texts).split(";")
    assert value["N"] == len(texts[9]) and value["ARR"] == texts


def test_function_arguments_and_lambdas(engine, hostile):
    texts, params = hostile.texts, hostile.names("p")
    create_source(engine, "STREAM", "S", "K", [("XS", "ARRAY<STRING>"), ("J", "STRING")], "src")
    lambdas = [f"TRANSFORM(XS, {ident(p)} => CONCAT({ident(p)}, {lit(t)})) AS t{i}"
               for i, (p, t) in enumerate(zip(params, texts))]
    json_paths = [f"EXTRACTJSONFIELD(J, {lit('$.' + name)}) AS j{i}"
                  for i, name in enumerate(["plain", "semi;colon", "it's"])]
    engine.execute(f"CREATE STREAM out WITH (kafka_topic='out') AS SELECT K, {', '.join(lambdas + json_paths)}, "
                   f"FILTER(XS, {ident(params[8])} => {ident(params[8])} = {lit(texts[8])}) AS kept FROM S;")
    document = json.dumps({"plain": texts[0], "semi;colon": texts[8], "it's": texts[9]})
    engine.produce_test_records([TestRecord("src", "k", {"XS": ["a", texts[8]], "J": document}, 1)])
    engine.run_until_idle()
    [(_, value)] = records(engine, hostile, "out")
    for i, t in enumerate(texts):
        assert value[f"T{i}"] == ["a" + t, texts[8] + t]
    assert [value["J0"], value["J1"], value["J2"]] == [texts[0], texts[8], texts[9]]
    assert value["KEPT"] == [texts[8]]


# ---- STRUCTs: field names, nesting, dereference, CAST, constructors ------------------------

def _struct_type(fields: list[str], inner: str) -> str:
    return "STRUCT<" + ", ".join([f"{ident(f)} STRING" for f in fields] + [f"{ident(inner)} STRUCT<"
                                  + ", ".join(f"{ident(f)} INT" for f in fields) + ">"]) + ">"


def test_struct_fields_dereference_and_constructors(engine, hostile):
    texts, fields = hostile.texts, hostile.names("f")
    inner = "inner " + texts[8]
    create_source(engine, "STREAM", "S", "K", [("ST", _struct_type(fields, inner))], "src")
    derefs = [f"ST->{ident(f)} AS d{i}" for i, f in enumerate(fields)]
    nested = [f"ST->{ident(inner)}->{ident(f)} AS n{i}" for i, f in enumerate(fields)]
    built = "STRUCT(" + ", ".join(f"{ident(f)} := {lit(t)}" for f, t in zip(fields, texts)) + ") AS built"
    engine.execute(f"CREATE STREAM out WITH (kafka_topic='out') AS SELECT K, {', '.join(derefs + nested)}, "
                   f"{built}, ST AS whole FROM S WHERE ST->{ident(fields[9])} = {lit(texts[9])};")
    value = {**{f: t for f, t in zip(fields, texts)}, inner: {f: i for i, f in enumerate(fields)}}
    engine.produce_test_records([TestRecord("src", "k", {"ST": value}, 1),
                                 TestRecord("src", "x", {"ST": dict(value, **{fields[9]: "other"})}, 2)])
    engine.run_until_idle()
    [(_, out)] = records(engine, hostile, "out")
    for i, t in enumerate(texts):
        assert out[f"D{i}"] == t and out[f"N{i}"] == i
    assert out["BUILT"] == dict(zip(fields, texts))
    assert out["WHOLE"] == value


def test_casts_to_struct_types_and_to_string(engine, hostile):
    texts, fields = hostile.texts, hostile.names("f")
    create_source(engine, "STREAM", "S", "K", [("ST", "STRUCT<" + ", ".join(f"{ident(f)} INT" for f in fields) + ">")], "src")
    wider = "STRUCT<" + ", ".join(f"{ident(f)} BIGINT" for f in fields) + f", {ident('new ' + texts[0])} STRING>"
    built = "STRUCT(" + ", ".join(f"{ident(f)} := {i}" for i, f in enumerate(fields)) + ")"
    engine.execute(f"CREATE STREAM out WITH (kafka_topic='out') AS SELECT K, CAST(ST AS {wider}) AS wide, "
                   f"CAST(ST AS STRING) AS text, CAST({built} AS {wider}) AS literal_wide FROM S;")
    engine.produce_test_records([TestRecord("src", "k", {"ST": {f: i for i, f in enumerate(fields)}}, 1)])
    engine.run_until_idle()
    [(_, out)] = records(engine, hostile, "out")
    expected = {**{f: i for i, f in enumerate(fields)}, "new " + texts[0]: None}
    assert out["WIDE"] == expected and out["LITERAL_WIDE"] == expected
    assert out["TEXT"] == "Struct{" + ",".join(f"{f}={i}" for i, f in enumerate(fields)) + "}"


# ---- GROUP BY, aggregations, windows -------------------------------------------------------

@pytest.mark.parametrize("window", ["", " WINDOW TUMBLING (SIZE 1 MINUTE)"])
def test_group_by_and_aggregates(engine, hostile, window):
    texts, columns, aliases = hostile.texts, hostile.names("c"), hostile.names("a")
    group = "group " + texts[8]
    create_source(engine, "STREAM", "src " + texts[0], "key " + texts[9],
                  [(group, "STRING")] + [(c, "INT") for c in columns], "src")
    aggregates = [f"SUM({ident(c)}) AS {ident(a)}" for c, a in zip(columns, aliases)]
    engine.execute(f"CREATE TABLE {ident('agg ' + texts[1])} WITH (kafka_topic='agg') AS SELECT {ident(group)}, "
                   f"COUNT(*) AS {ident('n ' + texts[2])}, LATEST_BY_OFFSET({ident(columns[0])}) AS last, "
                   f"{', '.join(aggregates)} FROM {ident('src ' + texts[0])}{window} "
                   f"WHERE {ident(group)} <> {lit(texts[3])} GROUP BY {ident(group)} "
                   f"HAVING COUNT(*) > 0;")
    rows = [TestRecord("src", "k", {group: g, **{c: i for i, c in enumerate(columns)}}, 1)
            for g in (texts[8], texts[9], texts[8], texts[3])]
    engine.produce_test_records(rows)
    engine.run_until_idle()
    latest = {}
    for key, value in records(engine, hostile, "agg"):
        latest[key] = value
    assert set(latest) == {texts[8], texts[9]}
    assert latest[texts[8]] == {"n " + texts[2]: 2, "LAST": 0, **{a: 2 * i for i, a in enumerate(aliases)}}
    assert latest[texts[9]][aliases[9]] == 9


# ---- joins -----------------------------------------------------------------------------------

def _two_sources(engine, hostile, left_kind, right_kind):
    texts = hostile.texts
    left, right = "left " + texts[8], "right " + texts[9]
    left_key, right_key = "lk " + texts[0], "rk " + texts[1]
    left_col, right_col = "lv " + texts[2], "rv " + texts[5]
    create_source(engine, left_kind, left, left_key, [(left_col, "STRING")], "left")
    create_source(engine, right_kind, right, right_key, [(right_col, "STRING")], "right")
    return left, right, left_key, right_key, left_col, right_col


@pytest.mark.parametrize("kinds, within", [(("STREAM", "TABLE"), ""), (("TABLE", "TABLE"), ""),
                                           (("STREAM", "STREAM"), " WITHIN 1 HOUR")])
def test_joins(engine, hostile, kinds, within):
    texts = hostile.texts
    left, right, left_key, right_key, left_col, right_col = _two_sources(engine, hostile, *kinds)
    a, b = "alias " + texts[3], "alias " + texts[6]
    result_kind = "TABLE" if kinds == ("TABLE", "TABLE") else "STREAM"
    engine.execute(f"CREATE {result_kind} {ident('joined ' + texts[7])} WITH (kafka_topic='joined') AS "
                   f"SELECT {ident(a)}.{ident(left_key)} AS {ident('id ' + texts[4])}, "
                   f"{ident(a)}.{ident(left_col)} AS {ident('l ' + texts[8])}, "
                   f"{ident(b)}.{ident(right_col)} AS {ident('r ' + texts[9])} "
                   f"FROM {ident(left)} {ident(a)} JOIN {ident(right)} {ident(b)}{within} "
                   f"ON {ident(a)}.{ident(left_key)} = {ident(b)}.{ident(right_key)} "
                   f"WHERE {ident(b)}.{ident(right_col)} <> {lit(texts[0])};")
    engine.produce_test_records([TestRecord("right", texts[8], {right_col: texts[9]}, 1),
                                 TestRecord("left", texts[8], {left_col: texts[2]}, 2)])
    engine.run_until_idle()
    assert records(engine, hostile, "joined") == [(texts[8], {"l " + texts[8]: texts[2], "r " + texts[9]: texts[9]})]


# ---- PARTITION BY, pull and push queries, INSERT VALUES ---------------------------------------

def test_partition_by_a_hostile_column(engine, hostile):
    texts, columns = hostile.texts, hostile.names("c")
    create_source(engine, "STREAM", "src " + texts[2], "K", [(c, "STRING") for c in columns], "src")
    engine.execute(f"CREATE STREAM {ident('by ' + texts[8])} WITH (kafka_topic='rekeyed') AS SELECT * "
                   f"FROM {ident('src ' + texts[2])} PARTITION BY {ident(columns[8])};")
    value = {c: t for c, t in zip(columns, texts)}
    engine.produce_test_records([TestRecord("src", "k", value, 1)])
    engine.run_until_idle()
    rest = {c: t for c, t in value.items() if c != columns[8]}
    assert records(engine, hostile, "rekeyed") == [(texts[8], dict(rest, K="k"))]


def test_insert_values_then_pull_and_push_queries(engine, hostile):
    texts, columns = hostile.texts, hostile.names("c")
    table, key = "users " + texts[9], "id " + texts[8]
    create_source(engine, "TABLE", table, key, [(c, "STRING") for c in columns], "users", partitions=2)
    engine.execute(f"CREATE TABLE {ident('view ' + texts[0])} WITH (kafka_topic='view') AS SELECT * FROM {ident(table)};")
    names = ", ".join(ident(n) for n in [key] + columns)
    for t in texts:
        engine.execute(f"INSERT INTO {ident(table)} ({names}) VALUES ({', '.join(lit(t + c) for c in [''] + columns)});")
    engine.run_until_idle()
    stored = dict(records(engine, hostile, "users"))
    assert stored == {t: {c: t + c for c in columns} for t in texts}
    for t in texts:
        pulled = engine.pull_query(f"SELECT {ident(columns[8])}, {ident(key)} FROM {ident('view ' + texts[0])} "
                                   f"WHERE {ident(key)} = {lit(t)};")
        hostile.saw(pulled.rows)
        assert [c.name for c in pulled.columns] == [columns[8], key]
        assert pulled.rows == [[t + columns[8], t]]
    push = engine.push_query(f"SELECT {ident(key)}, {ident(columns[9])} AS {ident('alias ' + texts[2])} "
                             f"FROM {ident(table)} WHERE {ident(columns[0])} <> {lit(texts[4])} EMIT CHANGES LIMIT 2;")
    try:
        rows = [row.values for row in push]
    finally:
        push.close()
    hostile.saw(rows)
    assert [c.name for c in push.columns] == [key, "alias " + texts[2]]
    assert len(rows) == 2 and {tuple(row) for row in rows} <= {(t, t + columns[9]) for t in texts}


def test_table_functions_and_headers(engine, hostile):
    texts = hostile.texts
    header_key = texts[8]
    create_source(engine, "STREAM", "S", "K", [("XS", "ARRAY<STRING>"), ("H", f"BYTES HEADER({lit(header_key)})")], "src")
    engine.execute(f"CREATE STREAM out WITH (kafka_topic='out') AS SELECT K, EXPLODE(XS) AS {ident('x ' + texts[0])}, "
                   f"FROM_BYTES(H, 'utf8') AS h FROM S;")
    import base64
    header = [{"KEY": header_key, "VALUE": base64.b64encode(texts[9].encode()).decode()}]
    engine.produce_test_records([TestRecord("src", "k", {"XS": texts[:2]}, 1, headers=header)])
    engine.run_until_idle()
    assert records(engine, hostile, "out") == [("k", {"x " + texts[0]: t, "H": texts[9]}) for t in texts[:2]]


# ---- formats ---------------------------------------------------------------------------------

def test_delimited_values_and_a_quote_as_delimiter(engine, hostile):
    texts = [t for t in hostile.texts if "'" not in t]
    create_source(engine, "STREAM", "S", "K", [("V", "STRING"), ("N", "INT")], "src", fmt="DELIMITED",
                  extra=", value_delimiter=''''")
    engine.execute("CREATE STREAM out WITH (kafka_topic='out', value_format='DELIMITED', value_delimiter='''') "
                   f"AS SELECT K, CONCAT(V, {lit(hostile.texts[8])}) AS v, N FROM S;")
    engine.produce_test_records([TestRecord("src", str(i), f"{t.replace(chr(10), ' ')}'{i}", i) for i, t in enumerate(texts)])
    engine.run_until_idle()
    got = records(engine, hostile, "out")
    assert len(got) == len(texts)
    for (key, value), (i, t) in zip(got, enumerate(texts)):
        v, n = _read_delimited(value, "'")
        assert key == str(i) and v == t.replace("\n", " ") + hostile.texts[8] and n == str(i)


def _read_delimited(line: str, delimiter: str) -> list[str]:
    import csv
    import io
    return next(csv.reader(io.StringIO(line), delimiter=delimiter, quotechar='"'))


def test_json_sr_with_hostile_property_names(engine, hostile):
    texts, columns = hostile.texts, hostile.names("c")
    engine.create_topic("src")
    schema = {"type": "object", "properties": {c: {"type": "string"} for c in columns}}
    engine.schema_registry.register("src-value", json.dumps(schema), "JSON")
    engine.execute("CREATE STREAM S WITH (kafka_topic='src', value_format='JSON_SR');")
    inferred = [c.upper() for c in columns]     # ksqlDB upper-cases inferred JSON_SR names
    assert [f["name"] for f in engine.describe_source("S")["fields"]] == inferred
    projection = ", ".join(f"{ident(c)} AS {ident(c + '!')}" for c in inferred)
    engine.execute(f"CREATE STREAM out WITH (kafka_topic='out', value_format='JSON_SR') AS SELECT {projection} "
                   f"FROM S WHERE {ident(inferred[8])} = {lit(texts[8])};")
    engine.produce_test_records([TestRecord("src", None, {c: t for c, t in zip(columns, texts)}, 1)])
    engine.run_until_idle()
    assert records(engine, hostile, "out") == [(None, {c + "!": t for c, t in zip(inferred, texts)})]


@pytest.mark.parametrize("fmt", ["AVRO", "PROTOBUF"])
def test_schema_formats_carry_hostile_values_and_literals(engine, hostile, fmt):
    texts = hostile.texts
    create_source(engine, "STREAM", "S", "K", [("V", "STRING")], "src", fmt=fmt)
    checks = ", ".join(f"V = {lit(t)} AS is{i}" for i, t in enumerate(texts))
    engine.execute(f"CREATE STREAM out WITH (kafka_topic='out', value_format={lit(fmt)}) AS SELECT K, "
                   f"CONCAT(V, {lit(texts[9])}) AS v, {checks} FROM S;")
    engine.produce_test_records([TestRecord("src", "k", {"V": texts[8]}, 1)])
    engine.run_until_idle()
    [(_, value)] = records(engine, hostile, "out")
    assert value["V"] == texts[8] + texts[9]
    assert [value[f"IS{i}"] for i in range(len(texts))] == [i == 8 for i in range(len(texts))]


# ---- NUL -------------------------------------------------------------------------------------

def test_nul_in_a_name_is_a_statement_error(engine, hostile):
    engine.create_topic("src")
    for statement in ["CREATE STREAM `a\x00b` (K STRING KEY, V STRING) WITH (kafka_topic='src', value_format='JSON');",
                      "CREATE STREAM s (K STRING KEY, `v\x00` STRING) WITH (kafka_topic='src', value_format='JSON');",
                      "CREATE STREAM s (K STRING KEY, V STRUCT<`f\x00` INT>) WITH (kafka_topic='src', value_format='JSON');"]:
        with pytest.raises(KsqlException, match="NUL"):
            engine.execute(statement)
    assert engine.catalog.sources == {}
    engine.execute("CREATE STREAM s (K STRING KEY, V STRING) WITH (kafka_topic='src', value_format='JSON');")
    with pytest.raises(KsqlException, match="NUL"):
        engine.execute("CREATE STREAM out AS SELECT K, V AS `alias\x00` FROM s;")


def test_nul_from_an_inferred_schema_is_a_statement_error(engine, hostile):
    engine.create_topic("src")
    schema = {"type": "object", "properties": {"ok": {"type": "string"}, "bad\x00name": {"type": "string"}}}
    engine.schema_registry.register("src-value", json.dumps(schema), "JSON")
    with pytest.raises(KsqlException, match="NUL"):
        engine.execute("CREATE STREAM S WITH (kafka_topic='src', value_format='JSON_SR');")
    assert engine.catalog.sources == {}


def test_nul_in_a_string_is_data(engine, hostile):
    create_source(engine, "STREAM", "S", "K", [("V", "STRING")], "src")
    engine.execute("CREATE STREAM out WITH (kafka_topic='out') AS SELECT K, CONCAT(V, 'b\x00c') AS v, "
                   "V = 'a\x00' AS same, LEN('\x00\x00') AS n FROM S WHERE V <> 'x\x00y';")
    engine.produce_test_records([TestRecord("src", "k", {"V": "a\x00"}, 1), TestRecord("src", "j", {"V": "x\x00y"}, 2)])
    engine.run_until_idle()
    assert records(engine, hostile, "out") == [("k", {"V": "a\x00b\x00c", "SAME": True, "N": 2})]


# RANDOM() in an expression drops the TRY() around it, which would reject a pasted subquery.
NO_TRY = "SUBSTRING(CAST(RANDOM() AS STRING), 1, 0)"


@pytest.mark.parametrize("attack", ["read", "write"])
def test_the_reported_struct_field_exploit_does_nothing(engine, hostile, attack):
    """Issue 12's attack: a STRUCT field name closing the quote of `struct_extract(x, '...')`
    to read a file, or to chain a COPY; with a field `a` beside it, pasted SQL would bind."""
    name = {"read": f"a') || (SELECT content FROM read_text('{hostile.canary}')) || ('",
            "write": f"a'); COPY (SELECT 1) TO '{hostile.outside / 'written.txt'}'; SELECT ('"}[attack]
    create_source(engine, "STREAM", "S", "K", [("ST", f"STRUCT<a STRING, {ident(name)} STRING>")], "src")
    engine.execute(f"CREATE STREAM out WITH (kafka_topic='out') AS SELECT K, "
                   f"CONCAT(ST->{ident(name)}, {NO_TRY}) AS got FROM S;")
    engine.produce_test_records([TestRecord("src", "k", {"ST": {"A": "plain", name: "field value"}}, 1)])
    engine.run_until_idle()
    assert records(engine, hostile, "out") == [("k", {"GOT": "field value"})]


# ---- more aggregation shapes: numeric state, sessions, tables, collections -------------------

def test_numeric_aggregates_by_an_integer_group_and_session_windows(engine, hostile):
    texts, columns, aliases = hostile.texts, hostile.names("c"), hostile.names("a")
    group = "group " + texts[9]
    create_source(engine, "STREAM", "S", "K", [(group, "INT")] + [(c, "BIGINT") for c in columns], "src")
    sums = ", ".join(f"SUM({ident(c)}) AS {ident(a)}" for c, a in zip(columns, aliases))
    engine.execute(f"CREATE TABLE by_int WITH (kafka_topic='by_int') AS SELECT {ident(group)}, {sums} "
                   f"FROM S GROUP BY {ident(group)};")
    engine.execute(f"CREATE TABLE sessions WITH (kafka_topic='sessions') AS SELECT {ident(group)}, "
                   f"COUNT(*) AS {ident('n ' + texts[8])} FROM S WINDOW SESSION (60 SECONDS) GROUP BY {ident(group)};")
    engine.produce_test_records([TestRecord("src", "k", {group: 7, **{c: i for i, c in enumerate(columns)}}, t)
                                 for t in (1000, 2000)])
    engine.run_until_idle()
    assert dict(records(engine, hostile, "by_int"))[7] == {a: 2 * i for i, a in enumerate(aliases)}
    assert [v for _, v in records(engine, hostile, "sessions")][-1] == {"n " + texts[8]: 2}


def test_aggregating_a_table_and_collection_aggregates(engine, hostile):
    texts, column = hostile.texts, "v " + hostile.texts[8]
    group = "g " + texts[0]
    create_source(engine, "TABLE", "T", "K", [(group, "STRING"), (column, "STRING")], "src")
    engine.execute(f"CREATE TABLE agg WITH (kafka_topic='agg') AS SELECT {ident(group)}, "
                   f"COUNT(*) AS {ident('n ' + texts[1])}, COLLECT_LIST({ident(column)}) AS {ident('all ' + texts[2])}, "
                   f"HISTOGRAM({ident(column)}) AS {ident('h ' + texts[3])} FROM T GROUP BY {ident(group)};")
    engine.produce_test_records([TestRecord("src", str(i), {group: texts[9], column: t}, i) for i, t in enumerate(texts)])
    engine.run_until_idle()
    final = dict(records(engine, hostile, "agg"))[texts[9]]
    assert final["n " + texts[1]] == len(texts)
    assert sorted(final["all " + texts[2]]) == sorted(texts)
    assert final["h " + texts[3]] == {t: 1 for t in texts}


# ---- JSON decoding: case-insensitive member lookup, names equal ignoring case -----------------

def test_json_members_found_by_upper_case_and_names_equal_ignoring_case(engine, hostile):
    texts = hostile.texts
    upper = [t.upper() for t in texts]                 # declared upper case, sent lower case
    twins = ["twin " + texts[0], "TWIN " + texts[0].upper()]   # equal ignoring case
    create_source(engine, "STREAM", "S", "K", [(u, "STRING") for u in upper], "src")
    create_source(engine, "STREAM", "S2", "K", [(t, "STRING") for t in twins], "src2")
    engine.execute("CREATE STREAM out WITH (kafka_topic='out') AS SELECT * FROM S;")
    engine.execute("CREATE STREAM out2 WITH (kafka_topic='out2') AS SELECT * FROM S2;")
    engine.produce_test_records([TestRecord("src", "k", {t: t for t in texts}, 1),
                                 TestRecord("src2", "k", {twins[0]: "lower", twins[1]: "upper"}, 1)])
    engine.run_until_idle()
    assert records(engine, hostile, "out") == [("k", {u: t for u, t in zip(upper, texts)})]
    assert records(engine, hostile, "out2") == [("k", {twins[0]: "lower", twins[1]: "upper"})]


# ---- WITH properties that reach SQL: TIMESTAMP column and format, topics ----------------------

def test_timestamp_column_and_format_with_hostile_text(engine, hostile):
    texts = hostile.texts
    column = "ts " + texts[8]
    # A Java pattern's quoted literal text, holding quotes of both kinds and a break-out attempt.
    literal_text = "it''s \"x\" ; --"
    pattern = f"yyyy-MM-dd '{literal_text}' HH:mm"
    create_source(engine, "STREAM", "S", "K", [(column, "STRING"), ("V", "STRING")], "topic--x.y_z",
                  extra=f", timestamp={lit(ident(column))}, timestamp_format={lit(pattern)}")
    engine.execute("CREATE STREAM out WITH (kafka_topic='out--x.y_z') AS SELECT K, V FROM S;")
    stamp = "2024-01-02 it's \"x\" ; -- 03:04"
    engine.produce_test_records([TestRecord("topic--x.y_z", "k", {column: stamp, "V": texts[9]}, 1)])
    engine.run_until_idle()
    [record] = engine.read_topic_records("out--x.y_z")
    hostile.saw(record)
    assert record.value == {"V": texts[9]} and record.timestamp == 1704164640000


# ---- the REST server's /inserts-stream builds its INSERT from column names --------------------

def test_inserts_stream_with_hostile_names(tmp_path, hostile):
    import httpx
    from pyksqlite.shell.server import ServerThread
    texts, columns = hostile.texts, hostile.names("c")
    engine = Engine(tmp_path / "rest", dict(PROPS))
    try:
        create_source(engine, "STREAM", "src " + texts[8], "key " + texts[9], [(c, "STRING") for c in columns], "src")
        with ServerThread(engine, port=0, send_timeout=3.0) as server, \
                httpx.Client(base_url=server.url, http1=False, http2=True, timeout=30) as http:
            body = [{"target": "src " + texts[8]}, {"key " + texts[9]: texts[0], **{c: t for c, t in zip(columns, texts)}}]
            acks = http.post("/inserts-stream", content="\n".join(json.dumps(line) for line in body).encode())
            assert [json.loads(line)["status"] for line in acks.text.splitlines()] == ["ok"], acks.text
        assert records(engine, hostile, "src") == [(texts[0], {c: t for c, t in zip(columns, texts)})]
        hostile.assert_untouched(engine)
    finally:
        engine.close()


def test_json_keys_with_several_hostile_columns(engine, hostile):
    texts = hostile.texts
    keys = ["k1 " + texts[8], "k2 " + texts[9]]
    engine.create_topic("src")
    engine.execute(f"CREATE STREAM S ({ident(keys[0])} STRING KEY, {ident(keys[1])} INT KEY, V STRING) "
                   "WITH (kafka_topic='src', key_format='JSON', value_format='JSON');")
    engine.execute(f"CREATE STREAM out WITH (kafka_topic='out') AS SELECT * FROM S WHERE {ident(keys[0])} <> {lit(texts[0])};")
    engine.produce_test_records([TestRecord("src", {keys[0]: texts[1], keys[1]: 7}, {"V": texts[2]}, 1)])
    engine.run_until_idle()
    assert records(engine, hostile, "out") == [({keys[0]: texts[1], keys[1]: 7}, {"V": texts[2]})]


def test_struct_fields_equal_ignoring_case_are_a_statement_error(engine, hostile):
    """DuckDB cannot hold STRUCT fields `a` and `A` in one value: a clear error, not a failed query."""
    create_source(engine, "STREAM", "S", "K", [("ST", "STRUCT<`it's` INT, `IT'S` INT>"), ("OK", "STRUCT<`ü` INT, `Ü` INT>")], "src")
    with pytest.raises(KsqlException, match="differ only in case"):
        engine.execute("CREATE STREAM out WITH (kafka_topic='out') AS SELECT K, ST FROM S;")
    engine.execute("CREATE STREAM out WITH (kafka_topic='out') AS SELECT K, OK FROM S;")
    engine.produce_test_records([TestRecord("src", "k", {"OK": {"ü": 1, "Ü": 2}}, 1)])
    engine.run_until_idle()
    assert records(engine, hostile, "out") == [("k", {"OK": {"ü": 1, "Ü": 2}})]
