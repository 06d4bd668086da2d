"""ksqlDB CLI-style text for results: entity tables (`render_entity`) and query row tables
(`RowTable`, which prints a header once and then each row as it arrives)."""
from __future__ import annotations

from typing import Any, Iterable, Optional

from pyksqlite.shell.server_formats import dumps, json_value


def cell(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    converted = json_value(value)
    if isinstance(converted, (dict, list)):
        return dumps(converted).decode()
    return str(converted)


def table(headers: list[str], rows: Iterable[list[Any]]) -> str:
    """The CLI's boxed-by-dashes table: ` Name | Topic ` rows between dashed rules."""
    rows = [[cell(v) for v in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]
    line = lambda values: " " + " | ".join(v.ljust(w) for v, w in zip(values, widths)) + " "  # noqa: E731
    rule = "-" * (sum(widths) + 3 * len(widths) - 1 + 1)
    out = [line(headers), rule]
    out.extend(line(r) for r in rows)
    out.append(rule)
    return "\n".join(out)


def message(text: str) -> str:
    return table(["Message"], [[text]])


class RowTable:
    """Query results as the CLI prints them: `|COL1 |COL2 |` rows between `+----+` rules."""

    def __init__(self, columns: list[str], width: Optional[int] = None, terminal_width: int = 120):
        self.columns = columns
        count = max(1, len(columns))
        self.width = width or max(8, min(30, (terminal_width - count - 1) // count))

    def _rule(self) -> str:
        return "+" + "+".join("-" * self.width for _ in self.columns) + "+"

    def _line(self, values: list[str]) -> str:
        parts = []
        for value in values:
            text = value if len(value) <= self.width else value[: self.width - 3] + "..."
            parts.append(text.ljust(self.width))
        return "|" + "|".join(parts) + "|"

    def header(self) -> str:
        return "\n".join([self._rule(), self._line(self.columns), self._rule()])

    def row(self, values: list[Any], tombstone: bool = False) -> str:
        cells = [cell(v) for v in values]
        if tombstone:
            cells = [c if c != "null" else "<TOMBSTONE>" for c in cells]
        return self._line(cells)

    def footer(self) -> str:
        return self._rule()


def render_entity(entity: dict[str, Any]) -> str:
    kind = entity.get("@type")
    if kind == "currentStatus":
        return message(entity.get("commandStatus", {}).get("message", ""))
    if kind in ("streams", "tables"):
        sources = entity.get(kind) or []
        headers = ["Stream Name" if kind == "streams" else "Table Name", "Kafka Topic", "Key Format",
                   "Value Format", "Windowed"]
        return table(headers, [[s["name"], s["topic"], s["keyFormat"], s["valueFormat"], s["isWindowed"]]
                               for s in sources])
    if kind == "queries":
        return table(["Query ID", "Query Type", "Status", "Sink Name", "Sink Kafka Topic", "Query String"],
                     [[q["id"], q.get("queryType", ""), _status(q), ",".join(q.get("sinks") or []),
                       ",".join(q.get("sinkKafkaTopics") or []), q.get("queryString", "")]
                      for q in entity.get("queries") or []])
    if kind == "properties":
        return table(["Property", "Scope", "Value"],
                     [[p["name"], p.get("scope", ""), p.get("value")] for p in entity.get("properties") or []])
    if kind == "kafka_topics":
        return table(["Kafka Topic", "Partitions", "Partition Replicas"],
                     [[t["name"], len(t.get("replicaInfo") or []), max(t.get("replicaInfo") or [1])]
                      for t in entity.get("topics") or []])
    if kind == "function_names":
        return table(["Function Name", "Category"],
                     [[f["name"], f.get("category", "")] for f in entity.get("functions") or []])
    if kind == "sourceDescription":
        return describe_source(entity["sourceDescription"])
    if kind == "source_descriptions":
        return "\n\n".join(describe_source(d) for d in entity.get("sourceDescriptions") or [])
    if kind == "queryDescription":
        description = entity["queryDescription"]
        parts = [f"ID                   : {description.get('id', '')}",
                 f"SQL                  : {description.get('statementText', '')}", "",
                 "Execution plan", "--------------", description.get("executionPlan", "")]
        return "\n".join(parts)
    if kind == "describe_function":
        lines = [f"Name        : {entity.get('name')}", f"Overview    : {entity.get('description', '')}",
                 f"Type        : {entity.get('type', '')}", ""]
        for variant in entity.get("functions") or []:
            lines.append(f"\tVariation   : {entity.get('name')}({', '.join(variant.get('argumentTypes') or [])})")
            lines.append(f"\tReturns     : {variant.get('returnType', '')}")
            if variant.get("description"):
                lines.append(f"\tDescription : {variant['description']}")
        return "\n".join(lines)
    if kind == "type_list":
        return table(["Type Name", "Schema"], [[n, _schema_text(t)] for n, t in (entity.get("types") or {}).items()])
    if kind == "variables":
        return table(["Variable Name", "Value"], [[v["name"], v["value"]] for v in entity.get("variables") or []])
    if kind == "rows":
        columns = [c["name"] for c in entity.get("columns") or []]
        rows = RowTable(columns)
        out = [rows.header()] + [rows.row(r) for r in entity.get("rows") or []] + [rows.footer()]
        return "\n".join(out)
    if kind in ("property_set", "property_unset", "variable_set", "variable_unset"):
        return ""
    if kind == "warning_entity":
        return entity.get("message", "")
    if kind in _CONNECTOR_RENDERERS:
        return _CONNECTOR_RENDERERS[kind](entity)
    return dumps(entity).decode()


# ---------------------------------------------------------------------- connectors, as ksqlDB's CLI
def _connector_info(entity: dict) -> str:
    return message(f"Created connector {(entity.get('info') or {}).get('name', '')}")


def _connector_list(entity: dict) -> str:
    rows = [[c.get("name"), str(c.get("type") or "").upper(), c.get("className") or "", c.get("state") or ""]
            for c in entity.get("connectors") or []]
    text = table(["Connector Name", "Type", "Class", "Status"], rows)
    warnings = [w.get("message", "") for w in entity.get("warnings") or []]
    return "\n".join([text, *warnings])


def _connector_description(entity: dict) -> str:
    status = entity.get("status") or {}
    connector = status.get("connector") or {}
    lines = [f"Name                 : {status.get('name', '')}",
             f"Class                : {entity.get('connectorClass', '')}",
             f"Type                 : {status.get('type', '')}",
             f"State                : {connector.get('state', '')}",
             f"WorkerId             : {connector.get('worker_id', '')}"]
    if connector.get("trace"):
        lines.append(f"Trace                : {connector['trace']}")
    lines += ["", table(["Task ID", "State", "Error Trace"],
                        [[t.get("id"), t.get("state"), t.get("trace") or ""] for t in status.get("tasks") or []])]
    sources = entity.get("sources") or []
    if sources:
        lines += ["", table(["ksqlDB Source Name", "Kafka Topic", "Type"],
                            [[s.get("name"), s.get("topic"), s.get("type")] for s in sources])]
    if entity.get("topics"):
        lines += ["", table(["Related Topics"], [[t] for t in entity["topics"]])]
    return "\n".join(lines)


def _connector_plugins(entity: dict) -> str:
    return table(["Connector Plugin", "Type", "Version"],
                 [[p.get("className"), str(p.get("type") or "").upper(), p.get("version") or ""]
                  for p in entity.get("connectorsPlugins") or []])


def _drop_connector(entity: dict) -> str:
    return message(_dropped_message(entity.get("connectorName", "")))


def _dropped_message(name: str) -> str:
    return f"Dropped connector \"{name}\""


_CONNECTOR_RENDERERS = {"connector_info": _connector_info, "connector_list": _connector_list,
                        "connector_description": _connector_description,
                        "connector_plugins_list": _connector_plugins, "drop_connector": _drop_connector}


def _status(query: dict) -> str:
    counts = query.get("statusCount") or {}
    return ",".join(f"{state}:{count}" for state, count in counts.items()) or query.get("state", "")


def _schema_text(schema: dict) -> str:
    kind = schema.get("type", "")
    if kind == "ARRAY":
        return f"ARRAY<{_schema_text(schema['memberSchema'])}>"
    if kind == "MAP":
        return f"MAP<STRING, {_schema_text(schema['memberSchema'])}>"
    if kind == "STRUCT":
        fields = ", ".join(f"`{f['name']}` {_schema_text(f['schema'])}" for f in schema.get("fields") or [])
        return f"STRUCT<{fields}>"
    if kind == "DECIMAL" and schema.get("parameters"):
        return f"DECIMAL({schema['parameters']['precision']}, {schema['parameters']['scale']})"
    return kind


def describe_source(description: dict) -> str:
    lines = [f"Name                 : {description.get('name')}"]
    if description.get("extended"):
        lines += [f"Type                 : {description.get('type')}",
                  f"Timestamp field      : {description.get('timestamp') or 'Not set - using <ROWTIME>'}",
                  f"Key format           : {description.get('keyFormat')}",
                  f"Value format         : {description.get('valueFormat')}",
                  f"Kafka topic          : {description.get('topic')} (partitions: "
                  f"{description.get('partitions')}, replication: {description.get('replication')})",
                  f"Statement            : {description.get('statement')}"]
    fields = []
    for field in description.get("fields") or []:
        suffix = {"KEY": " (key)", "HEADER": " (header)"}.get(field.get("type", ""), "")
        fields.append([field["name"], _schema_text(field["schema"]) + suffix])
    lines += [" Field | Type", table(["Field", "Type"], fields).split("\n", 1)[1]]
    lines = lines[:-2] + [table(["Field", "Type"], fields)]
    if description.get("extended"):
        for title, key in (("Queries that read from this", "readQueries"),
                           ("Queries that write from this", "writeQueries")):
            queries = description.get(key) or []
            if queries:
                lines += ["", f"{title} {description.get('type')}", "-" * 40]
                lines += [f"{q['id']} ({q.get('state', '')}) : {q.get('queryString', '')}" for q in queries]
    lines.append("For runtime statistics and query details run: DESCRIBE <Stream,Table> EXTENDED;"
                 if not description.get("extended") else "")
    return "\n".join(line for line in lines if line is not None).rstrip()
