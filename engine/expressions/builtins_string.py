"""ksqlDB's string functions (and their BYTES overloads) as DuckDB SQL.

Where ksqlDB's Java semantics differ from DuckDB's built-ins the SQL spells them out: SUBSTRING's
index rules, Java's `String.trim`, INITCAP's word splitting, INSTR's occurrence search, the MASK
family (per character), REGEXP_* (NULL when nothing matches, `$1` group references), and the
BYTES variants, which work on the hex text of the bytes so that the byte boundaries stay aligned.
"""
from __future__ import annotations

from pyksqlite.expressions.builtins_bytes import decode_string_sql, encode_bytes_sql
from pyksqlite.common.duck import quote_string
from pyksqlite.expressions.builtins_common import literal_string
from pyksqlite.expressions.casts import bind_once, fresh_lambda_param
from pyksqlite.grammar.ast import BYTES, INTEGER, STRING, array, map_of

CATEGORY = dict(category="STRING")


def register_strings(registry) -> None:
    _register_basics(registry)
    _register_substring(registry)
    _register_padding(registry)
    _register_search(registry)
    _register_masks(registry)
    _register_regexps(registry)
    _register_splits(registry)
    _register_encodings(registry)


# ---- small functions -------------------------------------------------------------------------

def _register_basics(registry) -> None:
    reg = registry.register
    registry.clear_variants("TRIM")
    # Java's String.trim removes every character <= U+0020 at both ends.
    reg("TRIM", (STRING,), STRING, r"regexp_replace({0}, '^[\x00-\x20]+|[\x00-\x20]+$', '', 'g')",
        description="Remove whitespace and control characters at both ends.", **CATEGORY)
    reg("LEN", (BYTES,), INTEGER, "CAST(octet_length({0}) AS INTEGER)", **CATEGORY)
    reg("CONCAT", (BYTES, BYTES), BYTES, _concat_bytes, variadic=True, **CATEGORY)
    reg("CONCAT_WS", (BYTES, BYTES, BYTES), BYTES, _concat_ws_bytes, variadic=True, **CATEGORY)
    reg("MD5", (STRING,), STRING, "md5({0})", description="The hex MD5 digest of a string.",
        **CATEGORY)
    reg("INITCAP", (STRING,), STRING, _initcap,
        description="Capitalize the first letter of each word, lower-case the rest.", **CATEGORY)
    reg("CHR", (INTEGER,), STRING,
        "CASE WHEN {0} BETWEEN 0 AND 1114111 THEN chr({0}) END",
        description="The character of a code point (INT) or a '\\uXXXX' escape (STRING).",
        **CATEGORY)
    reg("CHR", (STRING,), STRING, lambda a, t: bind_once(a[0], _chr_from_escape), **CATEGORY)


def _concat_bytes(args, types):
    return "(" + " || ".join(f"coalesce({a}, ''::BLOB)" for a in args) + ")"


def _concat_ws_bytes(args, types):
    separator, values = args[0], args[1:]
    item = fresh_lambda_param()
    left, right = fresh_lambda_param(), fresh_lambda_param()
    present = f"list_filter([{', '.join(values)}], lambda {item}: {item} IS NOT NULL)"
    joined = (f"CASE WHEN len({present}) = 0 THEN ''::BLOB ELSE list_reduce({present}, "
              f"lambda {left}, {right}: {left} || {separator} || {right}) END")
    return f"CASE WHEN {separator} IS NULL THEN NULL ELSE {joined} END"


def _initcap(args, types):
    word = fresh_lambda_param()
    words = f"regexp_extract_all(lower({args[0]}), '\\S+\\s*')"
    capitalized = f"list_transform({words}, lambda {word}: upper({word}[1]) || {word}[2:])"
    return f"CASE WHEN {args[0]} IS NULL THEN NULL ELSE array_to_string({capitalized}, '') END"


def _hex_value(sql: str) -> str:
    return f"CAST('0x' || {sql} AS INTEGER)"


def _chr_from_escape(s: str) -> str:
    high, low = _hex_value(f"substr({s}, 3, 4)"), _hex_value(f"substr({s}, 9, 4)")
    pair = f"(({high} - 55296) * 1024 + ({low} - 56320) + 65536)"
    return (f"CASE WHEN NOT regexp_full_match({s}, '(\\\\u[0-9a-fA-F]{{4}}){{1,2}}') THEN NULL "
            f"WHEN length({s}) = 6 THEN chr({high}) "
            f"WHEN {high} BETWEEN 55296 AND 56319 AND {low} BETWEEN 56320 AND 57343 THEN chr({pair}) "
            f"ELSE chr({high}) || chr({low}) END")


# ---- SUBSTRING -------------------------------------------------------------------------------

def _start_index(length: str, pos: str) -> str:
    """ksqlDB's 0-based start: negative positions count from the end, 0 and 1 are the start."""
    return (f"(CASE WHEN {pos} < 0 THEN greatest({length} + {pos}, 0) "
            f"WHEN {pos} >= 0 THEN greatest({pos} - 1, 0) END)")


def _non_negative(sql: str) -> str:
    """max(sql, 0) keeping NULL (DuckDB's greatest skips NULLs)."""
    return f"(CASE WHEN {sql} < 0 THEN 0 ELSE {sql} END)"


def _substring_string(args, types):
    start = _start_index(f"length({args[0]})", args[1])
    if len(args) == 2:
        return f"substring({args[0]}, {start} + 1)"
    return f"substring({args[0]}, {start} + 1, {_non_negative(args[2])})"


def _substring_bytes(args, types):
    start = _start_index(f"octet_length({args[0]})", args[1])
    hex_text = f"hex({args[0]})"
    if len(args) == 2:
        return f"unhex(substring({hex_text}, 2 * {start} + 1))"
    return f"unhex(substring({hex_text}, 2 * {start} + 1, 2 * {_non_negative(args[2])}))"


def _register_substring(registry) -> None:
    registry.clear_variants("SUBSTRING")
    reg = registry.register
    reg("SUBSTRING", (STRING, INTEGER), STRING, _substring_string,
        description="The substring from a 1-based position (negative: from the end), "
                    "optionally of a length.", **CATEGORY)
    reg("SUBSTRING", (STRING, INTEGER, INTEGER), STRING, _substring_string, **CATEGORY)
    reg("SUBSTRING", (BYTES, INTEGER), BYTES, _substring_bytes, **CATEGORY)
    reg("SUBSTRING", (BYTES, INTEGER, INTEGER), BYTES, _substring_bytes, **CATEGORY)


# ---- LPAD / RPAD -----------------------------------------------------------------------------

def _pad(function: str, is_bytes: bool):
    def render(args, types):
        value, length, padding = args
        invalid = f"{length} < 0 OR {('octet_length' if is_bytes else 'length')}({padding}) = 0"
        if is_bytes:
            body = f"unhex({function}(hex({value}), 2 * {length}, hex({padding})))"
        else:
            body = f"{function}({value}, {length}, {padding})"
        return f"CASE WHEN {invalid} THEN NULL ELSE {body} END"
    return render


def _register_padding(registry) -> None:
    for name in ("LPAD", "RPAD"):
        side = "left" if name == "LPAD" else "right"
        registry.register(name, (STRING, INTEGER, STRING), STRING, _pad(name.lower(), False),
                          description=f"Pad on the {side} to a length with a repeated padding.",
                          **CATEGORY)
        registry.register(name, (BYTES, INTEGER, BYTES), BYTES, _pad(name.lower(), True),
                          **CATEGORY)


# ---- INSTR -----------------------------------------------------------------------------------

def _instr(args, types):
    value, needle = args[0], args[1]
    position = args[2] if len(args) > 2 else "1"
    occurrence = args[3] if len(args) > 3 else "1"
    i = fresh_lambda_param()
    matches = (f"list_filter(range(1, length({value}) + 1), lambda {i}: "
               f"substr({value}, {i}, length({needle})) = {needle})")
    forward = f"list_filter({matches}, lambda {i}: {i} >= {position})[{occurrence}]"
    backward = (f"list_reverse(list_filter({matches}, lambda {i}: "
                f"{i} <= length({value}) + {position} + 1))[{occurrence}]")
    found = f"CASE WHEN {position} < 0 THEN {backward} ELSE {forward} END"
    return (f"CASE WHEN {value} IS NULL OR {needle} IS NULL THEN NULL "
            f"ELSE CAST(coalesce({found}, 0) AS INTEGER) END")


def _register_search(registry) -> None:
    for params in ((STRING, STRING), (STRING, STRING, INTEGER), (STRING, STRING, INTEGER, INTEGER)):
        registry.register("INSTR", params, INTEGER, _instr,
                          description="The 1-based position of the n-th occurrence of a "
                                      "substring from a position (negative: backwards); 0 if none.",
                          **CATEGORY)


# ---- MASK family -----------------------------------------------------------------------------

_DEFAULT_MASKS = ("'X'", "'x'", "'n'", "'-'")


def _mask_char(char: str, masks: list[str]) -> str:
    upper, lower, digit, other = masks
    return (f"CASE WHEN {char} <> lower({char}) THEN coalesce({upper}, {char}) "
            f"WHEN {char} <> upper({char}) THEN coalesce({lower}, {char}) "
            f"WHEN regexp_matches({char}, '^[0-9]$') THEN coalesce({digit}, {char}) "
            f"ELSE coalesce({other}, {char}) END")


def _masked(value: str, masks: list[str], keep) -> str:
    """`value` with each character masked unless keep(position_sql, length_sql) holds."""
    index = fresh_lambda_param()
    chars = f"string_split({value}, '')"
    kept = keep(index, f"length({value})")
    body = (f"list_transform(range(1, length({value}) + 1), lambda {index}: "
            f"CASE WHEN {kept} THEN {chars}[{index}] ELSE "
            f"{_mask_char(f'{chars}[{index}]', masks)} END)")
    return f"CASE WHEN {value} IS NULL THEN NULL ELSE array_to_string({body}, '') END"


def _mask_variant(keep, counted: bool):
    def render(args, types):
        value = args[0]
        count = args[1] if counted else None
        masks = list(args[2 if counted else 1:]) + list(_DEFAULT_MASKS[len(args) - (2 if counted else 1):])
        keep_sql = (lambda i, n: keep(i, n, count)) if counted else (lambda i, n: "FALSE")
        masked = _masked(value, masks, keep_sql)
        if counted:
            return f"CASE WHEN {count} < 0 THEN NULL ELSE {masked} END"
        return masked
    return render


_MASK_RULES = {
    "MASK_LEFT": lambda i, n, c: f"{i} > {c}",
    "MASK_RIGHT": lambda i, n, c: f"{i} <= {n} - {c}",
    "MASK_KEEP_LEFT": lambda i, n, c: f"{i} <= {c}",
    "MASK_KEEP_RIGHT": lambda i, n, c: f"{i} > {n} - {c}",
}


def _register_masks(registry) -> None:
    for count in range(5):
        registry.register("MASK", (STRING,) + (STRING,) * count, STRING,
                          _mask_variant(None, False),
                          description="Mask upper-case (X), lower-case (x), digit (n) and other "
                                      "(-) characters; a NULL mask keeps that class.", **CATEGORY)
    for name, rule in _MASK_RULES.items():
        for count in range(5):
            registry.register(name, (STRING, INTEGER) + (STRING,) * count, STRING,
                              _mask_variant(rule, True), **CATEGORY)


# ---- REGEXP_* --------------------------------------------------------------------------------

def _regexp_extract(args, types):
    pattern, value = args[0], args[1]
    group = args[2] if len(args) > 2 else "0"
    return (f"CASE WHEN regexp_matches({value}, {pattern}) "
            f"THEN regexp_extract({value}, {pattern}, {group}) END")


def _regexp_extract_all(args, types):
    pattern, value = args[0], args[1]
    group = args[2] if len(args) > 2 else "0"
    return f"regexp_extract_all({value}, {pattern}, {group})"


def _java_replacement(sql: str) -> str:
    """Java's `$n` group references as RE2's `\\n` (a literal backslash doubles)."""
    text = literal_string(sql)
    if text is not None:
        import re
        converted = re.sub(r"\\", r"\\\\", text)
        converted = re.sub(r"\$(\d)", r"\\\1", converted)
        return quote_string(converted)
    return f"regexp_replace(replace({sql}, '\\', '\\\\'), '\\$(\\d)', '\\\\\\1', 'g')"


def _register_regexps(registry) -> None:
    reg = registry.register
    for params in ((STRING, STRING), (STRING, STRING, INTEGER)):
        reg("REGEXP_EXTRACT", params, STRING, _regexp_extract,
            description="The first match of a pattern (or of a group), NULL if none.", **CATEGORY)
        reg("REGEXP_EXTRACT_ALL", params, array(STRING), _regexp_extract_all,
            description="Every match of a pattern (or of a group).", **CATEGORY)
    reg("REGEXP_REPLACE", (STRING, STRING, STRING), STRING,
        lambda a, t: f"regexp_replace({a[0]}, {a[1]}, {_java_replacement(a[2])}, 'g')",
        description="Replace every match of a pattern ($n refers to a group).", **CATEGORY)
    reg("REGEXP_SPLIT_TO_ARRAY", (STRING, STRING), array(STRING),
        "CASE WHEN {1} IS NULL THEN NULL ELSE regexp_split_to_array({0}, {1}) END", description="Split a string around a pattern.",
        **CATEGORY)


# ---- SPLIT, SPLIT_TO_MAP ---------------------------------------------------------------------

def _split_bytes(args, types):
    """Split on the hex text with a comma after every byte, so matches stay byte-aligned."""
    part = fresh_lambda_param()
    tokens = f"regexp_replace(hex({args[0]}), '(..)', '\\1,', 'g')"
    delimiter = f"regexp_replace(hex({args[1]}), '(..)', '\\1,', 'g')"
    pieces = (f"CASE WHEN octet_length({args[1]}) = 0 THEN string_split({tokens}, ',')[:-2] "
              f"ELSE string_split({tokens}, {delimiter}) END")
    return f"list_transform({pieces}, lambda {part}: unhex(replace({part}, ',', '')))"


def _split_to_map(args, types):
    value, entry_delimiter, kv_delimiter = args
    entry, kv = fresh_lambda_param(), fresh_lambda_param()
    entries = (f"list_filter(string_split({value}, {entry_delimiter}), "
               f"lambda {entry}: contains({entry}, {kv_delimiter}))")
    pairs = (f"list_transform({entries}, lambda {kv}: {{'key': split_part({kv}, {kv_delimiter}, 1), "
             f"'value': {kv}[length(split_part({kv}, {kv_delimiter}, 1)) + length({kv_delimiter}) + 1:]}})")
    return (f"CASE WHEN {value} IS NULL OR {entry_delimiter} IS NULL OR {kv_delimiter} IS NULL "
            f"THEN NULL ELSE map_from_entries({pairs}) END")


def _register_splits(registry) -> None:
    reg = registry.register
    reg("SPLIT", (STRING, STRING), array(STRING),
        "CASE WHEN {0} IS NULL OR {1} IS NULL THEN NULL ELSE string_split({0}, {1}) END",
        description="Split a string (or bytes) around a delimiter.", **CATEGORY)
    reg("SPLIT", (BYTES, BYTES), array(BYTES), _split_bytes, **CATEGORY)
    reg("SPLIT_TO_MAP", (STRING, STRING, STRING), map_of(STRING, STRING), _split_to_map,
        description="Split 'k1=v1,k2=v2' style text into a map.", **CATEGORY)


# ---- ENCODE ------------------------------------------------------------------------------------

def _encode(args, types):
    source, target = literal_string(args[1]), literal_string(args[2])
    if source is None or target is None:
        from pyksqlite.common.errors import KsqlStatementException
        raise KsqlStatementException("ENCODE's encodings must be string literals in ksqlite.")
    return encode_bytes_sql(decode_string_sql(args[0], source, "encode"), target, "encode",
                            upper_hex=False)


def _register_encodings(registry) -> None:
    registry.register("ENCODE", (STRING, STRING, STRING), STRING, _encode,
                      description="Re-encode a string between hex, utf8, ascii and base64.",
                      **CATEGORY)
