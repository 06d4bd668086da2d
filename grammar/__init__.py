"""ksqlDB's SQL: the lark grammar, the typed AST and the parser that builds it."""
