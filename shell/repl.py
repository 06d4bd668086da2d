"""`ksqlite` / `ksqlite repl`: the interactive shell, like ksqlDB's CLI.

Statements end with `;` and may span lines; results print as the CLI's tables; a push query
prints rows as they arrive until its LIMIT or Ctrl-C (which cancels the query, not the shell).
SET/UNSET change this session's properties, RUN SCRIPT runs a file, PRINT follows a topic.
It runs on the embedded engine, or on a server with `--server URL`. `-f FILE` and `-e SQL` run
statements without a prompt and exit (status 1 if one failed).

`Shell` does the work and writes to a stream, so tests can drive it without a terminal;
`interactive()` adds prompt-toolkit: history, completion, highlighting, multi-line input.
"""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Optional, TextIO

from pyksqlite.grammar import ast
from pyksqlite.grammar.errors import ParseError
from pyksqlite.grammar.formatter import format_string
from pyksqlite.grammar.parser import parse_statement, split_statements
from pyksqlite.shell import render
from pyksqlite.shell.client import BackendError

HISTORY_FILE = Path(os.environ.get("KSQLITE_HISTORY", str(Path.home() / ".ksqlite_history")))
CLI_COMMANDS = ("exit", "quit", "help", "clear", "version", "history")
KEYWORDS = sorted("""SELECT FROM WHERE GROUP BY PARTITION HAVING EMIT CHANGES FINAL LIMIT WINDOW TUMBLING
HOPPING SESSION SIZE ADVANCE RETENTION GRACE PERIOD JOIN LEFT RIGHT FULL OUTER INNER ON WITHIN AS
CREATE STREAM TABLE SOURCE OR REPLACE IF NOT EXISTS INSERT INTO VALUES DROP DELETE TOPIC TERMINATE
PAUSE RESUME SHOW LIST STREAMS TABLES TOPICS QUERIES PROPERTIES FUNCTIONS TYPES VARIABLES DESCRIBE
EXTENDED EXPLAIN PRINT BEGINNING INTERVAL SAMPLE SET UNSET DEFINE UNDEFINE RUN SCRIPT KEY PRIMARY
WITH KAFKA_TOPIC VALUE_FORMAT KEY_FORMAT FORMAT PARTITIONS TIMESTAMP AND NOT NULL IS IN LIKE
BETWEEN CASE WHEN THEN ELSE END CAST TRUE FALSE INT INTEGER BIGINT DOUBLE DECIMAL STRING VARCHAR
BOOLEAN BYTES DATE TIME ARRAY MAP STRUCT ALTER ADD COLUMN TYPE ASSERT ALL""".split())


class Shell:
    def __init__(self, backend, out: TextIO = sys.stdout, err: Optional[TextIO] = None):
        self.backend = backend
        self.out = out
        self.err = err or out
        self.properties: dict[str, str] = {}
        self.failed = False

    # ------------------------------------------------------------------ output
    def say(self, text: str = "") -> None:
        if text is not None:
            self.out.write(text + "\n")
            self.out.flush()

    def error(self, message: str, statement: str = "", line: int = 0, column: int = 0) -> None:
        """The message, and for a position a caret under the offending part of the statement."""
        self.failed = True
        text = message.split("\nStatement:")[0] if line else message
        out = [text]
        if line and statement:
            lines = statement.splitlines() or [statement]
            if 0 < line <= len(lines):
                out += ["", "  " + lines[line - 1], "  " + " " * max(0, column - 1) + "^"]
        self.err.write("\n".join(out) + "\n")
        self.err.flush()

    # ------------------------------------------------------------------ statements
    def run_text(self, text: str) -> bool:
        """Run every statement of `text`; False if one failed (the rest still run, as the CLI)."""
        ok = True
        for statement in split_statements(text):
            ok = self.run_statement(statement) and ok
        return ok

    def run_statement(self, text: str) -> bool:
        stripped = text.strip().rstrip(";").strip()
        if stripped.lower() in CLI_COMMANDS:
            return self._cli_command(stripped.lower())
        try:
            statement = parse_statement(text, client_statements=True)
        except ParseError as exc:
            self.error(exc.message, text, exc.line, exc.column)
            return False
        try:
            return self._dispatch(statement, text)
        except BackendError as exc:
            self.error(exc.message, exc.statement_text or text, exc.line, exc.column)
            return False

    def _dispatch(self, statement, text: str) -> bool:
        if isinstance(statement, ast.RunScript):
            path = Path(statement.path).expanduser()
            if not path.exists():
                self.error(f"Failed to read file: {path}")
                return False
            return self.run_text(path.read_text())
        if isinstance(statement, ast.SetProperty):
            self.properties[statement.name] = statement.value
            self.say(f"Successfully changed local property '{statement.name}' to '{statement.value}'.")
            return True
        if isinstance(statement, ast.UnsetProperty):
            old = self.properties.pop(statement.name, None)
            self.say(f"Successfully unset local property '{statement.name}' (value was '{old}').")
            return True
        if isinstance(statement, ast.Print):
            return self._print(statement)
        if isinstance(statement, ast.QueryStatement):
            return self._query(text, push=statement.query.emit is not None)
        for entity in self.backend.execute(text.strip().rstrip(";") + ";", dict(self.properties)):
            rendered = render.render_entity(entity)
            if rendered:
                self.say(rendered)
        return True

    def _query(self, text: str, push: bool) -> bool:
        stream = self.backend.query(text.strip().rstrip(";") + ";", dict(self.properties), push)
        width = shutil.get_terminal_size((120, 24)).columns
        table = render.RowTable(stream.columns, terminal_width=width)
        self.say(table.header())
        count = 0
        try:
            for row in stream:
                self.say(table.row(row.values, row.tombstone))
                count += 1
        except KeyboardInterrupt:
            stream.close()
            self.say(table.footer())
            self.say("Query terminated")
            return True
        self.say(table.footer())
        if push and getattr(stream, "final", None) == "Limit Reached":
            self.say(f"Limit Reached\nQuery terminated")
        elif not push:
            self.say(f"Query terminated")
        return True

    def _print(self, statement) -> bool:
        try:
            for line in self.backend.print_topic(statement):
                self.say(line)
        except KeyboardInterrupt:
            self.say("Topic printing ceased")
        return True

    def _cli_command(self, command: str) -> bool:
        if command in ("exit", "quit"):
            raise EOFError
        if command == "help":
            self.say("Statements end with ';'. Ctrl-C stops a running query; Ctrl-D or EXIT leaves.\n"
                     "SHOW STREAMS|TABLES|TOPICS|QUERIES|PROPERTIES|FUNCTIONS; DESCRIBE x; EXPLAIN q;\n"
                     "SET 'prop'='value'; UNSET 'prop'; RUN SCRIPT 'file.sql'; PRINT 'topic' FROM BEGINNING;")
        elif command == "version":
            from pyksqlite.shell.server import VERSION
            self.say(f"Version: {VERSION} (ksqlite)")
        elif command == "clear":
            self.out.write("\033[2J\033[H")
        elif command == "history" and HISTORY_FILE.exists():
            self.say(HISTORY_FILE.read_text())
        return True


# --- interactive ------------------------------------------------------------------------------

def _completer(backend):
    from prompt_toolkit.completion import Completer, Completion

    class KsqlCompleter(Completer):
        def __init__(self):
            self.names = {"sources": [], "columns": [], "functions": []}

        def refresh(self) -> None:
            try:
                self.names = backend.names()
            except Exception:  # noqa: BLE001 - completion is best effort
                pass

        def get_completions(self, document, complete_event):
            word = document.get_word_before_cursor(WORD=False)
            if not word:
                return
            upper = word.upper()
            seen = set()
            for group, words in (("source", self.names["sources"]), ("column", self.names["columns"]),
                                 ("function", self.names["functions"]), ("keyword", KEYWORDS)):
                for candidate in words:
                    if candidate.upper().startswith(upper) and candidate not in seen:
                        seen.add(candidate)
                        yield Completion(candidate, start_position=-len(word), display_meta=group)

    return KsqlCompleter()


def _key_bindings():
    from prompt_toolkit.key_binding import KeyBindings
    bindings = KeyBindings()

    @bindings.add("enter")
    def _(event):
        buffer = event.current_buffer
        text = buffer.text.strip()
        if not text or text.endswith(";") or text.rstrip(";").lower() in CLI_COMMANDS:
            buffer.validate_and_handle()
        else:
            buffer.insert_text("\n")

    return bindings


def interactive(shell: Shell) -> int:
    from prompt_toolkit import PromptSession
    from prompt_toolkit.history import FileHistory
    from prompt_toolkit.lexers import PygmentsLexer
    from pygments.lexers.sql import SqlLexer

    completer = _completer(shell.backend)
    completer.refresh()
    session = PromptSession(history=FileHistory(str(HISTORY_FILE)), lexer=PygmentsLexer(SqlLexer),
                            completer=completer, multiline=True, key_bindings=_key_bindings(),
                            prompt_continuation=lambda width, line, soft: ">".rjust(width - 1) + " ",
                            complete_while_typing=False, enable_history_search=True)
    shell.say(f"ksqlite: streaming SQL, ksqlDB-compatible ({shell.backend.target}).\n"
              "Statements end with ';'. Type 'help' for help, Ctrl-D or 'exit' to leave.\n")
    while True:
        try:
            text = session.prompt("ksql> ")
        except KeyboardInterrupt:
            continue
        except EOFError:
            break
        if not text.strip():
            continue
        try:
            shell.run_text(text if text.strip().endswith(";") else text + ";")
        except EOFError:
            break
        except KeyboardInterrupt:
            shell.say("Interrupted")
        completer.refresh()
    shell.say("Exiting ksqlite.")
    return 0


def main(server: Optional[str] = None, file: Optional[str] = None, execute: Optional[str] = None,
         data_dir: Optional[str] = None, user: Optional[str] = None, password: Optional[str] = None,
         defines: Optional[list[str]] = None) -> int:
    from pyksqlite.shell.client import LocalBackend, RemoteBackend
    if server:
        backend = RemoteBackend(server, (user, password or "") if user else None)
    else:
        from pyksqlite.facade.engine import Engine
        engine = Engine(data_dir or str(Path.home() / ".ksqlite" / "data"))
        engine.start()
        backend = LocalBackend(engine)
    shell = Shell(backend, err=sys.stderr)
    try:
        for define in defines or []:
            name, _, value = define.partition("=")
            shell.run_statement(f"DEFINE {name} = {format_string(value)};")
        if file or execute:
            text = Path(file).read_text() if file else execute
            try:
                shell.run_text(text)
            except (EOFError, KeyboardInterrupt):
                pass
            return 1 if shell.failed else 0
        return interactive(shell)
    finally:
        backend.close()
