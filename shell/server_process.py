"""The server as a process: binding, safe defaults, Hypercorn, and stopping on a signal.

`ksqlite serve` listens on 127.0.0.1 unless told otherwise. Listening on any other address
without authentication (`--auth-file`, HTTP Basic) is refused unless `--insecure` says that
everyone who can reach the port may run statements.

SIGTERM or SIGINT stops the server within `SHUTDOWN_SECONDS`, whatever is running: Hypercorn
stops accepting and gives open requests `GRACEFUL_SECONDS`, push queries are closed, the engine
closes; a statement still running in a worker thread by the deadline cannot be interrupted, so
the process then exits without waiting for it (the log is crash-safe: what was acknowledged is
on disk). A second signal exits at once.

    with ServerThread(engine, port=0) as server:  # a real server on a loopback port (tests)
        server.url
"""
from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import signal
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Mapping, Optional, Union

from pyksqlite.shell.server_auth import AuthConfigError, AuthSettings, User, auth_settings, load_auth_file

logger = logging.getLogger("ksqlite.server")

SHUTDOWN_SECONDS = 4.0
GRACEFUL_SECONDS = 2.0


def hypercorn_config(sock: socket.socket):
    from hypercorn.config import Config
    config = Config()
    # Hypercorn owns (and closes) the descriptor it is given: hand it a duplicate.
    config.bind = [f"fd://{os.dup(sock.fileno())}"]
    config.accesslog = None
    config.errorlog = logging.getLogger("ksqlite.server.http")
    config.keep_alive_timeout = 75
    config.graceful_timeout = GRACEFUL_SECONDS
    return config


def bind_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.set_inheritable(True)
    return sock


def is_loopback(host: str) -> bool:
    """Whether every address `host` names is a loopback address."""
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        pass
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except OSError:
        return False
    return bool(addresses) and all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addresses)


def _settings(auth: Union[None, AuthSettings, Mapping[str, User]], properties: Mapping) -> Optional[AuthSettings]:
    return auth if auth is None or isinstance(auth, AuthSettings) else auth_settings(auth, properties)


class ServerThread:
    """A real server on a loopback port, in a background thread (tests, REST QTT, benchmarks).
    `port=0` picks a free port; `url` says which. `auth`: AuthSettings, or the users of an
    auth file (`load_auth_file`)."""

    def __init__(self, engine, host: str = "127.0.0.1", port: int = 0, auth=None,
                 send_timeout: Optional[float] = None):
        from pyksqlite.shell.server import SEND_TIMEOUT_SECONDS, create_app
        self.engine = engine
        self.app = create_app(engine, _settings(auth, engine.properties),
                              SEND_TIMEOUT_SECONDS if send_timeout is None else send_timeout)
        self.sock = bind_socket(host, port)
        self.host, self.port = host, self.sock.getsockname()[1]
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._stop: Optional[asyncio.Event] = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ksqlite-server", daemon=True)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> "ServerThread":
        self.engine.start()
        self._thread.start()
        self._ready.wait(10)
        return self

    def _run(self) -> None:
        from hypercorn.asyncio import serve
        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        self._stop = asyncio.Event()
        self._loop.call_soon(self._ready.set)
        try:
            self._loop.run_until_complete(serve(self.app, hypercorn_config(self.sock),
                                                shutdown_trigger=self._stop.wait))
        finally:
            self._loop.close()

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(10)
        _close_push_queries(self.app)
        self.sock.close()

    def __enter__(self) -> "ServerThread":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _close_push_queries(app) -> None:
    for query in list(app.state.ksql.push_queries.values()):
        try:
            query.close()
        except Exception:  # noqa: BLE001 - stopping goes on
            logger.warning("closing a push query failed", exc_info=True)


def _refuse(message: str) -> int:
    print(f"ksqlite serve: {message}", file=sys.stderr, flush=True)
    return 2


def serve(host: str = "127.0.0.1", port: int = 8088, data_dir: Optional[str] = None,
          auth_file: Optional[str] = None, properties: Optional[dict] = None,
          insecure: bool = False) -> int:
    """`ksqlite serve`: run until SIGTERM / SIGINT. Returns the exit status."""
    from pyksqlite.facade.engine import Engine
    from pyksqlite.common.errors import KsqlException
    from pyksqlite.shell.server import create_app
    properties = dict(properties or {})
    try:
        settings = auth_settings(load_auth_file(auth_file) if auth_file else None, properties)
    except AuthConfigError as error:
        return _refuse(str(error))
    if settings is None and not insecure and not is_loopback(host):
        return _refuse(f"refusing to listen on {host} without authentication (anyone reaching it could "
                       "run statements): give --auth-file FILE, or --insecure to accept that")
    data_dir = data_dir or str(Path.home() / ".ksqlite" / "data")
    try:
        sock = bind_socket(host, port)
    except OSError as error:
        return _refuse(f"cannot listen on {host}:{port}: {error.strerror or error}")
    try:
        engine = Engine(data_dir, properties=properties)
        app = create_app(engine, settings)
    except (KsqlException, ValueError) as error:
        sock.close()
        return _refuse(getattr(error, "message", None) or str(error))
    engine.start()
    print(f"ksqlite server listening on http://{host}:{sock.getsockname()[1]} (data: {data_dir})", flush=True)
    try:
        _run_until_signalled(app, sock)
    finally:
        _close_push_queries(app)
        _bounded(engine.close, "closing the engine")
        sock.close()
    if not _threads_finish(0.5):
        _exit_now("a statement is still running")   # Python would wait for it at exit
    return 0


def _threads_finish(seconds: float) -> bool:
    """Whether every other non-daemon thread (idle workers stop by themselves) ends in time."""
    deadline = time.monotonic() + seconds
    for thread in threading.enumerate():
        if thread is not threading.current_thread() and not thread.daemon:
            thread.join(max(0.0, deadline - time.monotonic()))
    return not any(t.is_alive() and not t.daemon for t in threading.enumerate()
                   if t is not threading.current_thread())


def _run_until_signalled(app, sock: socket.socket) -> None:
    from hypercorn.asyncio import serve as hypercorn_serve
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    signalled = threading.Event()

    def on_signal(number, frame) -> None:
        if signalled.is_set():
            os._exit(128 + number)           # a second signal: now
        signalled.set()
        watchdog = threading.Timer(SHUTDOWN_SECONDS, _exit_now, args=(f"stopping took more than {SHUTDOWN_SECONDS:g} s",))
        watchdog.daemon = True
        watchdog.start()
        loop.call_soon_threadsafe(stop.set)

    loop.set_exception_handler(_quiet_when_cancelled)
    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        loop.run_until_complete(hypercorn_serve(app, hypercorn_config(sock), shutdown_trigger=stop.wait))
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        # Not loop.shutdown_default_executor(): a worker thread may be in a long statement.
        loop.close()


def _quiet_when_cancelled(loop, context: dict) -> None:
    """Connections cancelled while the server stops are expected, not worth a traceback."""
    if isinstance(context.get("exception"), asyncio.CancelledError):
        return
    loop.default_exception_handler(context)


def _exit_now(why: str) -> None:
    """Leave without waiting for what is still running (a statement in a worker thread)."""
    logger.warning("%s: exiting without waiting for running statements", why)
    for handler in logging.getLogger().handlers + logger.handlers:
        try:
            handler.flush()
        except Exception:  # noqa: BLE001
            pass
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _bounded(work, what: str, seconds: float = SHUTDOWN_SECONDS) -> None:
    """Run `work` in a daemon thread, waiting at most `seconds` (the watchdog ends the process
    if it never returns)."""
    thread = threading.Thread(target=work, name=f"ksqlite-{what.replace(' ', '-')}", daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        logger.warning("%s did not finish within %.0f s", what, seconds)
