"""The address ctrlens is reached at (docs/design.md §6): the install tag is built from
`public_url`, never from a request's Host header, and cookies are `Secure` whenever the browser
reached ctrlens over TLS (a trusted proxy's `X-Forwarded-Proto: https`, or an https public_url)."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from collector_helpers import ORIGIN
from ctrlens.collector.config import Config
from harness import CTRLENS, ROOT, TOKEN, Databases, Server

PUBLIC_URL = "https://stats.shop.example"
ATTACKER = "attacker.example"


def install_tag(server: Server, site: str, headers: dict[str, str] | None = None) -> str:
    r = server.client.get(f"/api/sites/{site}/settings", headers={**server.auth, **(headers or {})})
    assert r.status_code == 200, r.text
    return str(r.json()["install_tag"])


def settings_page(server: Server, site: str, headers: dict[str, str]) -> str:
    r = server.client.get(f"/sites/{site}/settings", headers={**server.auth, "Accept": "text/html", **headers})
    assert r.status_code == 200, r.text
    return r.text


def session_cookie(server: Server, headers: dict[str, str] | None = None) -> str:
    """The Set-Cookie of the sign-in page, which opens a session for its CSRF token."""
    with httpx.Client(base_url=server.url) as client:
        r = client.get("/login", headers=headers or {})
    assert r.status_code == 200
    cookie = r.headers["set-cookie"]
    assert cookie.startswith("ctrlens_session=")
    return cookie.lower()


def is_secure(cookie: str) -> bool:
    return "secure" in [part.strip() for part in cookie.split(";")]


def test_a_forged_host_never_reaches_the_install_tag(server: Server) -> None:
    site = server.new_site([ORIGIN])
    forged = install_tag(server, site, {"Host": ATTACKER})
    assert ATTACKER not in forged
    assert 'src="https://YOUR-CTRLENS-HOST/ctr.js"' in forged
    html = settings_page(server, site, {"Host": f"{ATTACKER}:443", "X-Forwarded-Proto": "https"})
    assert ATTACKER not in html and "YOUR-CTRLENS-HOST" in html
    assert "Set public_url (CTRLENS_PUBLIC_URL)" in html  # the page says how to get the real tag
    # Local trials keep working: a browser on this machine gets this server's address.
    port = server.url.rsplit(":", 1)[1]
    assert f'src="http://127.0.0.1:{port}/ctr.js"' in install_tag(server, site)
    assert f'src="http://localhost:{port}/ctr.js"' in install_tag(server, site, {"Host": f"localhost:{port}"})
    # A Host that only starts like a local one is not one.
    assert ATTACKER not in install_tag(server, site, {"Host": f"localhost@{ATTACKER}"})
    assert ATTACKER not in install_tag(server, site, {"Host": f"127.0.0.1.{ATTACKER}"})


def test_plain_http_sign_in_has_no_secure_cookie_and_works(server: Server) -> None:
    # No trusted proxy: an X-Forwarded-Proto from anyone is not believed.
    assert not is_secure(session_cookie(server, {"X-Forwarded-Proto": "https"}))
    site = server.new_site([ORIGIN])
    with httpx.Client(base_url=server.url) as client:
        page = client.get("/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert csrf is not None
        r = client.post("/login", data={"csrf": csrf.group(1), "token": server.token}, follow_redirects=False)
        assert r.status_code == 303 and not is_secure(r.headers["set-cookie"].lower())
        assert client.get(f"/api/sites/{site}/elements").status_code == 200


@pytest.fixture(scope="module")
def public(databases: Databases) -> Iterator[Server]:
    srv = Server(databases.new("sqlite"), extra_args=["--public-url", PUBLIC_URL + "/"]).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def proxied(databases: Databases) -> Iterator[Server]:
    srv = Server(databases.new("sqlite"), extra_args=["--trusted-proxy", "127.0.0.1"]).start()
    yield srv
    srv.stop()


def test_public_url_makes_the_install_tag_whatever_the_host(public: Server) -> None:
    site = public.new_site([ORIGIN])
    expected = f'<script defer src="{PUBLIC_URL}/ctr.js" data-site="{site}"></script>'
    assert install_tag(public, site) == expected
    assert install_tag(public, site, {"Host": ATTACKER}) == expected
    html = settings_page(public, site, {"Host": ATTACKER})
    assert f"{PUBLIC_URL}/ctr.js" in html and ATTACKER not in html


def test_an_https_public_url_makes_cookies_secure(public: Server) -> None:
    assert is_secure(session_cookie(public))
    # For every cookie ctrlens sets: the one setting they all read says so.
    assert Config(public_url=PUBLIC_URL).secure_cookies and not Config(public_url="http://a.example").secure_cookies


def test_a_trusted_tls_proxy_makes_cookies_secure_and_the_tag_https(proxied: Server) -> None:
    tls = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "198.51.100.7"}
    assert is_secure(session_cookie(proxied, tls))
    assert not is_secure(session_cookie(proxied))
    assert not is_secure(session_cookie(proxied, {"X-Forwarded-Proto": "http"}))
    # Only the nearest proxy's word counts: a client's own "https" to its left does not.
    assert not is_secure(session_cookie(proxied, {"X-Forwarded-Proto": "https, http"}))
    site = proxied.new_site([ORIGIN])
    assert 'src="https://localhost/ctr.js"' in install_tag(proxied, site, {**tls, "Host": "localhost"})
    assert "YOUR-CTRLENS-HOST" in install_tag(proxied, site, {**tls, "Host": ATTACKER})


@pytest.mark.parametrize("bad", ["ftp://stats.example", "https://stats.example/?x=1", "https://s.example/#top"])
def test_a_bad_public_url_stops_serve_with_one_line(tmp_path: Path, bad: str) -> None:
    result = subprocess.run(
        [*CTRLENS, "serve", "--db", str(tmp_path / "bad.db"), "--port", "1"],
        cwd=ROOT,
        env={**os.environ, "CTRLENS_TOKEN": TOKEN, "CTRLENS_PUBLIC_URL": bad},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert result.stderr.strip().count("\n") == 0 and "public_url" in result.stderr


def test_a_share_link_is_built_from_public_url_whatever_the_host(public: Server) -> None:
    site = public.new_site([ORIGIN])
    r = public.client.post(
        f"/api/sites/{site}/share-links", json={"days": 7}, headers={**public.auth, "Host": ATTACKER}
    )
    assert r.status_code == 201, r.text
    assert r.json()["url"].startswith(f"{PUBLIC_URL}/share/")
