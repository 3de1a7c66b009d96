"""Schema migrations, on both backends: a database made by an older version of ctrlens opens
in a newer one with every row it held, and keeps working (deduplication included)."""

from __future__ import annotations

from typing import Any

from test_storage import DAY_MS, NOW_MS, event, totals

from ctrlens.collector.storage import Storage, WriteBatch, open_database, open_storage
from ctrlens.collector.storage.database import migrations
from harness import private_loop

DAY = NOW_MS // DAY_MS - 2
HOUR_1 = DAY * 86400 + 9 * 3600
HOUR_2 = (DAY + 1) * 86400 + 15 * 3600
TS_1 = HOUR_1 * 1000 + 1234
TS_2 = HOUR_2 * 1000 + 5678

EVENT_COLUMNS = (
    "site", "event_id", "pageview", "type", "element", "kind", "variant", "account", "page", "url",
    "referrer", "source", "device", "visitor", "via_click", "ts_client", "ts_server",
)


def _event(event_id: str, type: str, element: str, pageview: str, ts: int) -> tuple[Any, ...]:
    return ("shop", event_id, pageview, type, element, "cta", "A", "acme", "/pricing",
            "https://shop.example/pricing", "", "news", "desktop", "visitor-1", 0, ts - 7, ts)


# What version 1 of ctrlens stored after two page views on two days: pv1 saw and clicked the
# hero; pv2 saw the hero and the nav. Rows are written in version 1's own tables and columns.
VERSION_1_ROWS: dict[str, tuple[tuple[str, ...], list[tuple[Any, ...]]]] = {
    "meta": (("key", "value"), [("admin_token_sha256", "ab" * 32), ("session_secret", "s3cret")]),
    "sites": (("key", "name", "origins", "settings", "created_at"),
              [("shop", "Shop", '["https://shop.example"]', '{"timezone": "UTC"}', 1_700_000_000)]),
    "salts": (("day", "salt"), [(DAY + 1, "cd" * 32)]),
    "events": (EVENT_COLUMNS, [
        _event("e1", "impression", "hero", "pv1", TS_1),
        _event("e2", "click", "hero", "pv1", TS_1 + 500),
        _event("e3", "impression", "hero", "pv2", TS_2),
        _event("e4", "impression", "nav", "pv2", TS_2 + 100),
    ]),
    "pageview_elements": (
        ("site", "pageview", "element", "kind", "variant", "page", "account", "source", "device",
         "visitor", "hour", "clicked"),
        [("shop", "pv1", "hero", "cta", "A", "/pricing", "acme", "news", "desktop", "visitor-1", HOUR_1, 1),
         ("shop", "pv2", "hero", "cta", "A", "/pricing", "acme", "news", "desktop", "visitor-1", HOUR_2, 0),
         ("shop", "pv2", "nav", "cta", "A", "/pricing", "acme", "news", "desktop", "visitor-1", HOUR_2, 0)],
    ),
    "visitor_elements": (
        ("site", "day", "visitor", "element", "variant", "page", "clicked"),
        [("shop", DAY, "visitor-1", "hero", "A", "/pricing", 1),
         ("shop", DAY + 1, "visitor-1", "hero", "A", "/pricing", 0),
         ("shop", DAY + 1, "visitor-1", "nav", "A", "/pricing", 0)],
    ),
    "pageviews": (("site", "pageview", "variant", "page", "hour"),
                  [("shop", "pv1", "A", "/pricing", HOUR_1), ("shop", "pv2", "A", "/pricing", HOUR_2)]),
    "rollups": (
        ("site", "element", "variant", "page", "hour", "kind", "impressions", "via_click", "clicks",
         "total_clicks", "viewers", "clickers"),
        [("shop", "hero", "A", "/pricing", HOUR_1, "cta", 1, 0, 1, 1, 1, 1),
         ("shop", "hero", "A", "/pricing", HOUR_2, "cta", 1, 0, 0, 0, 1, 0),
         ("shop", "nav", "A", "/pricing", HOUR_2, "cta", 1, 0, 0, 0, 1, 0)],
    ),
    "breakdowns": (
        ("site", "element", "variant", "day", "dimension", "value", "impressions", "clicks",
         "total_clicks"),
        [("shop", "hero", "A", DAY, "source", "news", 1, 1, 1),
         ("shop", "hero", "A", DAY + 1, "source", "news", 1, 0, 0),
         ("shop", "nav", "A", DAY + 1, "source", "news", 1, 0, 0)],
    ),
    "pageview_rollups": (("site", "variant", "page", "hour", "pageviews"),
                         [("shop", "A", "/pricing", HOUR_1, 1), ("shop", "A", "/pricing", HOUR_2, 1)]),
    "rejections": (("site", "day", "reason", "count"), [("shop", DAY, "bot", 3)]),
    "rejected_samples": (("site", "ts", "reason", "payload"), [("shop", TS_1, "invalid", '{"x": 1}')]),
}


async def _make_version_1(url: str) -> None:
    db = await open_database(url)
    try:
        assert await db.migrate(upto=1) == 1
        for table, (columns, rows) in VERSION_1_ROWS.items():
            marks = ", ".join("?" * len(columns))
            await db.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)
    finally:
        await db.close()


def test_both_backends_have_the_same_schema_versions():
    sqlite = [version for version, _ in migrations("sqlite")]
    postgres = [version for version, _ in migrations("postgres")]
    assert sqlite == postgres == list(range(1, len(sqlite) + 1))


@private_loop
async def test_a_version_1_database_upgrades_without_losing_data(fresh_db: str):
    await _make_version_1(fresh_db)
    storage: Storage = await open_storage(fresh_db)
    try:
        assert await storage.db.schema_version() == migrations(storage.dialect)[-1][0]

        site = await storage.get_site("shop")
        assert site is not None and site.origins == ("https://shop.example",)
        assert site.settings == {"timezone": "UTC"}
        assert await storage.get_meta("session_secret") == "s3cret"
        assert await storage.salt(DAY + 1) == "cd" * 32
        raw = await storage.raw_events("shop")
        assert [tuple(e[c] for c in EVENT_COLUMNS) for e in raw] == VERSION_1_ROWS["events"][1]
        assert await storage.rejection_counts("shop") == {"bot": 3}
        assert [s["payload"] for s in await storage.rejected_samples("shop")] == ['{"x": 1}']

        expected = {"hero": {"impressions": 2, "clicks": 1, "total_clicks": 1},
                    "nav": {"impressions": 1, "clicks": 0, "total_clicks": 0}}
        assert await totals(storage) == expected == await storage.recount("shop")
        per_day = await storage.element_counts("shop", DAY * 86400, (DAY + 1) * 86400)
        assert [(r["element"], r["impressions"], r["clicks"]) for r in per_day] == [("hero", 1, 1)]

        # The upgraded database goes on: an old id is still a duplicate, and a new click on
        # pv2's hero lands in its old cell.
        ts = TS_2 + 60_000
        new = await storage.write(WriteBatch([
            event("e1", pageview="pv1", ts_server=ts, account="acme", source="news"),
            event("e5", "click", pageview="pv2", ts_server=ts, account="acme", source="news"),
        ]))
        assert new == {("shop", "e5")}
        expected["hero"].update(clicks=2, total_clicks=2)
        assert await totals(storage) == expected == await storage.recount("shop")
    finally:
        await storage.close()


@private_loop
async def test_migrating_twice_changes_nothing(fresh_db: str):
    storage = await open_storage(fresh_db)
    try:
        version = await storage.db.schema_version()
        assert await storage.db.migrate() == version
    finally:
        await storage.close()
