"""The datagen connector's `quickstart` data sets: the field names and types of Confluent's
kafka-connect-datagen quickstarts (the ones ksqlDB's docs and tutorials use), written here as
Avro schemas with `arg.properties` for `pyksqlite.connect.generators`, and the field each one is
keyed by. The value distributions follow the published field lists; the exact random values
are ksqlite's own.
"""
from __future__ import annotations

from typing import Any


def _field(name: str, kind: str, **properties: Any) -> dict:
    return {"name": name, "type": {"type": kind, "arg.properties": properties} if properties else kind}


def _iteration(name: str, kind: str, start: int = 0, step: int = 1) -> dict:
    return _field(name, kind, iteration={"start": start, "step": step})


def _range(name: str, kind: str, low, high) -> dict:
    return _field(name, kind, range={"min": low, "max": high})


def _options(name: str, kind: str, *values) -> dict:
    return _field(name, kind, options=list(values))


def _regex(name: str, pattern: str) -> dict:
    return _field(name, "string", regex=pattern)


def _record(name: str, *fields: dict, options: list | None = None) -> dict:
    schema = {"type": "record", "name": name, "namespace": "ksql", "fields": list(fields)}
    if options:
        schema["arg.properties"] = {"options": options}
    return schema


_TIMES = (1487715775521, 1519273364600)
_IPS = [f"{a}.{b}" for a in ("111", "222", "122", "233") for b in (
    "152.45.45", "203.236.146", "168.57.122", "249.79.93", "90.225.227", "173.165.103", "145.8.144",
    "245.174.248")]

QUICKSTARTS: dict[str, tuple[dict, str]] = {
    "users": (_record(
        "users", _range("registertime", "long", *_TIMES), _regex("userid", "User_[1-9]"),
        _regex("regionid", "Region_[1-9]"), _options("gender", "string", "MALE", "FEMALE", "OTHER")),
        "userid"),
    "pageviews": (_record(
        "pageviews", _iteration("viewtime", "long", 1, 10), _regex("userid", "User_[1-9]"),
        _regex("pageid", "Page_[1-9][0-9]?")), "viewtime"),
    "orders": (_record(
        "orders", _range("ordertime", "long", *_TIMES), _iteration("orderid", "int"),
        _regex("itemid", "Item_[1-9][0-9]{0,2}"), _range("orderunits", "double", 0.1, 10.0),
        {"name": "address", "type": _record(
            "address", _regex("city", "City_[1-9]{1,2}"), _regex("state", "State_[1-9]{1,2}"),
            _range("zipcode", "long", 10000, 99999))}), "orderid"),
    "ratings": (_record(
        "ratings", _iteration("rating_id", "long", 1), _range("user_id", "int", 1, 100),
        _range("stars", "int", 1, 6), _range("route_id", "int", 1, 5000),
        _iteration("rating_time", "long", 1, 10),
        _options("channel", "string", "iOS", "iOS-test", "web", "android"),
        _options("message", "string", "meh", "more peanuts please", "your team here rocks!",
                 "why is it so difficult to keep the bathrooms clean ?",
                 "is this as good as it gets? really ?", "Exceeded all my expectations. Thank you !",
                 "thank you for the most friendly, helpful experience today at your new lounge",
                 "Surprisingly good, maybe you are getting your mojo back at long last!")),
        "rating_id"),
    "clickstream": (_record(
        "clickstream", _options("ip", "string", *_IPS), _range("userid", "int", 1, 37),
        _options("remote_user", "string", "-"), _iteration("_time", "long", 1, 10),
        _regex("time", "[0-2][0-9]/Dec/2017:[0-2][0-9]:[0-5][0-9]:[0-5][0-9] -0800"),
        _options("request", "string", "GET /index.html HTTP/1.1", "GET /site/user_status.html HTTP/1.1",
                 "GET /site/login.html HTTP/1.1", "GET /images/track.png HTTP/1.1",
                 "GET /images/logo-small.png HTTP/1.1"),
        _options("status", "string", "200", "302", "404", "405", "406", "407"),
        _options("bytes", "string", "278", "1289", "2048", "4096", "4006", "4196", "14096"),
        _options("referrer", "string", "-"),
        _options("agent", "string",
                 "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
                 "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                 "Chrome/59.0.3071.115 Safari/537.36")), "ip"),
    "clickstream_users": (_record(
        "clickstream_users", _iteration("user_id", "int", 1),
        _options("username", "string", "akatz1022", "bobk_43", "alison_99", "k_robertz_88", "Ferd88",
                 "Reeva43", "Antonio_0966", "ArlyneW8ter", "DimitriSchenz88", "Oriana_70",
                 "AndySims_345324", "Roberto_123", "AbdelKable_86", "Bunny_Smith"),
        _range("registered_at", "long", 1407645330000, 1502914212000),
        _options("first_name", "string", "Ferd", "Reeva", "Antonio", "Arlyne", "Dimitri", "Oriana",
                 "Abdel", "Greta"),
        _options("last_name", "string", "Fleming", "Jones", "Coen", "Vanyard", "Harrison", "Spalding",
                 "Olsen"),
        _options("city", "string", "Palo Alto", "San Francisco", "Raleigh", "London", "Frankfurt",
                 "New York"),
        _options("level", "string", "Gold", "Silver", "Platinum")), "user_id"),
    "stock_trades": (_record(
        "StockTrade", _options("side", "string", "BUY", "SELL"), _range("quantity", "int", 1, 5000),
        _options("symbol", "string", "ZBZX", "ZJZZT", "ZTEST", "ZVV", "ZVZZT", "ZWZZT", "ZXZZT"),
        _range("price", "int", 5, 1000), _options("account", "string", "ABC123", "LMN456", "XYZ789"),
        _regex("userid", "User_[1-9]")), "symbol"),
    "inventory": (_record(
        "inventory", _iteration("id", "long"), _range("quantity", "int", -100, 100),
        _range("productid", "long", 10000000001, 10000000016)), "id"),
    "product": (_record(
        "product", _iteration("id", "long"),
        _options("name", "string", "boots", "shirt", "knife", "saucepan", "table", "chair", "clock",
                 "frame", "guitar", "thermometer", "scarf", "doormat", "vase", "clippers", "game",
                 "towels"),
        _iteration("description", "string"), _range("price", "long", 2, 20)), "id"),
    "purchases": (_record(
        "purchase", _iteration("id", "long"), _range("quantity", "long", 1, 20),
        _iteration("productid", "long"), _range("total", "long", 5, 500)), "id"),
    "transactions": (_record(
        "transactions", _iteration("transaction_id", "long", 1), _range("card_id", "long", 1, 24),
        _regex("user_id", "User_[1-9]?"), _iteration("purchase_id", "long"),
        _range("store_id", "int", 1, 7)), "transaction_id"),
    "credit_cards": (_record(
        "credit_cards", _field("card_id", "int"), _field("card_number", "long"), _field("cvv", "int"),
        _field("expiration_date", "string"),
        options=[{"card_id": i + 1, "card_number": number, "cvv": cvv, "expiration_date": expires}
                 for i, (number, cvv, expires) in enumerate([
                     (6011601160116611, 832, "12/27"), (6011111111111117, 833, "12/26"),
                     (6011000990139424, 348, "12/27"), (3530111333300000, 288, "11/27"),
                     (3566002020360505, 558, "11/27"), (5431111111111111, 383, "11/26"),
                     (5555555555554444, 273, "10/27"), (5105105105105100, 663, "10/27"),
                     (4111111111111111, 822, "10/26"), (4242424242424242, 190, "09/27"),
                     (4000056655665556, 729, "09/26"), (2223003122003222, 723, "08/26")])]),
        "card_id"),
    "stores": (_record(
        "stores", _field("store_id", "int"), _field("city", "string"), _field("country", "string"),
        options=[{"store_id": i + 1, "city": city, "country": country} for i, (city, country) in enumerate([
            ("Raleigh", "US"), ("Chicago", "US"), ("Mexico City", "Mexico"), ("Toronto", "Canada"),
            ("Paris", "France"), ("London", "UK"), ("Milan", "Italy")])]), "store_id"),
    "campaign_finance": (_record(
        "campaign_finance", _range("time", "long", 1587715775521, 1619273364600),
        _regex("cand_id", "[A-Z][1-9]{8}"), _options("party_affiliation", "string", "REP", "DEM", "IND"),
        _range("contribution", "int", 20, 3500)), "cand_id"),
}
