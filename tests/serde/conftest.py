"""Helpers shared by the serde tests."""
import pyarrow as pa

from pyksqlite.common.schema import KEY, Column
from pyksqlite.serde.api import FormatInfo
from pyksqlite.serde.factory import create_serde


def serde(fmt: str, *columns: Column, key: bool = False, **options):
    return create_serde(FormatInfo(fmt, **options), list(columns), key)


def decode(serde_, *records):
    return serde_.deserialize(pa.array(list(records), pa.binary()))


def key_column(name, type_):
    return Column(name, type_, KEY)
