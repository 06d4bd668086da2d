"""The ksqlite engine: catalog, planner, operators, serde, state, log, and the Engine facade."""
