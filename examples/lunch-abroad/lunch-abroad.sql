-- Buying lunch abroad: card payments in local currencies, converted to the card's currency (EUR)
-- at the exchange rate in force when each payment was made.
--
-- The rates live in a table backed by a compacted topic (the latest rate per currency); the
-- payments are a stream. The join is evaluated continuously: every payment is joined with the
-- rate table as it is at that payment's time, and a later rate change does not rewrite past
-- payments. Run: ksqlite run examples/lunch-abroad/lunch-abroad.sql --until-idle --show PAYMENTS_EUR

CREATE TABLE rates (currency STRING PRIMARY KEY, eur_per_unit DOUBLE)
  WITH (kafka_topic='rates', value_format='JSON', partitions=1, cleanup_policy='compact');

CREATE STREAM payments (card STRING KEY, merchant STRING, currency STRING, amount DOUBLE)
  WITH (kafka_topic='payments', value_format='JSON', partitions=1);

-- The continuous query: the payments stream is re-keyed by currency (in-process) and joined with
-- the rate table's current row. LEFT JOIN keeps payments in a currency with no known rate.
CREATE STREAM payments_eur AS
  SELECT p.currency, p.card, p.merchant, p.amount, r.eur_per_unit,
         ROUND(p.amount * r.eur_per_unit, 2) AS amount_eur
  FROM payments p
  LEFT JOIN rates r ON p.currency = r.currency
  EMIT CHANGES;

-- Morning rates (ROWTIME is the event time, in milliseconds).
INSERT INTO rates (currency, eur_per_unit, ROWTIME) VALUES ('GBP', 1.17, 1700000000000);
INSERT INTO rates (currency, eur_per_unit, ROWTIME) VALUES ('JPY', 0.0062, 1700000000000);

-- Lunch in London and a coffee in Tokyo.
INSERT INTO payments (card, merchant, currency, amount, ROWTIME) VALUES ('card-1', 'Borough Market', 'GBP', 12.50, 1700000600000);
INSERT INTO payments (card, merchant, currency, amount, ROWTIME) VALUES ('card-2', 'Kissa Tokyo', 'JPY', 800, 1700000700000);
INSERT INTO payments (card, merchant, currency, amount, ROWTIME) VALUES ('card-3', 'Taqueria', 'MXN', 150, 1700000800000);

-- The pound moves while the query runs: a new rate replaces the old one (same key).
INSERT INTO rates (currency, eur_per_unit, ROWTIME) VALUES ('GBP', 1.15, 1700003600000);

-- An afternoon payment converts at the new rate; the lunch above keeps the morning rate.
INSERT INTO payments (card, merchant, currency, amount, ROWTIME) VALUES ('card-1', 'Tate Modern cafe', 'GBP', 6.00, 1700004000000);
