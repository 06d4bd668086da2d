"""The `ksqlite` command: REPL, HTTP server, file runner and test runners (Engine API only)."""
