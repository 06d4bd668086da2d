-- ksqlite demo: page views filtered, aggregated and enriched by continuous queries.
-- Run with:  ksqlite run examples/pageviews.sql --until-idle --show LONG_VIEWS,VIEWS_PER_USER,VIEWS_BY_REGION

-- The rows are inserted before the queries are created: read each topic from its start (as in
-- ksqlDB, a query otherwise reads only what arrives after it starts).
SET 'auto.offset.reset' = 'earliest';

CREATE STREAM pageviews (viewtime BIGINT, userid STRING, pageid STRING, duration_ms INT)
  WITH (kafka_topic='pageviews', value_format='JSON', partitions=2, timestamp='viewtime');

CREATE TABLE users (userid STRING PRIMARY KEY, name STRING, region STRING)
  WITH (kafka_topic='users', value_format='JSON', partitions=2);

-- The users exist before the first view (ROWTIME): a stream-table join matches the table as of
-- each view's time.
INSERT INTO users (ROWTIME, userid, name, region) VALUES (1699999999000, 'alice', 'Alice', 'EU');
INSERT INTO users (ROWTIME, userid, name, region) VALUES (1699999999000, 'bob', 'Bob', 'US');
INSERT INTO users (ROWTIME, userid, name, region) VALUES (1699999999000, 'carol', 'Carol', 'APAC');

INSERT INTO pageviews (viewtime, userid, pageid, duration_ms) VALUES (1700000000000, 'alice', 'home', 1200);
INSERT INTO pageviews (viewtime, userid, pageid, duration_ms) VALUES (1700000001000, 'bob', 'news', 300);
INSERT INTO pageviews (viewtime, userid, pageid, duration_ms) VALUES (1700000002000, 'alice', 'sports', 4500);
INSERT INTO pageviews (viewtime, userid, pageid, duration_ms) VALUES (1700000003000, 'carol', 'home', 800);
INSERT INTO pageviews (viewtime, userid, pageid, duration_ms) VALUES (1700000004000, 'alice', 'news', 2600);
INSERT INTO pageviews (viewtime, userid, pageid, duration_ms) VALUES (1700000065000, 'bob', 'home', 5100);

-- A filter and projection, re-keyed by user.
CREATE STREAM long_views AS
  SELECT userid, pageid, duration_ms / 1000.0 AS duration_s, UCASE(pageid) AS page
  FROM pageviews
  WHERE duration_ms >= 1000
  PARTITION BY userid;

-- A windowed aggregation: views and time spent per user and minute.
CREATE TABLE views_per_user AS
  SELECT userid, COUNT(*) AS views, SUM(duration_ms) AS total_ms
  FROM pageviews WINDOW TUMBLING (SIZE 1 MINUTE)
  GROUP BY userid;

-- A stream-table join: each view enriched with the user's region.
CREATE STREAM views_by_region AS
  SELECT p.userid AS userid, u.region AS region, p.pageid AS pageid
  FROM pageviews p JOIN users u ON p.userid = u.userid;
