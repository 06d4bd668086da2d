-- ksqlite demo: a stream of page views, filtered and re-keyed by continuous queries.
-- Run with:  ksqlite run examples/pageviews.sql --until-idle --show OUT_PAGEVIEWS,ALICE_VIEWS

CREATE STREAM pageviews (viewtime BIGINT, userid STRING, pageid STRING, duration_ms INT)
  WITH (kafka_topic='pageviews', value_format='JSON', partitions=2, timestamp='viewtime');

INSERT INTO pageviews (viewtime, userid, pageid, duration_ms) VALUES (1700000000000, 'alice', 'home', 1200);
INSERT INTO pageviews (viewtime, userid, pageid, duration_ms) VALUES (1700000001000, 'bob', 'news', 300);
INSERT INTO pageviews (viewtime, userid, pageid, duration_ms) VALUES (1700000002000, 'alice', 'sports', 4500);
INSERT INTO pageviews (viewtime, userid, pageid, duration_ms) VALUES (1700000003000, 'carol', 'home', 800);
INSERT INTO pageviews (viewtime, userid, pageid, duration_ms) VALUES (1700000004000, 'alice', 'news', 2600);

-- Long views, re-keyed by user, with the duration in seconds.
CREATE STREAM out_pageviews AS
  SELECT userid, pageid, duration_ms / 1000.0 AS duration_s, UCASE(pageid) AS page
  FROM pageviews
  WHERE duration_ms >= 1000
  PARTITION BY userid;

-- Everything alice did, as delimited text.
CREATE STREAM alice_views WITH (value_format='DELIMITED') AS
  SELECT pageid, duration_ms FROM pageviews WHERE userid = 'alice';
