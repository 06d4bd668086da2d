"""The public API for Python user-defined functions: `from pyksqlite.udf import udf, udtf, udaf`.

See `engine/expressions/python_udf.py` for the model (vectorized vs per-row, generics, variadic
parameters, per-call-site instances), `engine/expressions/python_udf_loading.py` for loading
from `ksql.extension.dir` and the `ksqlite.udfs` entry point group, `docs/udfs.md` and
`examples/udf/`.
"""
from pyksqlite.expressions.python_udf import (ENTRY_POINT_GROUP, EXTENSION_DIR_PROPERTY, PythonFunction,
                                           load_extension_dir, udaf, udf, udf_class, udf_method, udtf,
                                           udtf_method)

__all__ = ["udf", "udtf", "udaf", "udf_class", "udf_method", "udtf_method", "load_extension_dir",
           "PythonFunction", "ENTRY_POINT_GROUP", "EXTENSION_DIR_PROPERTY"]
