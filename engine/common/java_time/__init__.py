"""java.time's DateTimeFormatter patterns, as ksqlDB's date and time functions, TIMESTAMP_FORMAT
and the formats use them: `patterns` reads a pattern into its fields (the JDK's letters and
widths, literals, optional sections), `format` and `parse` apply it to whole columns, `fields`
and `zones` hold the calendar and time-zone rules they share."""
