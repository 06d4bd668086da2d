"""Python UDFs for the reviews example: loaded by `ksqlite run --extension-dir examples/udf/functions`
(or the `ksql.extension.dir` property), exactly like ksqlDB loads UDF jars from its extension dir."""
import re

import pyarrow as pa
import pyarrow.compute as pc

from pyksqlite.udf import udf, udtf


@udf(params=["STRING"], returns="STRING", description="The lower-cased domain of an e-mail address.")
def email_domain(emails: pa.Array) -> pa.Array:
    # Vectorized: one call per batch of rows, Arrow kernels only.
    return pc.utf8_lower(pc.list_element(pc.split_pattern(emails, "@", max_splits=1), 1))


_POSITIVE = {"great", "love", "excellent", "good", "fast"}
_NEGATIVE = {"bad", "slow", "broken", "awful", "late"}


@udf(params=["STRING"], returns="INTEGER", per_row=True,
     description="A toy sentiment score: positive minus negative words.")
def sentiment(text: str) -> int:
    # Per row: plain Python, called once per record (NULL in, NULL out).
    words = re.findall(r"[a-z']+", text.lower())
    return sum(w in _POSITIVE for w in words) - sum(w in _NEGATIVE for w in words)


@udtf(params=["STRING"], returns="STRING", per_row=True,
      description="The hashtags of a text, one row each.")
def hashtags(text: str) -> list:
    return [tag.lower() for tag in re.findall(r"#(\w+)", text)]
