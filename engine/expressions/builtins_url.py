"""ksqlDB's URL functions: Java's URLEncoder/URLDecoder for parameters, and `java.net.URI`'s
components, read with RFC 3986's reference regular expression (appendix B).

A component that is absent is NULL. PATH, QUERY and FRAGMENT are percent-decoded as
`URI.getPath()` & co. return them; URL_EXTRACT_PARAMETER returns the raw value, as ksqlDB does.
"""
from __future__ import annotations

from pyksqlite.grammar.ast import INTEGER, STRING

CATEGORY = dict(category="URL")
# Groups: 2 scheme, 3 '//' + authority, 4 authority, 5 path, 6 '?' + query, 7 query,
# 8 '#' + fragment, 9 fragment.
_URI = r"'^(([^:/?#]+):)?(//([^/?#]*))?([^?#]*)(\?([^#]*))?(#(.*))?'"
# Authority: [userinfo@]host[:port]
_AUTHORITY = r"'^(?:[^@]*@)?(\[[^\]]*\]|[^:]*)(?::(\d*))?$'"


def _part(url: str, group: int) -> str:
    return f"regexp_extract({url}, {_URI}, {group})"


def _present(url: str, group: int) -> str:
    """A component's text, or NULL when its delimiter group did not match."""
    marker = {2: 1, 4: 3, 7: 6, 9: 8}.get(group, group)
    return f"CASE WHEN {_part(url, marker)} <> '' THEN {_part(url, group)} END"


def _decoded(sql: str) -> str:
    return f"url_decode({sql})"


def _host(url: str) -> str:
    authority = _present(url, 4)
    host = f"regexp_extract({authority}, {_AUTHORITY}, 1)"
    return f"CASE WHEN {host} <> '' THEN {host} END"


def _port(url: str) -> str:
    authority = _present(url, 4)
    port = f"regexp_extract({authority}, {_AUTHORITY}, 2)"
    return f"CASE WHEN {port} <> '' THEN CAST({port} AS INTEGER) END"


def _parameter(url: str, name: str) -> str:
    query = _present(url, 7)
    pattern = f"'(?:^|&)' || regexp_escape({name}) || '=([^&]*)'"
    return (f"CASE WHEN regexp_matches({query}, {pattern}) "
            f"THEN regexp_extract({query}, {pattern}, 1) END")


def _encode_param(value: str) -> str:
    """Java's URLEncoder: space as '+', '*' kept, '~' escaped."""
    return f"replace(replace(replace(url_encode({value}), '%20', '+'), '%2A', '*'), '~', '%7E')"


def register_url(registry) -> None:
    reg = registry.register
    reg("URL_ENCODE_PARAM", (STRING,), STRING, lambda a, t: _encode_param(a[0]),
        description="Escape a value for a URL query (application/x-www-form-urlencoded).",
        **CATEGORY)
    reg("URL_DECODE_PARAM", (STRING,), STRING, "url_decode(replace({0}, '+', ' '))",
        description="Unescape an application/x-www-form-urlencoded value.", **CATEGORY)
    reg("URL_EXTRACT_PROTOCOL", (STRING,), STRING, lambda a, t: _present(a[0], 2),
        description="The scheme of a URL.", **CATEGORY)
    reg("URL_EXTRACT_HOST", (STRING,), STRING, lambda a, t: _host(a[0]),
        description="The host of a URL.", **CATEGORY)
    reg("URL_EXTRACT_PORT", (STRING,), INTEGER, lambda a, t: _port(a[0]),
        description="The port of a URL.", **CATEGORY)
    reg("URL_EXTRACT_PATH", (STRING,), STRING,
        lambda a, t: f"CASE WHEN {a[0]} IS NOT NULL THEN {_decoded(_part(a[0], 5))} END",
        description="The decoded path of a URL.", **CATEGORY)
    reg("URL_EXTRACT_QUERY", (STRING,), STRING, lambda a, t: _decoded(_present(a[0], 7)),
        description="The decoded query of a URL.", **CATEGORY)
    reg("URL_EXTRACT_FRAGMENT", (STRING,), STRING, lambda a, t: _decoded(_present(a[0], 9)),
        description="The decoded fragment of a URL.", **CATEGORY)
    reg("URL_EXTRACT_PARAMETER", (STRING, STRING), STRING,
        lambda a, t: _parameter(a[0], a[1]),
        description="The raw value of the first query parameter with a name.", **CATEGORY)
