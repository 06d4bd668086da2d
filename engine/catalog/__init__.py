"""The catalog: the metastore of streams, tables, types and queries, ksqlDB's DDL
rules, the command topic that makes it durable, and the REST entities it describes
itself with."""
