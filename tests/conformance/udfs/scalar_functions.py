"""ksqlDB's test scalar functions (TEST_UDF, TOSTRUCT, BAD_UDF, WHENCONDITION, WHENRESULT).

What each does is what the QTT cases expect of it:
* TEST_UDF names the overload that ran (`doStuffIntString`...), so the cases can check which
  variant ksqlDB's overload resolution picks: exact matches before implicit casts, fixed
  parameters before varargs, untyped NULLs matching any parameter. Its STRUCT variants read a
  field of a declared-schema struct and build one.
* BAD_UDF throws: ksqlDB then logs the row to the processing log and the call yields NULL. Its
  STRING variant throws on every other call of one call site, which needs per-call-site state:
  ksqlDB makes a UDF instance per expression, `udf_class` does the same here.
* WHENCONDITION / WHENRESULT return their first argument, and throw when their second says they
  should not have been evaluated (CASE evaluates its branches lazily).
"""
from pyksqlite.udf import udf, udf_class, udf_method


@udf(name="test_udf", params=["INT", "STRING"], returns="STRING", per_row=True, null_on_null=False)
def do_stuff_int_string(number, text):
    return "doStuffIntString"


@udf(name="test_udf", params=["BIGINT", "STRING"], returns="STRING", per_row=True, null_on_null=False)
def do_stuff_long_string(number, text):
    return "doStuffLongString"


@udf(name="test_udf", params=["BIGINT", "BIGINT", "STRING"], returns="STRING", per_row=True,
     null_on_null=False)
def do_stuff_long_long_string(first, second, text):
    return "doStuffLongLongString"


@udf(name="test_udf", params=["BIGINT..."], returns="STRING", per_row=True, null_on_null=False)
def do_stuff_long_varargs(*numbers):
    return "doStuffLongVarargs"


@udf(name="test_udf", params=["STRUCT<A STRING>"], returns="STRING", per_row=True)
def do_stuff_struct(struct):
    return struct["A"]


@udf(name="test_udf", params=[], returns="STRUCT<A STRING>", per_row=True)
def return_struct():
    return {"A": "foo"}


@udf(name="tostruct", params=["STRING"], returns="STRUCT<A STRING>", per_row=True,
     description="A struct whose field A holds the string.")
def to_struct(text):
    return {"A": text}


@udf_class(name="bad_udf", description="Throws exceptions when called.")
class BadUdf:
    def __init__(self):
        self.calls = 0

    @udf_method(params=["INT"], returns="INT", per_row=True)
    def blow_up(self, number):
        raise RuntimeError("boom!")

    @udf_method(params=["STRING"], returns="STRING", per_row=True)
    def every_other_call(self, text):
        self.calls += 1
        if self.calls % 2 == 1:
            raise RuntimeError("boom!")
        return text

    @udf_method(params=["BOOLEAN"], returns="INT", per_row=True)
    def might_throw(self, should_throw):
        if should_throw:
            raise RuntimeError("You asked me to throw...")
        return 0


@udf(name="whencondition", params=["BOOLEAN", "BOOLEAN"], returns="BOOLEAN", per_row=True,
     deterministic=False, description="Its first argument; throws if evaluated when told not to be.")
def when_condition(result, should_be_evaluated):
    if not should_be_evaluated:
        raise RuntimeError("This condition should not have been evaluated")
    return result


@udf(name="whenresult", params=["INT", "BOOLEAN"], returns="INT", per_row=True,
     deterministic=False, description="Its first argument; throws if evaluated when told not to be.")
def when_result(result, should_be_evaluated):
    if not should_be_evaluated:
        raise RuntimeError("This result should not have been evaluated")
    return result
