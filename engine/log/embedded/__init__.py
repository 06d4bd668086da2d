"""The embedded log: Kafka's model (topics, partitions, segments, consumer groups)
on crash-safe local files."""
