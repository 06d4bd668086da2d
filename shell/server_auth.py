"""HTTP Basic authentication for `ksqlite serve`, as ksqlDB's `authentication.method=BASIC`.

ksqlDB reads its users from a JAAS PropertyFileLoginModule file (Jetty's format): one
`user: password[,role...]` a line, `#` comments; a password may be written `PLAIN:text` or
`MD5:<hex digest>`. The same file is `--auth-file` here. The properties ksqlDB reads apply too:

    authentication.method       BASIC (implied by --auth-file) or NONE
    authentication.realm        the realm of the WWW-Authenticate challenge (default KsqlServer)
    authentication.roles        roles allowed in, comma-separated (default *: any user)
    authentication.skip.paths   more paths served without credentials, comma-separated

Every request needs valid credentials (REST, /ws, /schema-registry, unknown paths alike) except
the health checks. A refused request gets 401 with a Basic challenge and ksqlDB's error JSON.
Passwords are compared in constant time, also for an unknown user.
"""
from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import hmac
import logging
from pathlib import Path
from typing import Any, Mapping, Optional

from pyksqlite.shell import server_formats as fmt
from pyksqlite.shell.server_requests import json_response

logger = logging.getLogger("ksqlite.server")

# Health checks stay open, as ksqlDB's liveness/readiness probes are.
OPEN_PATHS = frozenset({"/healthcheck", "/chc/live", "/chc/ready"})
DEFAULT_REALM = "KsqlServer"


class AuthConfigError(Exception):
    """The auth file or properties cannot be used; the server does not start."""


@dataclasses.dataclass(frozen=True)
class User:
    password: str          # as written in the file, without a PLAIN: prefix
    scheme: str            # "PLAIN" or "MD5"
    roles: frozenset


@dataclasses.dataclass(frozen=True)
class AuthSettings:
    users: Mapping[str, User]
    realm: str = DEFAULT_REALM
    roles: frozenset = frozenset({"*"})
    open_paths: frozenset = OPEN_PATHS


def load_auth_file(path: str | Path) -> dict[str, User]:
    """The users of a Jetty/JAAS property file; a line that cannot be used is an error."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise AuthConfigError(f"cannot read the auth file {path}: {error.__class__.__name__}") from None
    users = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, colon, rest = line.partition(":")
        if not colon or not name.strip():
            raise AuthConfigError(f"auth file line {number}: expected `user: password[,role...]`")
        password, *roles = [part.strip() for part in rest.split(",")]
        users[name.strip()] = _user(password, roles, number)
    if not users:
        raise AuthConfigError(f"the auth file {path} names no user")
    return users


def _user(password: str, roles: list[str], number: int) -> User:
    scheme, colon, value = password.partition(":")
    if colon and scheme.upper() in ("PLAIN", "MD5"):
        return User(value, scheme.upper(), frozenset(filter(None, roles)))
    if colon and scheme.upper() in ("CRYPT", "OBF"):
        raise AuthConfigError(f"auth file line {number}: {scheme.upper()}: passwords are not supported "
                              "(use PLAIN: or MD5:)")
    return User(password, "PLAIN", frozenset(filter(None, roles)))


def auth_settings(users: Optional[Mapping[str, User]], properties: Mapping[str, Any]) -> Optional[AuthSettings]:
    """What the middleware enforces, from the users of --auth-file and ksqlDB's properties;
    None when authentication is off."""
    method = str(properties.get("authentication.method", "BASIC" if users else "NONE")).strip().upper()
    if method not in ("BASIC", "NONE"):
        raise AuthConfigError(f"authentication.method={method} is not supported (BASIC or NONE)")
    if method == "NONE":
        if users:
            raise AuthConfigError("--auth-file was given but authentication.method=NONE")
        return None
    if not users:
        raise AuthConfigError("authentication.method=BASIC needs --auth-file (the users and passwords)")
    roles = frozenset(r.strip() for r in str(properties.get("authentication.roles", "*")).split(",") if r.strip())
    skipped = frozenset(p.strip() for p in str(properties.get("authentication.skip.paths", "")).split(",")
                        if p.strip())
    return AuthSettings(dict(users), str(properties.get("authentication.realm") or DEFAULT_REALM),
                        roles or frozenset({"*"}), OPEN_PATHS | skipped)


def _password_digest(user: Optional[User], given: str) -> tuple[bytes, bytes]:
    """(expected, given) as bytes of one scheme, ready for a constant-time comparison."""
    if user is None:
        return hashlib.sha256(b"no such user").digest(), hashlib.sha256(given.encode()).digest()
    if user.scheme == "MD5":
        return user.password.lower().encode(), hashlib.md5(given.encode()).hexdigest().encode()
    return hashlib.sha256(user.password.encode()).digest(), hashlib.sha256(given.encode()).digest()


class BasicAuthMiddleware:
    """Wraps the whole app: no request reaches a route (or the schema registry) unauthenticated."""

    def __init__(self, app, settings: AuthSettings):
        self.app, self.settings = app, settings

    async def __call__(self, scope, receive, send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket") or scope.get("path") in self.settings.open_paths:
            await self.app(scope, receive, send)
            return
        verdict = self._check(scope)
        if verdict is None:
            await self.app(scope, receive, send)
        elif kind == "websocket":
            await receive()                                      # websocket.connect
            await send({"type": "websocket.close", "code": 1008})
        else:
            status, code, message = verdict
            headers = {"WWW-Authenticate": f'Basic realm="{self.settings.realm}"'} if status == 401 else None
            response = json_response(fmt.generic_error(code, message), status, headers=headers)
            await response(scope, receive, send)

    def _check(self, scope) -> Optional[tuple[int, int, str]]:
        """None if the request may pass, else (status, error code, message)."""
        credentials = _credentials(scope)
        if credentials is None:
            return 401, fmt.UNAUTHORIZED, "Unauthorized"
        name, password = credentials
        user = self.settings.users.get(name)
        expected, given = _password_digest(user, password)
        if not hmac.compare_digest(expected, given) or user is None:
            logger.info("refused credentials for user %r from %s", name[:64], (scope.get("client") or ("?",))[0])
            return 401, fmt.UNAUTHORIZED, "Unauthorized"
        if "*" not in self.settings.roles and not (user.roles & self.settings.roles):
            return 403, fmt.FORBIDDEN, "Forbidden: the user has none of the roles authentication.roles allows"
        return None


def _credentials(scope) -> Optional[tuple[str, str]]:
    header = b""
    for key, value in scope.get("headers") or ():
        if key.lower() == b"authorization":
            header = value
            break
    scheme, _, encoded = header.partition(b" ")
    if scheme.lower() != b"basic" or len(encoded) > 4096:
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    name, colon, password = decoded.partition(":")
    return (name, password) if colon else None
