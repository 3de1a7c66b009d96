"""Thousands of malformed, mistyped, oversized and hostile bodies thrown at POST /e: never a
5xx, never a crash, always a JSON answer with an `error` when something is wrong.

Most examples run in-process (the real application and a real SQLite file, through
httpx's ASGI transport, so thousands fit in seconds); a smaller share goes over real HTTP to
a real `ctrlens serve`, where uvicorn's own parsing is in the way too.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collector_helpers import ORIGIN, make_batch
from harness import BROWSER_UA, Server

SITE = "fuzzsite"
FUZZ = settings(
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
    derandomize=True,  # the same examples on every run and machine
    database=None,  # nothing written into the work tree
)


class InProcess:
    """The real app with its lifespan, on a private event loop in a thread."""

    def __init__(self, db: str) -> None:
        self.db = db
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.ready: Future[None] = Future()
        self.stop = asyncio.Event()
        self.main = asyncio.run_coroutine_threadsafe(self._main(), self.loop)
        self.ready.result(timeout=30)

    async def _main(self) -> None:
        from ctrlens.app import create_app
        from ctrlens.collector.config import Config
        from ctrlens.collector.storage import open_storage

        storage = await open_storage(self.db)
        await storage.add_site(SITE, "Fuzz", [ORIGIN])
        self.storage = storage
        token = "fuzz-token-" + "0123456789abcdef" * 2
        self.app = create_app(Config(db=self.db, rate_limit=0, token=token), storage=storage)
        async with self.app.router.lifespan_context(self.app):
            transport = httpx.ASGITransport(app=self.app, raise_app_exceptions=True)
            async with httpx.AsyncClient(transport=transport, base_url="http://collector") as client:
                self.client = client
                self.ready.set_result(None)
                await self.stop.wait()
        await storage.close()

    def post(self, content: bytes, headers: dict[str, str]) -> httpx.Response:
        return asyncio.run_coroutine_threadsafe(
            self.client.post("/e", content=content, headers=headers), self.loop
        ).result(timeout=30)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.stop.set)
        self.main.result(timeout=30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcess]:
    app = InProcess(str(tmp_path_factory.mktemp("fuzz") / "fuzz.db"))
    yield app
    app.close()


def check(r: httpx.Response) -> None:
    assert r.status_code < 500, (r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/json"), r.headers
    body = r.json()
    if r.status_code >= 400:
        assert isinstance(body["error"], str) and body["error"]
    else:
        assert r.status_code == 202
        assert set(body) == {"accepted", "duplicates", "rejected"}
        for rejection in body["rejected"]:
            assert isinstance(rejection["index"], int) and isinstance(rejection["reason"], str)


def headers(content_type: str = "text/plain", origin: str | None = ORIGIN) -> dict[str, str]:
    h = {"Content-Type": content_type, "User-Agent": BROWSER_UA}
    if origin is not None:
        h["Origin"] = origin
    return h


# -- strategies -------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=300),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5),
    max_leaves=20,
)
huge_text = st.text(min_size=129, max_size=3000) | st.just("x" * 70_000) | st.just("é" * 2049)
weird_text = st.text(alphabet=st.characters(codec="utf-8"), max_size=200) | st.sampled_from(
    ["", " ", "\x00", "\u0085", "\u2028", "\ufeff", "\U0001f600" * 40, "a\x7fb", "\x9f"]
)
any_field = json_values | huge_text | weird_text
EVENT_FIELDS = ("id", "type", "element", "kind", "ts", "variant", "via_click")
ENVELOPE_FIELDS = ("site", "pageview", "url", "referrer", "variant", "account", "events")


@st.composite
def mutated_batches(draw: st.DrawFn) -> bytes:
    """A valid batch with some fields replaced, dropped or added."""
    body: dict[str, Any] = make_batch(SITE, "fz", draw(st.integers(1, 6)))
    for _ in range(draw(st.integers(1, 4))):
        where = draw(st.sampled_from(["envelope", "event", "event", "events"]))
        if where == "envelope":
            field = draw(st.sampled_from(ENVELOPE_FIELDS + ("extra",)))
            if draw(st.booleans()):
                body[field] = draw(any_field)
            else:
                body.pop(field, None)
        elif where == "events" and isinstance(body.get("events"), list):
            body["events"].append(draw(json_values))
        elif isinstance(body.get("events"), list) and body["events"]:
            event = draw(st.sampled_from(body["events"]))
            if isinstance(event, dict):
                event[draw(st.sampled_from(EVENT_FIELDS))] = draw(any_field)
    return json.dumps(body, ensure_ascii=draw(st.booleans())).encode()


@st.composite
def broken_bytes(draw: st.DrawFn) -> bytes:
    """Valid JSON made invalid: truncated, invalid UTF-8 spliced in, deep nesting, lone surrogates."""
    good = json.dumps(make_batch(SITE, "bb", draw(st.integers(1, 4)))).encode()
    kind = draw(st.sampled_from(["truncate", "splice", "nest", "surrogate", "nest_in_event", "garbage"]))
    if kind == "truncate":
        return good[: draw(st.integers(0, len(good) - 1))]
    if kind == "splice":
        at = draw(st.integers(0, len(good)))
        return (
            good[:at]
            + draw(st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80", b"\x00"]))
            + good[at:]
        )
    if kind == "nest":
        depth = draw(st.integers(100, 20_000))
        return b'{"x":' + b"[" * depth + b"]" * depth + b"," + good[1:]
    if kind == "nest_in_event":
        depth = draw(st.integers(100, 5_000))
        return good.replace(b'"events": [', b'"events": [' + b"[" * depth + b"]" * depth + b",", 1)
    if kind == "surrogate":
        return good.replace(b'"element": "', b'"element": "\\ud800', 1)
    return draw(st.binary(max_size=2000))


# -- in-process: thousands ----------------------------------------------------------------------


@settings(FUZZ, max_examples=1500)
@given(body=mutated_batches())
def test_mutated_batches_never_5xx(collector: InProcess, body: bytes) -> None:
    check(collector.post(body, headers()))


@settings(FUZZ, max_examples=1200)
@given(body=broken_bytes())
def test_broken_bytes_never_5xx(collector: InProcess, body: bytes) -> None:
    r = collector.post(body, headers())
    check(r)
    assert r.status_code in (202, 400, 403, 413)


@settings(FUZZ, max_examples=500)
@given(value=json_values)
def test_any_json_value_never_5xx(collector: InProcess, value: Any) -> None:
    check(collector.post(json.dumps(value).encode(), headers("application/json")))


@settings(FUZZ, max_examples=500)
@given(
    content_type=st.sampled_from(
        [
            "",
            "text/html",
            "application/x-www-form-urlencoded",
            "multipart/form-data",
            "application/json; charset=latin-1",
            "TEXT/PLAIN",
            "text/plain;;;",
            "*/*",
        ]
    )
    | st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=60),
    origin=st.none()
    | st.sampled_from([ORIGIN, ORIGIN + "/", "null", "https://evil.example", "HTTPS://SHOP.EXAMPLE"])
    | st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=60),
)
def test_any_content_type_and_origin_never_5xx(
    collector: InProcess, content_type: str, origin: str | None
) -> None:
    body = json.dumps(make_batch(SITE, "ct", 2)).encode()
    r = collector.post(body, headers(content_type, origin))
    check(r)
    ok_type = content_type.split(";")[0].strip().lower() in ("application/json", "text/plain")
    if not ok_type:
        assert r.status_code == 415


def test_limits_answer_with_their_status(collector: InProcess) -> None:
    too_many = make_batch(SITE, "many", 201)
    r = collector.post(json.dumps(too_many).encode(), headers())
    check(r)
    assert r.status_code == 413
    r = collector.post(b"{" + b" " * 70_000 + b"}", headers())
    check(r)
    assert r.status_code == 413
    r = collector.post(
        b'{"site":"'
        + SITE.encode()
        + b'","pageview":"p","url":"'
        + ORIGIN.encode()
        + b'","events":['
        + b"[" * 50_000
        + b"]" * 50_000
        + b"]}",
        headers(),
    )
    check(r)


# -- over real HTTP: a few hundred ---------------------------------------------------------------


@pytest.fixture(scope="module")
def http_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str]]:
    srv = Server(str(tmp_path_factory.mktemp("fuzz-http") / "fuzz.db")).start()
    site = srv.new_site([ORIGIN])
    yield srv, site
    srv.stop()


@settings(FUZZ, max_examples=300)
@given(data=st.data())
def test_over_http_never_5xx(http_server: tuple[Server, str], data: st.DataObject) -> None:
    srv, site = http_server
    body = data.draw(mutated_batches() | broken_bytes()).replace(SITE.encode(), site.encode())
    content_type = data.draw(
        st.sampled_from(["text/plain", "application/json", "text/plain;charset=UTF-8", "image/png"])
    )
    r = srv.client.post("/e", content=body, headers=headers(content_type))
    check(r)
    assert srv.process is not None and srv.process.poll() is None
