"""The examples/udf walkthrough runs as documented: Python UDFs loaded from a directory and
used in continuous queries (scalar vectorized, scalar per row, table function)."""
from __future__ import annotations

from pathlib import Path

from pyksqlite.facade.engine import Engine
from pyksqlite.expressions import python_udf

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "udf"


def test_reviews_example(tmp_path):
    engine = Engine(tmp_path, {"ksql.extension.dir": str(EXAMPLE / "functions"), "ksqlite.log.flush": "none"})
    try:
        engine.execute((EXAMPLE / "reviews.sql").read_text())
        engine.run_until_idle()
        scored = [(r.key, r.value) for r in engine.read_topic_records("SCORED")]
        assert scored == [(1, {"DOMAIN": "example.com", "SCORE": 2}), (2, {"DOMAIN": "shop.io", "SCORE": -2}),
                          (3, {"DOMAIN": "example.com", "SCORE": 0})]
        tags = [(r.key, r.value["TAG"]) for r in engine.read_topic_records("TAGS")]
        assert tags == [(1, "kitchen"), (1, "tea"), (2, "fail")]
        names = {f["name"]: f["type"] for f in engine.execute("SHOW FUNCTIONS;")[0].entity["functions"]}
        assert names["EMAIL_DOMAIN"] == "SCALAR" and names["HASHTAGS"] == "TABLE"
    finally:
        engine.close()
        for name in ("EMAIL_DOMAIN", "SENTIMENT", "HASHTAGS"):
            python_udf.unregister_function(name)
