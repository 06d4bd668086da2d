"""Backends the REPL talks to: the embedded engine (`LocalBackend`) or a ksqlite/ksqlDB server
over REST (`RemoteBackend`, as `ksql http://host:8088` does). Both offer the same calls:

    execute(sql, properties) -> list[entity]          (raises BackendError)
    query(sql, properties)   -> QueryStream           (columns, iterate rows, close())
    print_topic(sql)         -> iterator of text lines
    names()                  -> {"sources": [...], "columns": [...], "functions": [...]}
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Iterator, Optional

from pyksqlite.shell import server_formats as fmt


class BackendError(Exception):
    def __init__(self, message: str, statement_text: str = "", line: int = 0, column: int = 0):
        super().__init__(message)
        self.message, self.statement_text = message, statement_text
        self.line, self.column = line, column


@dataclass
class Row:
    values: list[Any]
    tombstone: bool = False


class QueryStream:
    """Rows of one query; iterate to get them as they arrive; `final` says why it ended."""
    columns: list[str]
    final: Optional[str] = None

    def __iter__(self) -> Iterator[Row]:
        raise NotImplementedError

    def close(self) -> None:
        pass


# --- embedded --------------------------------------------------------------------------------

class _LocalPush(QueryStream):
    def __init__(self, query):
        self.query = query
        self.columns = [c.name for c in query.columns]

    def __iter__(self) -> Iterator[Row]:
        while True:
            rows = self.query.poll(timeout=0.1)
            for row in rows:
                yield Row(row.values, row.tombstone)
            if not rows and self.query.done:
                self.final = "Limit Reached" if self.query.limit_reached else None
                if self.query.error:
                    raise BackendError(self.query.error)
                return

    def close(self) -> None:
        self.query.close()


class _Rows(QueryStream):
    def __init__(self, columns: list[str], rows: list[list[Any]]):
        self.columns, self._rows = columns, rows

    def __iter__(self) -> Iterator[Row]:
        return (Row(r) for r in self._rows)


class LocalBackend:
    def __init__(self, engine):
        self.engine = engine
        self.target = "embedded engine"

    def execute(self, sql: str, properties: dict) -> list[dict]:
        from pyksqlite.common.errors import KsqlException, ParseFailedException
        try:
            return [r.entity for r in self.engine.execute(sql, properties=properties)]
        except ParseFailedException as exc:
            raise BackendError(exc.message, exc.statement_text or sql, exc.line, exc.column) from None
        except KsqlException as exc:
            raise BackendError(exc.message, exc.statement_text or sql) from None

    def query(self, sql: str, properties: dict, push: bool) -> QueryStream:
        from pyksqlite.common.errors import KsqlException
        try:
            if push:
                return _LocalPush(self.engine.push_query(sql, properties))
            result = self.engine.pull_query(sql, properties)
        except KsqlException as exc:
            raise BackendError(exc.message, exc.statement_text or sql) from None
        return _Rows([c.name for c in result.columns], result.rows)

    def print_topic(self, statement) -> Iterator[str]:
        from pyksqlite.shell.server_streams import print_line
        if not self.engine.log.topic_exists(statement.topic):
            raise BackendError(f"Could not find topic '{statement.topic}'. Topic names are case-sensitive.")
        seen: dict[int, int] = {}
        if not statement.from_beginning:
            seen = {p: end - 1 for p, end in enumerate(self.engine.log.end_offsets(statement.topic))}
        printed = counted = 0
        interval = max(1, statement.interval or 1)
        while statement.limit is None or printed < statement.limit:
            fresh = [r for r in self.engine.read_topic_records(statement.topic)
                     if r.offset > seen.get(r.partition, -1)]
            for record in fresh:
                seen[record.partition] = max(seen.get(record.partition, -1), record.offset)
                counted += 1
                if (counted - 1) % interval == 0 and (statement.limit is None or printed < statement.limit):
                    printed += 1
                    yield print_line(record)
            if not fresh:
                time.sleep(0.25)

    def names(self) -> dict[str, list[str]]:
        catalog = self.engine.catalog
        sources = list(catalog.sources.values())
        columns = sorted({c.name for s in sources for c in s.schema.columns})
        return {"sources": [s.name for s in sources], "columns": columns, "functions": _function_names()}

    def close(self) -> None:
        self.engine.close()


def _function_names() -> list[str]:
    try:
        from pyksqlite.expressions.functions import default_registry
        return sorted({name for name, *_ in default_registry().list_functions()})
    except Exception:  # noqa: BLE001 - completion is best effort
        return []


# --- over REST -------------------------------------------------------------------------------

class _RemoteStream(QueryStream):
    def __init__(self, response, context):
        self.response, self._context = response, context
        self._lines = response.iter_lines()
        header = self._element(next(self._lines))
        if "header" not in header:
            raise BackendError(str(header))
        self.query_id = header["header"].get("queryId")
        self.columns = [part.strip().split(" ")[0].strip("`")
                        for part in _split_schema(header["header"].get("schema", ""))]

    @staticmethod
    def _element(line: str) -> dict:
        text = line.strip()
        if text.startswith("["):
            text = text[1:]
        text = text.rstrip("]").rstrip(",").rstrip("]")
        return json.loads(text) if text else {}

    def __iter__(self) -> Iterator[Row]:
        for line in self._lines:
            if not line.strip() or line.strip() == "]":
                continue
            element = self._element(line)
            if "row" in element:
                yield Row(element["row"].get("columns") or [], bool(element["row"].get("tombstone")))
            elif "finalMessage" in element:
                self.final = element["finalMessage"]
            elif "errorMessage" in element:
                raise BackendError(element["errorMessage"].get("message", str(element)))
        self.close()

    def close(self) -> None:
        self.response.close()
        self._context.__exit__(None, None, None)


def _split_schema(schema: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for char in schema:
        if char in "<(":
            depth += 1
        elif char in ">)":
            depth -= 1
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    if current.strip():
        parts.append(current)
    return parts


class RemoteBackend:
    def __init__(self, url: str, auth: Optional[tuple[str, str]] = None):
        import httpx
        self.url = url.rstrip("/")
        self.target = self.url
        self.http = httpx.Client(base_url=self.url, auth=auth, timeout=httpx.Timeout(30, read=None))
        self.http.get("/info").raise_for_status()

    def _raise(self, response, sql: str) -> None:
        try:
            body = response.json()
        except ValueError:
            raise BackendError(f"HTTP {response.status_code}: {response.text}", sql) from None
        raise BackendError(body.get("message", str(body)), body.get("statementText", sql))

    def execute(self, sql: str, properties: dict) -> list[dict]:
        response = self.http.post("/ksql", json={"ksql": sql, "streamsProperties": properties})
        if response.status_code != 200:
            self._raise(response, sql)
        return response.json()

    def query(self, sql: str, properties: dict, push: bool) -> QueryStream:
        context = self.http.stream("POST", "/query", json={"ksql": sql, "streamsProperties": properties},
                                   headers={"Accept": fmt.JSON})
        response = context.__enter__()
        if response.status_code != 200:
            response.read()
            context.__exit__(None, None, None)
            self._raise(response, sql)
        return _RemoteStream(response, context)

    def print_topic(self, statement) -> Iterator[str]:
        with self.http.stream("POST", "/query", json={"ksql": statement.text + ";"}) as response:
            if response.status_code != 200:
                response.read()
                self._raise(response, statement.text)
            for line in response.iter_lines():
                if line.strip():
                    yield line

    def names(self) -> dict[str, list[str]]:
        try:
            entities = self.execute("SHOW STREAMS; SHOW TABLES; SHOW FUNCTIONS;", {})
        except Exception:  # noqa: BLE001 - completion is best effort
            return {"sources": [], "columns": [], "functions": []}
        sources = [s["name"] for e in entities[:2] for s in e.get(e["@type"], [])]
        functions = [f["name"] for f in entities[2].get("functions", [])] if len(entities) > 2 else []
        return {"sources": sources, "columns": [], "functions": functions}

    def close(self) -> None:
        self.http.close()
