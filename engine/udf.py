"""The public API for Python user-defined functions: `from engine.udf import udf, udtf, udaf`.

See `engine/expressions/python_udf.py` for the model (vectorized vs per-row, loading from
`ksql.extension.dir` and the `ksqlite.udfs` entry point group) and `examples/udf/`.
"""
from engine.expressions.python_udf import (ENTRY_POINT_GROUP, EXTENSION_DIR_PROPERTY, PythonFunction,
                                           load_extension_dir, udaf, udf, udtf)

__all__ = ["udf", "udtf", "udaf", "load_extension_dir", "PythonFunction", "ENTRY_POINT_GROUP",
           "EXTENSION_DIR_PROPERTY"]
