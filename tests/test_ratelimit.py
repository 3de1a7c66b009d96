"""Per-IP token buckets and the client address behind trusted proxies (docs/design.md §3)."""

from __future__ import annotations

import time

import pytest

from collector_helpers import ORIGIN, make_batch
from ctrlens.collector.ratelimit import ClientAddress, RateLimiter, bucket_key
from harness import Server


def test_bucket_allows_a_burst_then_refills_at_the_rate() -> None:
    limiter = RateLimiter(rate=2, burst_seconds=4)  # 8 tokens, 2 per second
    assert [limiter.take("1.2.3.4", now=100.0) for _ in range(8)] == [0.0] * 8
    wait = limiter.take("1.2.3.4", now=100.0)
    assert wait == pytest.approx(0.5)
    assert RateLimiter.retry_after(wait) == 1
    assert limiter.take("5.6.7.8", now=100.0) == 0.0  # another address has its own bucket
    assert limiter.take("1.2.3.4", now=101.0) == 0.0  # a second later: two more tokens


def test_zero_turns_it_off() -> None:
    limiter = RateLimiter(rate=0)
    assert not limiter.enabled
    assert all(limiter.take("1.2.3.4", now=1.0) == 0.0 for _ in range(10_000))


def test_ipv6_clients_share_a_bucket_per_64() -> None:
    assert bucket_key("2001:db8:1:2:aaaa::1") == bucket_key("2001:db8:1:2:bbbb::2") == "2001:db8:1:2::/64"
    assert bucket_key("2001:db8:1:3::1") != bucket_key("2001:db8:1:2::1")
    assert bucket_key("203.0.113.9") == "203.0.113.9"


def test_forwarded_for_is_believed_only_from_a_trusted_proxy() -> None:
    proxies = ClientAddress(("10.0.0.0/8", "127.0.0.1"))
    assert proxies.resolve("127.0.0.1", "203.0.113.9") == "203.0.113.9"
    # The client may prepend anything; the proxy appends what it saw: walk from the right.
    assert proxies.resolve("127.0.0.1", "1.1.1.1, 203.0.113.9") == "203.0.113.9"
    assert proxies.resolve("127.0.0.1", "203.0.113.9, 10.1.2.3") == "203.0.113.9"
    assert proxies.resolve("198.51.100.7", "203.0.113.9") == "198.51.100.7"  # untrusted peer
    assert proxies.resolve("127.0.0.1", "not-an-ip") == "127.0.0.1"
    assert ClientAddress(()).resolve("127.0.0.1", "203.0.113.9") == "127.0.0.1"


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory):
    db = str(tmp_path_factory.mktemp("ratelimit") / "rl.db")
    # Server starts with --rate-limit 0; a later flag wins in argparse.
    srv = Server(db, extra_args=["--rate-limit", "1", "--trusted-proxy", "127.0.0.1"]).start()
    yield srv
    srv.stop()


def _post(srv: Server, site: str, client_ip: str, n: int = 3):
    body = make_batch(site, "rl", n)
    return srv.client.post(
        "/e",
        json=body,
        headers={"Origin": ORIGIN, "Content-Type": "text/plain", "X-Forwarded-For": client_ip},
    )


def test_rate_limited_requests_get_429_with_retry_after_and_are_counted_per_site(limited: Server) -> None:
    site = limited.new_site([ORIGIN])
    answers = [_post(limited, site, "203.0.113.10") for _ in range(8)]  # burst: 4 s at 1/s
    statuses = [r.status_code for r in answers]
    assert statuses[:4] == [202] * 4 and 429 in statuses
    refused = next(r for r in answers if r.status_code == 429)
    assert int(refused.headers["retry-after"]) >= 1
    assert "too many requests" in refused.json()["error"]
    assert refused.headers["access-control-allow-origin"] == ORIGIN  # the snippet can read it
    # Another client behind the same trusted proxy is not held back.
    assert _post(limited, site, "203.0.113.11").status_code == 202
    # Counted for the site owner (events, not requests), committed with the next batch.
    expected = 3 * statuses.count(429)
    deadline = time.monotonic() + 5
    while limited.rejections(site).get("rate_limited", 0) < expected and time.monotonic() < deadline:
        time.sleep(0.05)
    assert limited.rejections(site)["rate_limited"] == expected
    metrics = limited.client.get("/metrics").text
    assert 'ctrlens_events_rejected_total{reason="rate_limited"}' in metrics
    assert 'ctrlens_ingest_requests_total{status="429"}' in metrics


def test_a_spoofed_forwarded_for_from_an_untrusted_peer_is_ignored(tmp_path) -> None:
    srv = Server(str(tmp_path / "spoof.db"), extra_args=["--rate-limit", "1"]).start()
    try:
        site = srv.new_site([ORIGIN])
        # Each request claims a new address; without --trusted-proxy they all share the peer's bucket.
        statuses = [_post(srv, site, f"198.51.100.{i}").status_code for i in range(8)]
        assert 429 in statuses
    finally:
        srv.stop()
