"""Running statements and queries: the executor, a task per query (or per partition),
Kafka Streams' record order, repartition topics, push sinks and wake-ups."""
