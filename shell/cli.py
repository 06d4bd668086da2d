"""The `ksqlite` command: argument parsing only; each subcommand's work lives in its own module.

    ksqlite qtt FILE_OR_DIR... [--report R.json] [--filter S] [-v] [--jobs N] [--update-baseline B]
    ksqlite run FILE.sql [--data-dir D] [--until-idle] [--timeout S]

    ksqlite [repl] [--server URL] [-f FILE] [-e SQL]      (the interactive shell; the default)
    ksqlite serve [--host H] [--port P] [--data-dir D] [--auth-file F] [--insecure]
    ksqlite test DIR|FILE.sql [--junit-xml PATH]
    ksqlite test-runner -s statements.sql -i input.json -o output.json

An unknown subcommand prints the help.

The REPL and the server keep their data in different default directories (`default_data_dir`),
so that starting one while the other runs does not collide; a data directory is used by one
process at a time, and a second one stops with an error naming the first.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
from pathlib import Path
from typing import Callable, Optional


def default_data_dir(mode: str) -> str:
    """`$XDG_DATA_HOME/ksqlite/<mode>` (default `~/.local/share/ksqlite/<mode>`), per mode
    ("repl", "server"): like ksqlDB's ksql.streams.state.dir, one directory per server."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return str(Path(base) / "ksqlite" / mode)


def _add_qtt(subparsers) -> None:
    parser = subparsers.add_parser("qtt", help="run ksqlDB query-validation-test files")
    parser.add_argument("paths", nargs="+", metavar="FILE_OR_DIR")
    parser.add_argument("--report", help="write a JSON report here")
    parser.add_argument("--filter", dest="name_filter", help="only cases whose 'file :: name' contains this")
    parser.add_argument("-v", "--verbose", action="store_true", help="print each failing case and why")
    parser.add_argument("--jobs", type=int, default=1, help="run files in N processes")
    parser.add_argument("--bootstrap-servers", metavar="HOST:PORT",
                        help="run the cases on this Apache Kafka cluster instead of the embedded log")
    parser.add_argument("--update-baseline", metavar="BASELINE",
                        help="add newly passing cases to this baseline file")
    parser.add_argument("--extension-dir", metavar="DIR",
                        help="load Python UDFs from the *.py files of DIR in every case's engine "
                        "(ksql.extension.dir), as ksqlDB's harness loads its test functions")


def _run_qtt(args) -> int:
    from pyksqlite.shell.runners import qtt, qtt_cases, qtt_report, rest_qtt
    files = qtt_cases.discover_files(args.paths)
    rest_files = [str(f) for f in files if rest_qtt.is_rest_file(f)]
    if not rest_files:
        return qtt.run_command(args.paths, report=args.report, name_filter=args.name_filter,
                               verbose=args.verbose, jobs=args.jobs, baseline=args.update_baseline,
                               bootstrap_servers=args.bootstrap_servers, extension_dir=args.extension_dir)
    # REST query-validation tests run against a real server on a loopback port.
    options = qtt.RunOptions(name_filter=args.name_filter, bootstrap_servers=args.bootstrap_servers,
                             extension_dir=args.extension_dir)
    other = [str(f) for f in files if not rest_qtt.is_rest_file(f)]
    results = (qtt.run_paths(other, options, jobs=max(1, args.jobs)) if other else []) + \
        rest_qtt.run_paths(rest_files, options)
    if args.report:
        qtt_report.write_report(results, args.report)
    for line in qtt_report.console_lines(results, args.verbose):
        print(line)
    if args.update_baseline:
        qtt_report.update_baseline(args.update_baseline, results)
    return 0 if all(r.status in ("passed", "skipped") for r in results) else 1


def _add_run(subparsers) -> None:
    parser = subparsers.add_parser("run", help="execute a .sql file on an embedded engine")
    parser.add_argument("file", metavar="FILE.sql")
    parser.add_argument("--data-dir", help="where the engine keeps its data (default: a temporary dir)")
    parser.add_argument("--until-idle", action="store_true",
                        help="process the input once and exit instead of running until Ctrl-C")
    parser.add_argument("--timeout", type=float, default=None, help="seconds for --until-idle")
    parser.add_argument("--show", default="", metavar="SOURCE,...",
                        help="with --until-idle, print the contents of these streams/tables at the end")
    _engine_arguments(parser)


def _engine_arguments(parser) -> None:
    """Where the engine's log lives and its properties (shared by `run` and `serve`)."""
    parser.add_argument("--bootstrap-servers", metavar="HOST:PORT,...",
                        help="run on this Apache Kafka cluster instead of the embedded log")
    parser.add_argument("--config-file", metavar="FILE",
                        help="engine properties, one `name=value` per line (ksqlDB's ksql-server.properties)")
    parser.add_argument("--property", "-p", action="append", default=[], metavar="NAME=VALUE",
                        help="an engine property, e.g. ksql.streams.auto.offset.reset=earliest")
    parser.add_argument("--extension-dir", metavar="DIR",
                        help="load Python UDFs from the *.py files of DIR at start (the "
                        "ksql.extension.dir property): code the operator trusts, see docs/udfs.md")


def engine_properties(args) -> dict:
    """The properties of --config-file, then --property, then --bootstrap-servers and
    --extension-dir."""
    properties: dict = {}
    if args.config_file:
        with open(args.config_file) as handle:
            for line in handle:
                line = line.strip()
                if line and not line.startswith(("#", "!")) and "=" in line:
                    name, value = line.split("=", 1)
                    properties[name.strip()] = value.strip()
    properties.update(item.split("=", 1) for item in args.property)
    if args.bootstrap_servers:
        properties["ksql.streams.bootstrap.servers"] = args.bootstrap_servers
    if args.extension_dir:
        properties["ksql.extension.dir"] = args.extension_dir
    return properties


def _run_run(args) -> int:
    from pyksqlite import Engine
    from pyksqlite.common.errors import KsqlException
    with open(args.file) as handle:
        text = handle.read()
    with tempfile.TemporaryDirectory(prefix="ksqlite-run-") as scratch:
        properties = engine_properties(args)
        engine = Engine(args.data_dir or scratch, properties)
        try:
            for result in engine.execute(text):
                print(describe_result(result.entity))
            if args.until_idle:
                engine.run_until_idle(timeout=args.timeout)
                for name in filter(None, (n.strip() for n in args.show.split(","))):
                    print(f"\n{name}:")
                    result = engine.pull_query(f"SELECT * FROM {name};")
                    print(format_table([c.name for c in result.columns], result.rows))
            else:
                _serve_until_interrupted(engine)
        except KsqlException as exc:
            print(f"error: {exc.message}", file=sys.stderr)
            return 1
        finally:
            engine.close()
    return 0


def _serve_until_interrupted(engine) -> None:
    engine.start()
    print("running; Ctrl-C to stop", file=sys.stderr)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass


def format_table(header: list[str], rows: list[list]) -> str:
    """Rows as a ksqlDB-style text table."""
    cells = [[str(v) if v is not None else "null" for v in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(header)]
    rule = "+" + "+".join("-" * (w + 2) for w in widths) + "+"
    line = lambda values: "|" + "|".join(f" {v:<{w}} " for v, w in zip(values, widths)) + "|"
    return "\n".join([rule, line(header), rule, *[line(r) for r in cells], rule])


def describe_result(entity: dict) -> str:
    """One line for a statement's REST entity."""
    status = entity.get("commandStatus") or {}
    if status.get("message"):
        return status["message"]
    if entity.get("@type") == "connector_info":
        return f"Created connector {(entity.get('info') or {}).get('name', '')}"
    if entity.get("@type") == "drop_connector":
        return f"Dropped connector {entity.get('connectorName', '')}"
    if entity.get("@type") == "warning_entity":
        return entity.get("message", "")
    kind = entity.get("@type", "result")
    return f"{kind}: {entity.get('statementText', '')}".strip().rstrip(":")


def _add_serve(subparsers) -> None:
    parser = subparsers.add_parser("serve", help="serve ksqlDB's REST API (loopback by default)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8088, help="port (default 8088)")
    parser.add_argument("--data-dir", default=default_data_dir("server"),
                        help="where the engine keeps its data (default ~/.local/share/ksqlite/server)")
    parser.add_argument("--auth-file", help="require HTTP Basic auth (ksqlDB's authentication.method=BASIC); "
                        "a JAAS/Jetty password file, lines of `user: password[,role...]`")
    parser.add_argument("--insecure", action="store_true",
                        help="allow listening on a non-loopback address without --auth-file")
    _engine_arguments(parser)


def _run_serve(args) -> int:
    from pyksqlite.shell import server_process
    properties = engine_properties(args)
    return server_process.serve(args.host, args.port, args.data_dir, args.auth_file, properties, insecure=args.insecure)


def _add_repl(subparsers) -> None:
    parser = subparsers.add_parser("repl", help="the interactive shell (the default command)")
    _repl_arguments(parser)


def _repl_arguments(parser) -> None:
    parser.add_argument("--server", "-s", metavar="URL", help="a ksqlite/ksqlDB server (default: embedded engine)")
    parser.add_argument("--file", "-f", help="run the statements of this file and exit")
    parser.add_argument("--execute", "-e", metavar="SQL", help="run these statements and exit")
    parser.add_argument("--data-dir", default=default_data_dir("repl"),
                        help="the embedded engine's data (default ~/.local/share/ksqlite/repl)")
    parser.add_argument("--user", "-u", help="user for HTTP Basic auth (the password is asked for "
                        "when --password is not given)")
    parser.add_argument("--password", "-p", help="password for HTTP Basic auth")
    parser.add_argument("--define", "-d", action="append", default=[], metavar="NAME=VALUE",
                        help="define a variable")


def _run_repl(args) -> int:
    from pyksqlite.shell import repl
    from pyksqlite.shell.client import BackendError
    password = args.password
    if args.server and args.user and password is None:   # as ksqlDB's CLI: ask, do not echo
        import getpass
        password = getpass.getpass("Password: ") if sys.stdin.isatty() else sys.stdin.readline().rstrip("\n")
    try:
        return repl.main(server=args.server, file=args.file, execute=args.execute, data_dir=args.data_dir,
                         user=args.user, password=password, defines=args.define)
    except BackendError as error:
        print(f"error: {error.message}", file=sys.stderr)
        return 1


def _add_test(subparsers) -> None:
    parser = subparsers.add_parser("test", help="run ksqlDB run-ksql-test SQL test files")
    parser.add_argument("paths", nargs="+", metavar="DIR_OR_FILE")
    parser.add_argument("--junit-xml", metavar="PATH", help="write a JUnit XML report")
    parser.add_argument("--temp-folder", help="where test engines keep data (default: a temporary dir)")


def _run_test(args) -> int:
    from pyksqlite.shell.runners import sqltest
    return sqltest.run_command(args.paths, junit_xml=args.junit_xml, temp_folder=args.temp_folder)


def _add_test_runner(subparsers) -> None:
    parser = subparsers.add_parser("test-runner", help="ksqlDB's ksql-test-runner (statements + JSON records)")
    parser.add_argument("-s", "--sql-file", required=True)
    parser.add_argument("-i", "--input-file")
    parser.add_argument("-o", "--output-file", required=True)
    parser.add_argument("-e", "--extension-dir", help="load Python UDFs from the *.py files of this directory")


def _run_test_runner(args) -> int:
    from pyksqlite.shell.runners import test_runner
    return test_runner.run_command(args.sql_file, args.input_file, args.output_file, args.extension_dir)


# name -> (add the subparser, run it).
SUBCOMMANDS: dict[str, tuple[Callable, Callable]] = {
    "qtt": (_add_qtt, _run_qtt),
    "run": (_add_run, _run_run),
    "serve": (_add_serve, _run_serve),
    "repl": (_add_repl, _run_repl),
    "test": (_add_test, _run_test),
    "test-runner": (_add_test_runner, _run_test_runner),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ksqlite", description="ksqlite: streaming SQL, embedded")
    subparsers = parser.add_subparsers(dest="command")
    for add_parser, _ in SUBCOMMANDS.values():
        add_parser(subparsers)
    return parser


def main(argv: Optional[list[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help")):
        argv = ["repl", *argv]      # `ksqlite`, `ksqlite -f x.sql`, `ksqlite --server URL`
    elif argv[0].startswith(("http://", "https://")):
        argv = ["repl", "--server", *argv]   # like `ksql http://host:8088`
    if argv[0] not in SUBCOMMANDS:
        parser.print_help()
        return 2 if argv[0] not in ("-h", "--help") else 0
    args = parser.parse_args(argv)
    from pyksqlite.log.api import LogLockedError
    try:
        return SUBCOMMANDS[args.command][1](args)
    except LogLockedError as error:  # the data directory belongs to another process
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
