"""The Apache Kafka log: the same `Log`/`Consumer` interface on librdkafka
(confluent-kafka), with transactions for exactly_once_v2."""
