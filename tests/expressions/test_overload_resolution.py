"""ksqlDB's overload resolution (UdfIndex): exact matches before implicit casts; among the
variants that accept a call, non-variadic first, then more declared parameters, fewer generic
parameters, no `ANY...`, the variadic parameter later; a tie at the top is ambiguous. Generic
parameters (type variables inside ARRAY, MAP, STRUCT) bind one type per call and give the
return type."""
import pytest

from pyksqlite.common.errors import KsqlStatementException
from pyksqlite.expressions.functions import FunctionRegistry, TypeVariable
from pyksqlite.grammar.ast import BIGINT, DOUBLE, INTEGER, STRING, SqlType, array, decimal, map_of, struct

T, K, V = TypeVariable("T"), TypeVariable("K"), TypeVariable("V")


def registry(*variants):
    """A registry of one function F; each variant (params, returns, options) renders its label."""
    reg = FunctionRegistry()
    for params, returns, label, options in variants:
        reg.register("F", params, returns, label, **options)
    return reg


def chosen(reg, *arg_types):
    call = reg.resolve("F", list(arg_types))
    return call.render([], []), call.return_type


def test_exact_match_wins_over_one_needing_an_implicit_cast():
    reg = registry(((INTEGER, STRING), STRING, "int", {}), ((BIGINT, STRING), STRING, "long", {}))
    assert chosen(reg, INTEGER, STRING)[0] == "int"
    assert chosen(reg, BIGINT, STRING)[0] == "long"


def test_untyped_null_prefers_fixed_parameters_to_varargs():
    reg = registry(((BIGINT, STRING), STRING, "long_string", {}),
                   ((BIGINT, BIGINT, STRING), STRING, "long_long_string", {}),
                   ((BIGINT,), STRING, "varargs", {"variadic": True}))
    assert chosen(reg, BIGINT, None)[0] == "long_string"
    assert chosen(reg, BIGINT, BIGINT, None)[0] == "long_long_string"
    assert chosen(reg, BIGINT, BIGINT, BIGINT, BIGINT)[0] == "varargs"


def test_between_variadic_variants_more_declared_parameters_win():
    reg = registry(((STRING, STRING), STRING, "two", {"variadic": True}),
                   ((STRING,), STRING, "one", {"variadic": True}))
    assert chosen(reg, STRING, STRING, STRING)[0] == "two"


def test_fewer_generic_parameters_win_and_any_varargs_rank_last():
    reg = registry(((T,), T, "generic", {}), ((INTEGER,), INTEGER, "concrete", {}))
    assert chosen(reg, INTEGER)[0] == "concrete"
    assert chosen(reg, STRING)[0] == "generic"
    reg = registry((("ANY",), STRING, "objects", {"variadic": True}),
                   ((STRING,), STRING, "strings", {"variadic": True}))
    assert chosen(reg, STRING, STRING)[0] == "strings"


def test_the_later_variadic_parameter_wins_a_tie():
    reg = registry(((STRING, STRING), STRING, "first", {"variadic": True, "variadic_at": 0}),
                   ((STRING, STRING), STRING, "last", {"variadic": True}))
    assert chosen(reg, STRING, STRING, STRING)[0] == "last"


def test_a_tie_is_ambiguous_and_no_match_names_the_arguments():
    reg = registry(((INTEGER,), STRING, "a", {}), ((STRING,), STRING, "b", {}))
    with pytest.raises(KsqlStatementException, match="ambiguous method parameters \\(null\\)"):
        reg.resolve("F", [None])
    with pytest.raises(KsqlStatementException, match="does not accept parameters \\(BOOLEAN\\)"):
        reg.resolve("F", [SqlType("BOOLEAN")])


def test_variadic_parameter_in_the_middle_takes_any_number_of_arguments():
    reg = registry(((BIGINT, STRING, INTEGER), BIGINT, "mid", {"variadic": True, "variadic_at": 1}))
    for middle in (0, 1, 3):
        call = reg.resolve("F", [BIGINT] + [STRING] * middle + [INTEGER])
        assert call.param_types == (BIGINT,) + (STRING,) * middle + (INTEGER,)
    with pytest.raises(KsqlStatementException, match="does not accept parameters \\(STRING, STRING\\)"):
        reg.resolve("F", [STRING, STRING])
    assert reg.get("F").variants[0].signature() == "(BIGINT, STRING..., INTEGER)"


def test_generics_bind_through_arrays_maps_and_structs():
    reg = registry(((array(T),), T, "first", {}))
    assert chosen(reg, array(STRING))[1] == STRING
    reg = registry(((map_of(K, V),), array(K), "keys", {}))
    assert chosen(reg, map_of(STRING, DOUBLE))[1] == array(STRING)
    reg = registry(((struct([("A", T)]), T), array(T), "both", {}))
    assert chosen(reg, struct([("A", BIGINT)]), BIGINT)[1] == array(BIGINT)
    call = reg.resolve("F", [struct([("A", BIGINT)]), INTEGER])   # widened to the bound type
    assert call.param_types[1] == BIGINT and call.return_type == array(BIGINT)
    with pytest.raises(KsqlStatementException):
        reg.resolve("F", [struct([("A", BIGINT)]), STRING])       # T cannot be two types
    with pytest.raises(KsqlStatementException):
        reg.resolve("F", [struct([("B", BIGINT)]), BIGINT])        # other field names


def test_a_variadic_generic_binds_every_argument_to_one_type():
    reg = registry(((T, INTEGER, TypeVariable("U")), array(T), "g", {"variadic": True}))
    assert chosen(reg, decimal(5, 1), INTEGER)[1] == array(decimal(5, 1))
    assert chosen(reg, map_of(STRING, DOUBLE), INTEGER, DOUBLE, DOUBLE)[1] == array(map_of(STRING, DOUBLE))
    with pytest.raises(KsqlStatementException):
        reg.resolve("F", [STRING, INTEGER, DOUBLE, STRING])


def test_an_unbound_generic_return_type_is_an_error():
    reg = registry(((T,), array(T), "g", {}))
    with pytest.raises(KsqlStatementException, match="Could not infer the return type"):
        reg.resolve("F", [None])
