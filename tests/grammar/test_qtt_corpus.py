"""Every statement of ksqlDB's own query-validation tests parses, unless its case expects an error."""
from pyksqlite.grammar.errors import ParseError
from pyksqlite.grammar.parser import parse
from tests.grammar.qtt_statements import qtt_statements


def test_qtt_statements_parse():
    failures, total = [], 0
    for statement in qtt_statements():
        if statement.expects_error:
            continue
        total += 1
        try:
            parse(statement.text)
        except ParseError as error:
            failures.append(f"{statement.file} / {statement.case}: {statement.text}\n  {error}")
    print("\n".join(failures))
    assert total > 3500
    assert len(failures) <= total * 0.001, "\n".join(failures[:20])
