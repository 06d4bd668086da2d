CREATE STREAM pageviews (id INT KEY, page STRING) WITH (kafka_topic='pageviews', value_format='JSON');
CREATE STREAM home_views AS SELECT id, page FROM pageviews WHERE page = 'home';
