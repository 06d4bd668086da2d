"""Below every other part: errors, name rules, SQL types and schemas, the DuckDB
boundary (connections and quoting), Java time patterns and the processing log."""
