"""Visitor ids, salts, bots and opt-outs (docs/design.md §5): who sent an event, without knowing who."""

from __future__ import annotations

import glob

import pytest

from collector_helpers import ORIGIN, make_batch
from ctrlens.collector.privacy import DAY, VisitorIds, device_class, is_bot
from ctrlens.collector.storage import open_storage
from harness import BROWSER_UA, Server, private_loop

DISTINCT_IP = "203.0.113.77"


@private_loop
async def test_visitor_ids_rotate_daily_and_old_salts_are_deleted(tmp_path) -> None:
    storage = await open_storage(str(tmp_path / "salts.db"))
    try:
        ids = VisitorIds(storage)
        day = 20_000 * DAY
        today = await ids.visitor("s", DISTINCT_IP, BROWSER_UA, now=day + 10)
        assert today == await ids.visitor("s", DISTINCT_IP, BROWSER_UA, now=day + 80_000)
        assert today != await ids.visitor("other-site", DISTINCT_IP, BROWSER_UA, now=day + 10)
        assert today != await ids.visitor("s", "203.0.113.78", BROWSER_UA, now=day + 10)
        tomorrow = await ids.visitor("s", DISTINCT_IP, BROWSER_UA, now=day + DAY + 10)
        assert tomorrow != today  # not linkable across days
        await ids.visitor("s", DISTINCT_IP, BROWSER_UA, now=day + 2 * DAY + 10)
        # Two days on, the first day's salt is gone: its ids can never be recomputed.
        assert await storage.salt_days() == [20_001, 20_002]
    finally:
        await storage.close()


def test_bot_list_and_device_class() -> None:
    assert is_bot("Googlebot/2.1 (+http://www.google.com/bot.html)")
    assert is_bot("curl/8.5.0") and is_bot("python-httpx/0.28.1")
    assert not is_bot(BROWSER_UA)
    assert device_class(BROWSER_UA) == "desktop"
    assert (
        device_class(
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
        )
        == "mobile"
    )


@pytest.fixture(scope="module")
def proxied(tmp_path_factory: pytest.TempPathFactory):
    db = str(tmp_path_factory.mktemp("privacy") / "privacy.db")
    srv = Server(db, extra_args=["--trusted-proxy", "127.0.0.1"]).start()
    yield srv
    srv.stop()


def test_the_client_ip_is_never_written_to_the_database(proxied: Server) -> None:
    site = proxied.new_site([ORIGIN])
    for _ in range(3):
        r = proxied.client.post(
            "/e",
            json=make_batch(site, "ip", 4),
            headers={"Origin": ORIGIN, "Content-Type": "text/plain", "X-Forwarded-For": DISTINCT_IP},
        )
        assert r.status_code == 202
    events = proxied.events(site)
    assert len(events) == 12 and len({e["visitor"] for e in events}) == 1
    proxied.client.post(
        "/e",
        json=make_batch(site, "ip", 2),
        headers={
            "Origin": "https://evil.example",
            "Content-Type": "text/plain",
            "X-Forwarded-For": DISTINCT_IP,
        },
    )
    # Not in any column, sample or log line: the database files and the server's own log.
    for path in glob.glob(proxied.db + "*"):
        with open(path, "rb") as f:
            assert DISTINCT_IP.encode() not in f.read(), path
    assert DISTINCT_IP not in proxied.log_path.read_text()  # no access log either


def test_opted_out_visitors_are_dropped_and_counted_when_the_site_respects_dnt(proxied: Server) -> None:
    site = proxied.new_site([ORIGIN], respect_dnt=True)
    for header in ({"DNT": "1"}, {"Sec-GPC": "1"}):
        r = proxied.client.post(
            "/e",
            json=make_batch(site, "dnt", 3),
            headers={"Origin": ORIGIN, "Content-Type": "text/plain", **header},
        )
        assert r.status_code == 202
        assert r.json() == {
            "accepted": 0,
            "duplicates": 0,
            "rejected": [{"index": i, "reason": "opted_out"} for i in range(3)],
        }
    assert proxied.events(site) == []
    assert proxied.rejections(site) == {"opted_out": 6}
    samples = proxied.client.get(f"/api/sites/{site}/rejections", headers=proxied.auth).json()["samples"]
    assert samples == []  # nothing of an opted-out visitor is kept, not even for debugging
    # A site that does not ask for it takes the events (the snippet's data-respect-dnt decides).
    other = proxied.new_site([ORIGIN])
    r = proxied.client.post(
        "/e",
        json=make_batch(other, "dnt", 3),
        headers={"Origin": ORIGIN, "Content-Type": "text/plain", "DNT": "1"},
    )
    assert r.json()["accepted"] == 3
