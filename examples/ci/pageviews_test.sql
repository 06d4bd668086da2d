--@test: home page views are kept
CREATE STREAM pageviews (id INT KEY, page STRING, ms BIGINT)
  WITH (kafka_topic='pageviews', partitions=1, value_format='JSON');
CREATE STREAM home_views AS SELECT id, page, ms FROM pageviews WHERE page = 'home';

INSERT INTO pageviews (id, page, ms) VALUES (1, 'home', 10);
INSERT INTO pageviews (id, page, ms) VALUES (2, 'cart', 20);
INSERT INTO pageviews (id, page, ms) VALUES (3, 'home', 30);

ASSERT VALUES home_views (id, page, ms) VALUES (1, 'home', 10);
ASSERT VALUES home_views (id, page, ms) VALUES (3, 'home', 30);
ASSERT STREAM home_views (id INT KEY, page STRING, ms BIGINT) WITH (kafka_topic='HOME_VIEWS');

--@test: a table keeps the latest value and tombstones
CREATE TABLE users (id INT PRIMARY KEY, name STRING)
  WITH (kafka_topic='users', partitions=1, value_format='JSON');
CREATE TABLE named AS SELECT id, UCASE(name) AS name FROM users;
INSERT INTO users (id, name) VALUES (1, 'ann');
ASSERT VALUES named (id, name) VALUES (1, 'ANN');

--@test: a missing topic is an error
--@expected.error: io.confluent.ksql.util.KsqlStatementException
--@expected.message: KAFKA_TOPIC
CREATE STREAM broken (id INT KEY, v STRING) WITH (value_format='JSON');
