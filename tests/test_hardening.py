"""The attack review's findings, each defended (docs/design.md §6): CSRF on the JSON API from a
page on the same site, the sign-in throttle behind a proxy, sessions that end, a cookie that
carries nothing of the token, weak tokens, the login's `next`.

Where a browser is the attacker, a real Chromium signs in to the dashboard and then opens a page
on another origin of the same site (another port of 127.0.0.1: same site, so the SameSite=Lax
session cookie goes along), as a page of the tracked shop would.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from itsdangerous import TimestampSigner
from test_dashboard_auth import _login

from ctrlens.dashboard.auth import safe_next
from harness import CTRLENS, ROOT, Server, run_sync

ATTACK = """<!doctype html><title>shop</title>
<form id=f method=POST action="{target}/api/sites" enctype="text/plain">
<input name='{{"key":"evil-form","origins":["https://evil.example"],"x":"' value='"}}'>
</form>
<script>
fetch("{target}/api/sites", {{method: "POST", mode: "no-cors", credentials: "include",
  headers: {{"Content-Type": "text/plain"}},
  body: JSON.stringify({{key: "evil-fetch", origins: ["https://evil.example"]}})}})
  .finally(() => document.getElementById("f").submit());
</script>"""


@pytest.fixture
def attacker(server: Server) -> Iterator[str]:
    page = ATTACK.format(target=server.url).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()


def _sign_in(page, server: Server) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{server.url}/login")
    page.fill("input[name=token]", server.token)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/(sites.*)?$"))


def test_a_page_on_the_same_site_cannot_write_through_the_api(server: Server, attacker: str, page) -> None:  # type: ignore[no-untyped-def]
    _sign_in(page, server)
    page.goto(attacker)
    page.wait_for_url(re.compile(r".*/api/sites$"))  # the form went through, with the cookie
    assert "application/json" in page.content()  # refused: "send the body as application/json"
    time.sleep(0.5)  # the no-cors fetch has had its answer
    keys = {s["key"] for s in server.client.get("/api/sites", headers=server.auth).json()["sites"]}
    assert not keys & {"evil-form", "evil-fetch"}


def test_cookie_writes_need_json_from_this_origin_and_bearer_writes_are_exempt(server: Server) -> None:
    with httpx.Client(base_url=server.url) as client:
        assert _login(client, server.token).status_code == 303
        body = json.dumps({"key": "csrf-probe", "origins": ["https://shop.example"]})
        plain = client.post("/api/sites", content=body, headers={"Content-Type": "text/plain"})
        assert plain.status_code == 415 and "application/json" in plain.json()["error"]
        json_type = {"Content-Type": "application/json"}
        cross = client.post(
            "/api/sites", content=body, headers={**json_type, "Origin": "http://evil.example"}
        )
        assert cross.status_code == 403
        fetch_site = client.post(
            "/api/sites", content=body, headers={**json_type, "Sec-Fetch-Site": "same-site"}
        )
        assert fetch_site.status_code == 403
        no_origin = client.post("/api/sites", content=body, headers=json_type)
        assert no_origin.status_code == 403
        own = client.post("/api/sites", content=body, headers={**json_type, "Origin": server.url})
        assert own.status_code == 201
    # A script with the bearer token: no cookie to ride on, so no origin needed.
    scripted = httpx.post(
        f"{server.url}/api/sites",
        headers=server.auth,
        json={"key": "csrf-bearer", "origins": ["https://shop.example"]},
    )
    assert scripted.status_code == 201


@pytest.fixture
def behind_proxy(fresh_db: str) -> Iterator[Server]:
    server = Server(fresh_db, extra_args=["--trusted-proxy", "127.0.0.1"]).start()
    yield server
    server.stop()


def test_the_throttle_counts_the_real_client_behind_a_trusted_proxy(behind_proxy: Server) -> None:
    server = behind_proxy
    guesser = {"X-Forwarded-For": "203.0.113.5"}
    for _ in range(5):
        r = server.client.get("/api/sites", headers={**guesser, "Authorization": "Bearer wrong"})
        assert r.status_code == 401
    assert (
        server.client.get("/api/sites", headers={**guesser, "Authorization": "Bearer wrong"}).status_code
        == 429
    )
    # Someone else behind the same proxy, with the right token, is not locked out.
    user = {"X-Forwarded-For": "198.51.100.7", **server.auth}
    assert server.client.get("/api/sites", headers=user).status_code == 200


def _cookie_payload(client: httpx.Client) -> dict[str, object]:
    value = client.cookies["ctrlens_session"]
    data = value.split(".")[0]
    return json.loads(base64.b64decode(data + "=" * (-len(data) % 4)))


def test_sign_out_ends_the_session_and_the_cookie_holds_nothing_of_the_token(server: Server) -> None:
    import hashlib

    with httpx.Client(base_url=server.url) as client:
        assert _login(client, server.token).status_code == 303
        payload = _cookie_payload(client)
        assert set(payload) <= {"user", "generation", "since", "csrf"}
        text = json.dumps(payload)
        assert hashlib.sha256(server.token.encode()).hexdigest()[:8] not in text and server.token not in text
        copied = client.cookies["ctrlens_session"]
        page = client.get("/sites/none-such")  # any page carries the sign-out form's CSRF token
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert csrf is not None
        assert client.post("/logout", data={"csrf": csrf.group(1)}, follow_redirects=False).status_code == 303
    # The copied cookie no longer opens anything, in this process or after the cache (5 s).
    time.sleep(5.2)
    replay = httpx.get(f"{server.url}/api/sites", cookies={"ctrlens_session": copied})
    assert replay.status_code == 401


def test_a_session_ends_at_its_absolute_lifetime(server: Server) -> None:
    async def secret() -> str:
        from harness import opened

        async with opened(server.db) as storage:
            return str(await storage.get_meta("session_secret"))

    with httpx.Client(base_url=server.url) as client:
        assert _login(client, server.token).status_code == 303
        payload = _cookie_payload(client)
    # The same session, eight days old: refused however it is signed.
    payload["since"] = int(time.time()) - 8 * 86400
    signer = TimestampSigner(run_sync(secret()))
    old = signer.sign(base64.b64encode(json.dumps(payload).encode())).decode()
    assert httpx.get(f"{server.url}/api/sites", cookies={"ctrlens_session": old}).status_code == 401
    payload["since"] = int(time.time()) - 3600
    fresh = signer.sign(base64.b64encode(json.dumps(payload).encode())).decode()
    assert httpx.get(f"{server.url}/api/sites", cookies={"ctrlens_session": fresh}).status_code == 200


def _ctrlens(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CTRLENS_")}
    return subprocess.run(
        [*CTRLENS, *args], env={**clean, **env}, cwd=cwd, capture_output=True, text=True, timeout=60
    )


def test_a_weak_ctrlens_token_is_refused(tmp_path: Path) -> None:
    for weak in ("secret", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "hunter2hunter2"):
        result = _ctrlens("serve", "--db", str(tmp_path / "x.db"), env={"CTRLENS_TOKEN": weak}, cwd=tmp_path)
        assert result.returncode == 2
        assert result.stderr.startswith("ctrlens: CTRLENS_TOKEN is too weak"), result.stderr


def test_token_reset_refuses_while_ctrlens_token_would_undo_it(tmp_path: Path) -> None:
    db = str(tmp_path / "x.db")
    assert (
        _ctrlens(
            "site", "add", "s", "--origin", "https://s.example", "--db", db, env={}, cwd=tmp_path
        ).returncode
        == 0
    )
    strong = "a-strong-token-" + "0123456789abcdef" * 2
    result = _ctrlens("token", "reset", "--db", db, env={"CTRLENS_TOKEN": strong}, cwd=tmp_path)
    assert result.returncode == 2 and "CTRLENS_TOKEN is set" in result.stderr


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example/",
        "/\\evil.example",
        "/\\/evil.example",
        "/\t/evil.example",
        "/\n/evil.example",
        "https://evil.example/",
        "/%0a",
        "\x00/x",
        "http:/evil.example",
        "/x\x7f",
    ],
)
def test_login_next_never_leaves_the_dashboard(target: str) -> None:
    assert safe_next(target) in ("/", "/%0a")


def test_login_next_keeps_a_path_and_query_on_this_host() -> None:
    assert safe_next("/sites/demo?period=7d") == "/sites/demo?period=7d"


def test_login_form_redirect_refuses_a_backslash_target(server: Server) -> None:
    with httpx.Client(base_url=server.url) as client:
        assert _login(client, server.token, "/\\evil.example").headers["location"] == "/"


def test_the_readme_says_origin_is_not_authentication() -> None:
    text = (ROOT / "README.md").read_text()
    assert "`Origin` is not authentication" in text


@pytest.mark.parametrize("query", [
    "from=9999-12-30&to=9999-12-31", "from=0001-01-01&to=0001-01-02", "from=0001-01-01",
    "to=9999-12-31", "from=1970-01-01&to=1970-01-05",
])
def test_dates_out_of_range_are_a_readable_400_never_a_500(server: Server, query: str) -> None:
    site = server.new_site(["https://shop.example"])
    for path in (f"/api/sites/{site}/elements", f"/api/sites/{site}/variants", f"/sites/{site}"):
        r = server.client.get(f"{path}?{query}", headers=server.auth)
        assert r.status_code == 400, (path, r.status_code)
    api = server.client.get(f"/api/sites/{site}/elements?{query}", headers=server.auth)
    assert "from and to must be dates from 1971-01-01 to 2199-12-31" in api.json()["error"]


def test_csv_cells_starting_a_formula_after_spaces_are_made_inert() -> None:
    from ctrlens.dashboard.export import csv_text

    text = csv_text([{"element": "  =HYPERLINK(\"http://evil.example\")"}, {"element": " @SUM(1)"},
                     {"element": "-1.5"}], ["element"])
    lines = text.splitlines()
    assert lines[1].startswith("\"'  =HYPERLINK") and lines[2] == "' @SUM(1)" and lines[3] == "-1.5"
