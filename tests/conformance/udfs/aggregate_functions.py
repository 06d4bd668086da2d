"""ksqlDB's test aggregate functions, as the QTT cases expect them to aggregate.

* TEST_UDAF: a sum (INT and BIGINT to BIGINT, DOUBLE to DOUBLE, a STRUCT<A INT, B INT> summed
  field by field), undoable so it also aggregates tables.
* VAR_ARG(BIGINT, STRING...): the sum of the numbers and of the strings' lengths.
* MULTI_ARG(BIGINT, STRING, INT init, STRING... init) and FOUR_ARG(BIGINT, STRING, STRING, STRING,
  INT init, STRING... init): the same sum, starting from the init number plus the init strings'
  lengths (init arguments are constants, passed when the aggregate is made).
* FIVE_ARG(BIGINT, STRING, STRING, STRING, ANY, INT init, STRING... init): FOUR_ARG's pattern
  with a fifth column of any type (no shared case shows it: a number counts its value, anything
  else the length of its text).
* MID_VAR_ARG(BIGINT, STRING..., INT init, INT init): the variadic column parameter in the
  middle; the sum starts from the two init numbers.
* GENERIC_VAR_ARG(T, INT, U...): the list of the first arguments of the rows where no argument
  is NULL; its type follows T.
* OBJ_COL_ARG(INT, ANY...): the same over arguments of any types (ksqlDB's `Object...`).

A NULL number counts 0 and a NULL string length 0. Accumulators are plain data (ints, lists,
dicts) so checkpoints can keep them.
"""
from pyksqlite.udf import udaf


def _length(value) -> int:
    """A string's length; a number counts its value (FIVE_ARG's fifth column may be either)."""
    if value is None:
        return 0
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value)
    return len(value if isinstance(value, str) else str(value))


class _Sum:
    def initialize(self):
        return 0

    def aggregate(self, acc, value):
        return acc + (value or 0)

    def undo(self, acc, value):
        return acc - (value or 0)

    def merge(self, left, right):
        return left + right

    def map(self, acc):
        return acc


udaf(name="test_udaf", params=["BIGINT"], returns="BIGINT", description="Sums longs.")(_Sum)
udaf(name="test_udaf", params=["INT"], returns="BIGINT", description="Sums integers.")(type("SumInt", (_Sum,), {}))


@udaf(name="test_udaf", params=["DOUBLE"], returns="DOUBLE", description="Sums doubles.")
class _SumDouble(_Sum):
    def initialize(self):
        return 0.0


@udaf(name="test_udaf", params=["STRUCT<A INT, B INT>"], returns="STRUCT<A INT, B INT>",
      description="Sums the fields of structs.")
class _SumStruct:
    def initialize(self):
        return {"A": 0, "B": 0}

    def aggregate(self, acc, value):
        value = value or {}
        return {k: acc[k] + (value.get(k) or 0) for k in acc}

    def undo(self, acc, value):
        value = value or {}
        return {k: acc[k] - (value.get(k) or 0) for k in acc}

    def merge(self, left, right):
        return {k: left[k] + right[k] for k in left}

    def map(self, acc):
        return dict(acc)


class _LengthSum:
    """A sum of numbers and string lengths, from a start made of the init arguments."""

    def __init__(self, *init):
        self.start = sum(_length(v) for v in init)

    def initialize(self):
        return self.start

    def aggregate(self, acc, number, *texts):
        return acc + (number or 0) + sum(_length(t) for t in texts)

    def merge(self, left, right):
        return left + right - self.start

    def map(self, acc):
        return acc


udaf(name="var_arg", params=["BIGINT", "STRING..."], returns="BIGINT")(type("VarArg", (_LengthSum,), {}))
udaf(name="multi_arg", params=["BIGINT", "STRING"], init_params=["INT", "STRING..."],
     returns="BIGINT")(type("MultiArg", (_LengthSum,), {}))
udaf(name="four_arg", params=["BIGINT", "STRING", "STRING", "STRING"], init_params=["INT", "STRING..."],
     returns="BIGINT")(type("FourArg", (_LengthSum,), {}))
udaf(name="five_arg", params=["BIGINT", "STRING", "STRING", "STRING", "ANY"],
     init_params=["INT", "STRING..."], returns="BIGINT")(type("FiveArg", (_LengthSum,), {}))
udaf(name="mid_var_arg", params=["BIGINT", "STRING..."], init_params=["INT", "INT"],
     returns="BIGINT")(type("MidVarArg", (_LengthSum,), {}))


class _FirstWhereComplete:
    """The first arguments of the rows where every argument is set."""

    def initialize(self):
        return []

    def aggregate(self, acc, first, *others):
        if first is None or any(v is None for v in others):
            return acc
        return acc + [first]

    def merge(self, left, right):
        return left + right

    def map(self, acc):
        return list(acc)


udaf(name="generic_var_arg", params=["T", "INT", "U..."], returns="ARRAY<T>",
     aggregate="ARRAY<T>")(type("GenericVarArg", (_FirstWhereComplete,), {}))
udaf(name="obj_col_arg", params=["INT", "ANY..."], returns="ARRAY<INT>",
     aggregate="ARRAY<INT>")(type("ObjColArg", (_FirstWhereComplete,), {}))
