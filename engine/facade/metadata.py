"""Statements that read metadata: SHOW/LIST, DESCRIBE, EXPLAIN, and the test-only ASSERTs on
topics. Each `handle_<Statement>` returns a ksqlDB REST entity."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pyksqlite.catalog import entities
from pyksqlite.common.errors import KsqlStatementException
from pyksqlite.operators.sink import RowSink
from pyksqlite.planner.logical import LogicalPlanner
from pyksqlite.planner.physical import build_physical_plan
from pyksqlite.common.processing_log import ProcessingLog
from pyksqlite.grammar import ast

if TYPE_CHECKING:
    from pyksqlite.facade.engine import Engine


def handle_Show(engine: "Engine", stmt: ast.Show) -> dict[str, Any]:
    what = stmt.what
    base = {"statementText": stmt.text, "warnings": []}
    if what in ("STREAMS", "TABLES"):
        kind = what[:-1]
        sources = [s for s in engine.catalog.sources.values() if s.kind == kind]
        if stmt.extended:
            return {"@type": "source_descriptions", **base,
                    "sourceDescriptions": [describe_source(engine, s.name, True) for s in sources]}
        return {"@type": what.lower(), **base, what.lower(): [entities.source_summary(s) for s in sources]}
    if what == "TOPICS":
        topics = engine.log.list_topics() if stmt.all else engine.topic_names()
        return {"@type": "kafka_topics", **base, "topics": [
            {"name": t, "replicaInfo": [1] * engine.log.topic_config(t).partitions} for t in sorted(topics)]}
    if what == "QUERIES":
        return {"@type": "queries", **base,
                "queries": [entities.query_summary(q, _task_state(engine, q.query_id)[0])
                            for q in engine.catalog.queries.values()]}
    if what == "PROPERTIES":
        return {"@type": "properties", **base,
                "properties": [{"name": k, "scope": "KSQL", "value": str(v)} for k, v in sorted(engine.properties.items())],
                "overwrittenProperties": [], "defaultProperties": []}
    if what == "TYPES":
        return {"@type": "type_list", **base,
                "types": {name: entities.schema_info(t) for name, t in engine.catalog.types.items()}}
    if what == "VARIABLES":
        return {"@type": "variables", **base,
                "variables": [{"name": k, "value": v} for k, v in engine.variables.items()]}
    if what == "FUNCTIONS":
        from pyksqlite.expressions.functions import default_registry
        functions = [{"name": name, "type": kind.upper(), "category": category}
                     for name, kind, category, _ in default_registry().list_functions()]
        return {"@type": "function_names", **base, "functions": functions}
    raise KsqlStatementException(f"SHOW {what} is not supported.")


def handle_Describe(engine: "Engine", stmt: ast.Describe) -> dict[str, Any]:
    if stmt.name is None:
        kind = (stmt.what or "STREAMS")[:-1]
        return {"@type": "source_descriptions", "statementText": stmt.text, "warnings": [],
                "sourceDescriptions": [describe_source(engine, s.name, stmt.extended)
                                       for s in engine.catalog.sources.values() if s.kind == kind]}
    return {"@type": "sourceDescription", "statementText": stmt.text, "warnings": [],
            "sourceDescription": describe_source(engine, stmt.name, stmt.extended)}


def describe_source(engine: "Engine", name: str, extended: bool = False) -> dict[str, Any]:
    source = engine.catalog.get_source(name)
    if source is None:
        raise KsqlStatementException(f"Could not find STREAM/TABLE '{name}' in the Metastore")
    writers = engine.catalog.queries_writing(name)
    readers = [q for q in engine.catalog.queries_reading(name)]
    partitions = engine.log.topic_config(source.topic).partitions if engine.log.topic_exists(source.topic) else 0
    return entities.source_description(source, readers, writers, partitions, extended)


def handle_DescribeFunction(engine: "Engine", stmt: ast.DescribeFunction) -> dict[str, Any]:
    from pyksqlite.expressions.functions import default_registry
    info = default_registry().describe(stmt.name)
    python = getattr(info, "python", False)
    variants = [{"arguments": [{"name": v.param_name(i), "type": _param_text(v, i), "description": "",
                                "isVariadic": i == v.variadic_index}
                               for i in range(len(v.params))],
                 "returnType": _return_text(v), "description": v.description or info.description,
                 "argumentTypes": [_param_text(v, i) for i in range(len(v.params))]}
                for v in info.variants]
    return {"@type": "describe_function", "statementText": stmt.text, "warnings": [],
            "name": info.name, "description": info.description,
            "author": "user" if python else "confluent", "version": "",
            "path": getattr(info, "path", "") if python else "internal",
            "functions": variants, "type": info.kind.upper()}


def _param_text(variant, index: int) -> str:
    text = str(variant.params[index])
    return text + "[]" if index == variant.variadic_index else text


def _return_text(variant) -> str:
    """A variant's return type; for one computed from the arguments, as far as it is known."""
    returns = variant.returns
    if not callable(returns):
        return str(returns)
    from pyksqlite.common.types import SqlType
    if all(isinstance(p, SqlType) and (p.base != "DECIMAL" or p.precision is not None)
           for p in variant.params):
        try:
            return str(returns(list(variant.params)))
        except Exception:  # noqa: BLE001 - a return rule that needs real arguments
            pass
    generic = [str(p) for p in variant.params if isinstance(p, str)]
    return "T" if any("T" in g for g in generic) else "ANY"


def handle_Explain(engine: "Engine", stmt: ast.Explain) -> dict[str, Any]:
    if stmt.query_id is not None:
        query = engine.catalog.queries.get(stmt.query_id)
        plan_text = engine.explain_query(stmt.query_id)
        description = _query_description(stmt, stmt.query_id, query.statement_text, plan_text, [query.sink])
        state, errors = _task_state(engine, stmt.query_id)
        description["queryDescription"].update(state=state, queryErrors=errors)
        return description
    inner = stmt.statement
    query = getattr(inner, "query", None)
    if query is None:
        raise KsqlStatementException("EXPLAIN is only supported for queries and query ids.")
    plan = LogicalPlanner(engine.catalog, persistent=not isinstance(inner, ast.QueryStatement)).plan(
        query, getattr(inner, "name", getattr(inner, "target", None)))
    # The operators are built (expressions compiled) but not started: nothing is read or written.
    physical = build_physical_plan(plan, lambda layout: RowSink(layout), ProcessingLog(), None)
    text = f"Logical plan:\n{plan.explain()}\n\nPhysical plan:\n{physical.explain()}"
    return _query_description(stmt, "", inner.text, text, [])


def _task_state(engine: "Engine", query_id: str) -> tuple[str, list[dict[str, Any]]]:
    """A persistent query's state as its task has it, and its errors and warnings (ksqlDB's
    QueryError entries: a failure, or state rebuilt from inputs that retention had cut)."""
    task = engine.scheduler.tasks.get(query_id)
    if task is None:
        return "RUNNING", []
    errors = [{"timestamp": 0, "errorMessage": message, "type": kind}
              for message, kind in ((getattr(task, "error", None), "SYSTEM"), (getattr(task, "warning", None), "USER"))
              if message]
    return task.state, errors


def _query_description(stmt, query_id: str, text: str, plan_text: str, sinks: list[str]) -> dict[str, Any]:
    return {"@type": "queryDescription", "statementText": stmt.text, "warnings": [],
            "queryDescription": {"id": query_id, "statementText": text, "windowType": None,
                                 "fields": [], "sources": [], "sinks": sinks, "topology": "",
                                 "executionPlan": plan_text, "overriddenProperties": {},
                                 "ksqlHostQueryStatus": {}, "queryType": "PERSISTENT",
                                 "queryErrors": [], "tasksMetadata": [], "state": "RUNNING"}}


def handle_Print(engine: "Engine", stmt: ast.Print) -> dict[str, Any]:
    raise KsqlStatementException(
        "The following statement types should be issued to the websocket endpoint '/query': PRINT")


def handle_AssertTopic(engine: "Engine", stmt: ast.AssertTopic) -> dict[str, Any]:
    exists = engine.log.topic_exists(stmt.topic)
    if exists != stmt.exists:
        raise KsqlStatementException(
            f"Topic {stmt.topic} {'does not exist' if stmt.exists else 'exists'}")
    return {"@type": "assert_topic", "statementText": stmt.text, "topicName": stmt.topic,
            "exists": exists, "warnings": []}
