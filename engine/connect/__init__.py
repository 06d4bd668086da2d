"""Connectors: ksqlDB's CREATE SOURCE|SINK CONNECTOR, run by an embedded worker (no JVM) or by a
Kafka Connect worker over its REST API (`ksql.connect.url`). See docs/connectors.md.

The layer sits between the runtime (whose scheduler runs the embedded connectors' tasks beside
the query tasks) and the facade (which turns the statements into ksqlDB's REST entities)."""
