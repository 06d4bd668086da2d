"""Throughput of the JSON serde on 1M ~180-byte records with 7 typed columns (run by hand)."""
import time

import duckdb
import pyarrow as pa

from pyksqlite.common.schema import Column
from pyksqlite.common.duck import run_sql
from pyksqlite.serde.json_format import JsonSerde
from pyksqlite.common.types import BIGINT, BOOLEAN, DOUBLE, INTEGER, STRING, TIMESTAMP, decimal

N = 1_000_000
COLUMNS = [Column("ID", BIGINT), Column("NAME", STRING), Column("AMOUNT", DOUBLE),
           Column("QTY", INTEGER), Column("ACTIVE", BOOLEAN), Column("PRICE", decimal(10, 2)),
           Column("TS", TIMESTAMP)]


def make_records() -> pa.Array:
    sql = f"""SELECT ('{{"ID":' || i || ',"NAME":"customer-name-' || i || '-abcdefghijklmnop","AMOUNT":'
              || (i * 1.25) || ',"QTY":' || (i % 1000) || ',"ACTIVE":' || (i % 2 = 0)
              || ',"PRICE":' || (i % 10000) || '.25,"TS":' || (1700000000000 + i)
              || ',"COMMENT":"padding padding padding padding"}}')::BLOB AS doc FROM range({N}) t(i)"""
    return run_sql(sql).column(0).combine_chunks()


def main() -> None:
    data = make_records()
    print("avg bytes", data.nbytes / N)
    serde = JsonSerde(COLUMNS, wrapped=True)
    start = time.perf_counter()
    decoded = serde.deserialize(data)
    decode_s = time.perf_counter() - start
    start = time.perf_counter()
    serde.serialize(decoded.columns)
    encode_s = time.perf_counter() - start
    con = duckdb.connect()
    con.execute("SET threads=1")
    text = pa.table({"doc": data.cast(pa.string())})
    struct = '{"ID":"BIGINT","NAME":"VARCHAR","AMOUNT":"DOUBLE","QTY":"INTEGER","ACTIVE":"BOOLEAN","PRICE":"DECIMAL(10,2)","TS":"BIGINT"}'
    start = time.perf_counter()
    base = con.sql(f"SELECT json_transform(doc, '{struct}') AS r FROM text").to_arrow_table()
    base_decode = time.perf_counter() - start
    start = time.perf_counter()
    con.sql("SELECT to_json(r) FROM base").to_arrow_table()
    base_encode = time.perf_counter() - start
    print(f"serde decode {N / decode_s:,.0f} rec/s, encode {N / encode_s:,.0f} rec/s, errors {len(decoded.errors)}")
    print(f"duckdb json_transform {N / base_decode:,.0f} rec/s, to_json {N / base_encode:,.0f} rec/s")


if __name__ == "__main__":
    main()
