"""Expression compilation: ksqlDB expression ASTs to DuckDB SQL with ksqlDB types (see compiler.py)."""
