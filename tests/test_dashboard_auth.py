"""The dashboard and its API require login (docs/design.md §4)."""

from __future__ import annotations

import re

import httpx


def test_api_without_token_is_401(server):
    site = server.new_site(["https://shop.example"])
    r = server.client.get(f"/api/sites/{site}/elements")
    assert r.status_code == 401
    assert "error" in r.json()


def test_api_with_wrong_token_is_401(server):
    r = server.client.get("/api/sites", headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401


def test_dashboard_page_redirects_to_login(server):
    site = server.new_site(["https://shop.example"])
    r = server.client.get(f"/sites/{site}", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == f"/login?next=/sites/{site}"


def _login(client: httpx.Client, token: str, next_url: str = "/") -> httpx.Response:
    page = client.get(f"/login?next={next_url}")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    return client.post(
        "/login", data={"csrf": csrf, "token": token, "next": next_url}, follow_redirects=False
    )


def test_login_with_the_token_opens_the_dashboard(server):
    site = server.new_site(["https://shop.example"])
    with httpx.Client(base_url=server.url) as client:
        r = _login(client, server.token, f"/sites/{site}")
        assert r.status_code == 303
        assert r.headers["location"] == f"/sites/{site}"
        cookie = r.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=lax" in cookie
        page = client.get(f"/sites/{site}")
        assert page.status_code == 200
        assert "content-security-policy" in page.headers
        # The session also opens the JSON API.
        assert client.get(f"/api/sites/{site}/elements").status_code == 200


def test_wrong_token_is_refused(server):
    with httpx.Client(base_url=server.url) as client:
        r = _login(client, "wrong")
        assert r.status_code == 401
        assert "not right" in r.text
        assert client.get("/api/sites").status_code == 401


def test_login_without_csrf_token_is_refused(server):
    with httpx.Client(base_url=server.url) as client:
        client.get("/login")
        r = client.post("/login", data={"token": server.token}, follow_redirects=False)
        assert r.status_code == 400


def test_login_redirect_stays_on_this_host(server):
    with httpx.Client(base_url=server.url) as client:
        r = _login(client, server.token, "//evil.example/")
        assert r.headers["location"] == "/"


def test_token_reset_ends_old_tokens_and_sessions(fresh_db):
    import subprocess
    import time

    from harness import CTRLENS, ROOT, Server

    srv = Server(fresh_db).start()
    try:
        with httpx.Client(base_url=srv.url) as client:
            assert _login(client, srv.token).status_code == 303
            assert client.get("/api/sites").status_code == 200
            out = subprocess.run(
                [*CTRLENS, "token", "reset", "--db", fresh_db],
                cwd=ROOT,
                env={**srv.env, "CTRLENS_TOKEN": ""},
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            new_token = out.strip().rsplit(" ", 1)[-1]
            time.sleep(5.5)  # the running server re-reads the token's hash every 5 s
            assert client.get("/api/sites").status_code == 401  # the old session is over
            assert srv.client.get("/api/sites", headers=srv.auth).status_code == 401
            assert (
                srv.client.get("/api/sites", headers={"Authorization": f"Bearer {new_token}"}).status_code
                == 200
            )
    finally:
        srv.stop()
