"""Names that become paths, and the one way to build a path from them.

Every name that ends up in a file path (topic names in the log, consumer group names, query ids
of state directories) must match a strict pattern before use, and every such path is built with
`inside(root, ...)`, which resolves it and refuses anything that leaves `root` (a `..`, an
absolute part, a symlink pointing out). Names follow Kafka's and ksqlDB's rules:

* topic names (and consumer group names, which are directories too): Kafka's rule, ASCII letters,
  digits, `.`, `_` and `-`, at most 249 characters, and not `.` or `..`;
* query ids given with `WITH (QUERY_ID='...')`: ksqlDB's rule, upper-cased, letters, digits and
  `_` only, not starting with a prefix ksqlDB reserves for generated ids;
* generated query ids (`CSAS_<sink>_<n>`...): the sink's name with every other character
  replaced by `_` (a quoted name may hold anything), so they follow the same rule.

A bad name is a statement error (`InvalidNameError`) with Kafka's or ksqlDB's wording.
"""
from __future__ import annotations

import hashlib
import re
from pathlib import Path

from pyksqlite.common.errors import KsqlStatementException

TOPIC_NAME = re.compile(r"[a-zA-Z0-9._-]+")
MAX_TOPIC_NAME = 249
QUERY_ID = re.compile(r"[A-Za-z0-9_]+")
MAX_QUERY_ID = 128           # a query id is part of topic names (changelogs) of at most 249
RESERVED_QUERY_ID_PREFIXES = ("INSERTQUERY_", "CTAS_", "CSAS_", "CST_")
_GENERATED_PART = re.compile(r"[^A-Za-z0-9_]")
MAX_GENERATED_PART = 64


class InvalidNameError(KsqlStatementException, ValueError):
    """A name that cannot become part of a path (Kafka's InvalidTopicException and the like); a
    ValueError too, for the log's callers."""
    kind = "org.apache.kafka.common.errors.InvalidTopicException"


def check_topic_name(name: object, what: str = "Topic") -> str:
    """`name` if it is a valid Kafka topic name; else InvalidNameError in Kafka's words."""
    if not isinstance(name, str) or not name:
        raise InvalidNameError(f"{what} name is illegal, it can't be empty")
    if name in (".", ".."):
        raise InvalidNameError(f"{what} name cannot be \".\" or \"..\"")
    if len(name) > MAX_TOPIC_NAME:
        raise InvalidNameError(f"{what} name is illegal, it can't be longer than {MAX_TOPIC_NAME} "
                               f"characters, {what.lower()} name: {_shown(name)}")
    if not TOPIC_NAME.fullmatch(name):
        raise InvalidNameError(f"{what} name \"{_shown(name)}\" is illegal, it contains a character other "
                               "than ASCII alphanumerics, '.', '_' and '-'")
    return name


def check_group_name(group: object) -> str:
    """A consumer group name (a directory of the embedded log): the topic rule."""
    return check_topic_name(group, "Consumer group")


def check_query_id(query_id: object) -> str:
    """A query id from `WITH (QUERY_ID=...)`, upper-cased as ksqlDB does; InvalidNameError else."""
    text = str(query_id).upper()
    for prefix in RESERVED_QUERY_ID_PREFIXES:
        if text.startswith(prefix):
            raise InvalidNameError(
                "Query IDs must not start with a reserved query ID prefix "
                f"({', '.join(RESERVED_QUERY_ID_PREFIXES)}). Got '{_shown(text)}'.")
    return check_generated_query_id(text)


def check_generated_query_id(query_id: str) -> str:
    """Any query id the engine uses as a directory name (generated ones included)."""
    if not QUERY_ID.fullmatch(query_id):
        raise InvalidNameError(f"Query IDs may contain only alphanumeric characters and '_'. Got: "
                               f"'{_shown(query_id)}'")
    if len(query_id) > MAX_QUERY_ID:
        raise InvalidNameError(f"Query IDs may be at most {MAX_QUERY_ID} characters long. Got: "
                               f"'{_shown(query_id)}'")
    return query_id


def query_id_part(name: str) -> str:
    """A source name as it appears in generated query ids: characters outside [A-Za-z0-9_]
    replaced by `_`; a long one cut, with a hash of the whole so different names stay apart."""
    part = _GENERATED_PART.sub("_", name) or "_"
    if len(part) > MAX_GENERATED_PART:
        part = part[:MAX_GENERATED_PART - 9] + "_" + hashlib.sha256(name.encode()).hexdigest()[:8]
    return part


def inside(root: str | Path, *parts: str) -> Path:
    """`root/parts...`, resolved; InvalidNameError if it is not inside `root` (resolved too).
    Each part should already have passed its name check: this is the last line of defence."""
    base = Path(root).resolve()
    for part in parts:
        if not isinstance(part, str) or not part or "\x00" in part or "/" in part or part in (".", ".."):
            raise InvalidNameError(f"Invalid path component: '{_shown(str(part))}'")
    path = base.joinpath(*parts).resolve()
    if path == base or not path.is_relative_to(base):
        raise InvalidNameError(f"Path '{_shown('/'.join(parts))}' leaves the data directory")
    return path


def _shown(name: str, limit: int = 300) -> str:
    """A name as an error message shows it: control characters escaped, cut if very long."""
    text = name.encode("unicode_escape").decode("ascii") if not name.isprintable() else name
    return text if len(text) <= limit else text[:limit] + "..."
