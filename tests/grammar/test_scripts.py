"""Splitting scripts into statements and substituting ${variables}."""
from pyksqlite.grammar.parser import parse, split_statements, substitute_variables


def test_split_respects_strings_identifiers_and_comments():
    script = """
    -- a comment; with a semicolon
    SELECT 'a;b', 'it''s;' FROM `x;y`;  /* block; comment */
    SET 'k'='v' ;;
    SELECT "q;" FROM t -- trailing;
    """
    assert split_statements(script) == [
        "-- a comment; with a semicolon\n    SELECT 'a;b', 'it''s;' FROM `x;y`",
        "/* block; comment */\n    SET 'k'='v'",
        'SELECT "q;" FROM t -- trailing;',
    ]


def test_split_drops_empty_and_comment_only_pieces():
    assert split_statements(" ; ;\n-- only a comment\n") == []


def test_parse_script():
    statements = parse("SHOW STREAMS; LIST TABLES;\nDESCRIBE x;")
    assert [s.text for s in statements] == ["SHOW STREAMS", "LIST TABLES", "DESCRIBE x"]


def test_substitute_variables_case_insensitive_and_leaves_unknown():
    text = "SELECT * FROM ${Source} WHERE a = '${value}' AND b = ${missing}"
    assert substitute_variables(text, {"SOURCE": "s", "Value": "v"}) == \
        "SELECT * FROM s WHERE a = 'v' AND b = ${missing}"
