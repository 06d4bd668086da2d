-- Product reviews scored by Python UDFs, in a continuous query.
-- Run: ksqlite run examples/udf/reviews.sql --extension-dir examples/udf/functions --until-idle --show SCORED,TAGS

CREATE STREAM reviews (id INT KEY, email STRING, body STRING)
  WITH (kafka_topic='reviews', value_format='JSON', partitions=1);

-- Scalar UDFs: EMAIL_DOMAIN is vectorized over Arrow arrays, SENTIMENT runs per row.
CREATE STREAM scored AS
  SELECT id, EMAIL_DOMAIN(email) AS domain, SENTIMENT(body) AS score
  FROM reviews
  WHERE SENTIMENT(body) IS NOT NULL
  EMIT CHANGES;

-- A Python table function: one output row per hashtag, keeping the review's key and timestamp.
CREATE STREAM tags AS
  SELECT id, HASHTAGS(body) AS tag
  FROM reviews
  EMIT CHANGES;

INSERT INTO reviews (id, email, body) VALUES (1, 'ana@Example.COM', 'Great kettle, fast delivery #kitchen #tea');
INSERT INTO reviews (id, email, body) VALUES (2, 'bo@shop.io', 'Arrived late and broken #fail');
INSERT INTO reviews (id, email, body) VALUES (3, 'cy@example.com', 'It is a kettle');
