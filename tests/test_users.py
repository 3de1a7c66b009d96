"""Named users, roles, personal API tokens and site removal (docs/design.md §4 "Access"), over
real HTTP and the real CLI, on both backends."""

from __future__ import annotations

import itertools
import re
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import closing

import httpx
import pytest

from ctrlens.collector.storage import open_storage
from harness import CTRLENS, ROOT, Server, run_sync

PASSWORD = "correct horse battery"
_addresses = itertools.count(1)


@pytest.fixture(scope="module")
def srv(backend: str, databases) -> Iterator[Server]:
    """A server of this module's own, behind a "proxy" so that each person below is a client of
    their own: one test's wrong passwords never throttle another's sign-in."""
    server = Server(databases.new(backend), extra_args=["--trusted-proxy", "127.0.0.1"]).start()
    yield server
    server.stop()


def person(server: Server) -> httpx.Client:
    n = next(_addresses)
    return httpx.Client(
        base_url=server.url, headers={"X-Forwarded-For": f"203.0.{n // 250}.{n % 250 + 1}"}, timeout=30
    )


def csrf_of(client: httpx.Client, path: str = "/login") -> str:
    page = client.get(path)
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found, page.text
    return found.group(1)


def sign_in(client: httpx.Client, name: str, secret: str) -> httpx.Response:
    return client.post(
        "/login",
        data={"csrf": csrf_of(client), "name": name, "token": secret, "next": "/"},
        follow_redirects=False,
    )


def admin(server: Server) -> httpx.Client:
    client = person(server)
    assert sign_in(client, "", server.token).status_code == 303
    return client


def form(client: httpx.Client, path: str, **fields: str) -> httpx.Response:
    return client.post(path, data={"csrf": csrf_of(client, "/account"), **fields}, follow_redirects=False)


def new_user(server: Server, role: str = "viewer", password: str = PASSWORD) -> str:
    name = f"{role}-{uuid.uuid4().hex[:6]}"
    with closing(admin(server)) as client:
        r = form(client, "/users", action="add", name=name, role=role, password=password)
        assert r.status_code == 303, r.text
    return name


def viewer_session(server: Server) -> tuple[httpx.Client, str]:
    name = new_user(server)
    client = person(server)
    assert sign_in(client, name, PASSWORD).status_code == 303
    return client, name


def test_an_admin_adds_a_viewer_who_signs_in_and_reads(srv: Server) -> None:
    site = srv.new_site(["https://shop.example"])
    name = new_user(srv)
    with closing(admin(srv)) as client:
        page = client.get("/users")
        assert page.status_code == 200 and name in page.text and "viewer" in page.text
    with person(srv) as client:
        r = sign_in(client, name, PASSWORD)
        assert r.status_code == 303
        cookie = r.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=lax" in cookie
        assert PASSWORD not in client.cookies["ctrlens_session"]
        page = client.get(f"/sites/{site}")
        assert page.status_code == 200
        nav = page.text.split("</header>")[0]
        # A viewer's chrome: their name and account page, no Settings tab, no Users page.
        assert name in nav and 'href="/account"' in nav
        assert "/settings" not in nav and 'href="/users"' not in nav
        assert client.get(f"/api/sites/{site}/elements").status_code == 200
        assert client.get(f"/api/sites/{site}/settings").status_code == 200  # the JSON is readable


def test_wrong_password_unknown_name_and_bad_input_are_readable(srv: Server) -> None:
    name = new_user(srv)
    with person(srv) as client:
        r = sign_in(client, name, "not the password")
        assert r.status_code == 401 and "do not match" in r.text
        r = sign_in(client, "nobody-" + uuid.uuid4().hex[:6], PASSWORD)
        assert r.status_code == 401 and "do not match" in r.text
        assert client.get("/api/sites").status_code == 401
    with closing(admin(srv)) as client:
        for fields, message in [
            ({"name": "short-" + uuid.uuid4().hex[:4], "role": "viewer", "password": "123456789"},
             "at least 10 characters"),
            ({"name": name, "role": "viewer", "password": PASSWORD}, "exists already"),
            ({"name": "x" * 65, "role": "viewer", "password": PASSWORD}, "at most 64 characters"),
            ({"name": "tab\there", "role": "viewer", "password": PASSWORD}, "printable"),
            ({"name": "r-" + uuid.uuid4().hex[:4], "role": "owner", "password": PASSWORD}, "admin or viewer"),
        ]:
            r = form(client, "/users", action="add", **fields)
            assert r.status_code == 400, fields
            assert message in r.text, (fields, r.text[:300])


def test_the_throttle_never_holds_back_another_client(srv: Server) -> None:
    name = new_user(srv)
    with person(srv) as guesser:
        for _ in range(5):
            assert sign_in(guesser, name, "wrong password").status_code == 401
        assert sign_in(guesser, name, PASSWORD).status_code == 429
    with person(srv) as owner:
        assert sign_in(owner, name, PASSWORD).status_code == 303


WRITE_EXEMPT = {"/login", "/logout", "/account"}


def _write_routes() -> list[tuple[str, str]]:
    from ctrlens.dashboard.routes import routes

    found = []
    for route in routes:
        path = getattr(route, "path", "")
        if path in WRITE_EXEMPT or path.startswith(("/share/", "/overlay/")):
            continue
        for method in sorted((route.methods or set()) & {"POST", "PUT", "DELETE", "PATCH"}):
            found.append((method, path))
    return found


def _concrete(path: str, site: str) -> str:
    return re.sub(r"\{(\w+)(:path)?\}", lambda m: site if m.group(1) == "site" else "x", path)


def test_a_viewer_is_refused_every_write_and_the_admin_pages(srv: Server) -> None:
    site = srv.new_site(["https://shop.example"])
    client, _ = viewer_session(srv)
    routes = _write_routes()
    assert ("POST", "/api/sites") in routes and ("DELETE", "/api/sites/{site}") in routes
    assert ("POST", "/sites/{site}/settings") in routes and ("POST", "/users") in routes
    same_origin = {"Origin": srv.url, "Sec-Fetch-Site": "same-origin"}
    with closing(client):
        for method, path in routes:
            url = _concrete(path, site)
            if path.startswith("/api/"):
                r = client.request(method, url, json={}, headers=same_origin)
            else:
                r = client.request(method, url, data={"csrf": csrf_of(client, f"/sites/{site}")})
            assert r.status_code == 403, (method, url, r.status_code, r.text[:200])
            assert "viewer" in r.text, (method, url)
        for url in [f"/sites/{site}/settings", f"/sites/{site}/goals", "/users",
                    f"/api/sites/{site}/share-links"]:
            r = client.get(url)
            assert r.status_code == 403, url
            assert "for admins" in r.text
        # Nothing changed: the site is still there, with its name.
        assert srv.client.get(f"/api/sites/{site}/settings", headers=srv.auth).json()["name"] == site


def test_a_password_change_ends_every_session_of_that_user(srv: Server) -> None:
    name = new_user(srv)
    laptop, phone = person(srv), person(srv)
    with closing(laptop), closing(phone):
        assert sign_in(laptop, name, PASSWORD).status_code == 303
        assert sign_in(phone, name, PASSWORD).status_code == 303
        assert laptop.get("/api/sites").status_code == 200
        with closing(admin(srv)) as boss:
            assert form(boss, "/users", action="password", name=name, password="a new password!").status_code == 303
        assert laptop.get("/api/sites").status_code == 401
        assert phone.get("/api/sites").status_code == 401
        assert sign_in(laptop, name, PASSWORD).status_code == 401
        assert sign_in(laptop, name, "a new password!").status_code == 303
        # The user changes it on their own account page: that session ends too.
        r = form(laptop, "/account", action="password", current="a new password!", password="third password")
        assert r.status_code == 303 and r.headers["location"].startswith("/login")
        assert laptop.get("/api/sites").status_code == 401


def test_signing_out_ends_only_that_users_sessions(srv: Server) -> None:
    boss = admin(srv)
    user, _ = viewer_session(srv)
    with closing(boss), closing(user):
        r = user.post("/logout", data={"csrf": csrf_of(user, "/account")}, follow_redirects=False)
        assert r.status_code == 303
        assert user.get("/api/sites").status_code == 401
        assert boss.get("/api/sites").status_code == 200


def _create_token(client: httpx.Client, label: str) -> str:
    r = form(client, "/account", action="create-token", label=label)
    assert r.status_code == 201, r.text
    found = re.search(r"<code>(ctl_[A-Za-z0-9_-]+)</code>", r.text)
    assert found, r.text
    return found.group(1)


def test_personal_tokens_act_as_their_user_and_are_revoked(srv: Server) -> None:
    site = srv.new_site(["https://shop.example"])
    viewer, _ = viewer_session(srv)
    boss_name = new_user(srv, role="admin")
    with closing(viewer), person(srv) as boss:
        assert sign_in(boss, boss_name, PASSWORD).status_code == 303
        token = _create_token(viewer, "reporting script")
        assert "shown only once" in form(viewer, "/account", action="create-token", label="other").text
        bearer = {"Authorization": f"Bearer {token}"}
        with person(srv) as script:
            assert script.get(f"/api/sites/{site}/elements", headers=bearer).status_code == 200
            # The viewer's token has the viewer's role.
            r = script.post("/api/sites", json={"key": "nope-" + uuid.uuid4().hex[:6],
                                                "origins": ["https://a.example"]}, headers=bearer)
            assert r.status_code == 403
            admin_token = _create_token(boss, "deploy")
            key = "by-token-" + uuid.uuid4().hex[:6]
            r = script.post("/api/sites", json={"key": key, "origins": ["https://a.example"]},
                            headers={"Authorization": f"Bearer {admin_token}"})
            assert r.status_code == 201, r.text
        account = viewer.get("/account")
        assert "reporting script" in account.text and token not in account.text  # shown once
        row = account.text.split("reporting script")[1].split("</tr>")[0]
        assert "UTC" in row.split("</td>")[2]  # last used: now, not "never"
        token_id = re.search(r'name="id" value="([0-9a-f]+)"', row).group(1)
        assert form(viewer, "/account", action="revoke-token", id=token_id).status_code == 200
        with person(srv) as script:
            assert script.get(f"/api/sites/{site}/elements", headers=bearer).status_code == 401
        # Another user's token id revokes nothing.
        assert form(boss, "/account", action="revoke-token", id=token_id).status_code == 400


def test_a_removed_user_loses_sessions_and_tokens(srv: Server) -> None:
    client, name = viewer_session(srv)
    with closing(client):
        token = _create_token(client, "cron")
        with closing(admin(srv)) as boss:
            assert form(boss, "/users", action="remove", name=name).status_code == 303
            assert name not in boss.get("/users").text
        assert client.get("/api/sites").status_code == 401
        with person(srv) as script:
            assert script.get("/api/sites", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_the_admin_token_has_no_personal_tokens(srv: Server) -> None:
    with closing(admin(srv)) as client:
        r = form(client, "/account", action="create-token", label="x")
        assert r.status_code == 400 and "named user" in r.text


# -- sites edited and removed ----------------------------------------------------------------


def _site_rows(db: str, site: str) -> dict[str, int]:
    """Rows naming `site` in every table with a `site` column, read from the catalog."""

    async def read() -> dict[str, int]:
        storage = await open_storage(db, migrate=False)
        try:
            if storage.dialect == "sqlite":
                sql = ("SELECT m.name FROM sqlite_master m JOIN pragma_table_info(m.name) c "
                       "WHERE m.type = 'table' AND c.name = 'site'")
            else:
                sql = ("SELECT table_name FROM information_schema.columns WHERE column_name = 'site' "
                       "AND table_schema = current_schema()")
            counts = {}
            for (table,) in await storage.db.fetch(sql):
                rows = await storage.db.fetch(f'SELECT COUNT(*) FROM "{table}" WHERE site = ?', (site,))
                counts[table] = int(rows[0][0])
            counts["sites"] = len(await storage.db.fetch("SELECT 1 FROM sites WHERE key = ?", (site,)))
            return counts
        finally:
            await storage.close()

    return run_sync(read())


def _seed(server: Server, site: str) -> None:
    pv = uuid.uuid4().hex
    body = {"site": site, "pageview": pv, "url": "https://shop.example/", "events": [
        {"id": f"{pv}-0", "type": "pageview", "present": ["hero"]},
        {"id": f"{pv}-1", "type": "impression", "element": "hero", "kind": "cta"},
        {"id": f"{pv}-2", "type": "click", "element": "hero"},
        {"id": f"{pv}-3", "type": "conversion", "goal": "signup"},
    ]}
    assert server.post(body, "https://shop.example").status_code == 202
    assert server.post(body | {"site": site, "events": [{"id": "bad"}]}, "https://evil.example").status_code == 403


def test_removing_a_site_deletes_all_its_data_and_nothing_else(srv: Server) -> None:
    doomed, kept = srv.new_site(["https://shop.example"]), srv.new_site(["https://shop.example"])
    for site in (doomed, kept):
        _seed(srv, site)
        r = srv.client.post(f"/api/sites/{site}/share-links", json={"days": 3}, headers=srv.auth)
        assert r.status_code == 201
    before, kept_before = _site_rows(srv.db, doomed), _site_rows(srv.db, kept)
    assert sum(before.values()) > 10 and before["events"] and before["share_links"] and before["goals"]
    with closing(admin(srv)) as client:
        csrf = csrf_of(client, f"/sites/{doomed}/settings")
        r = client.post(f"/sites/{doomed}/remove", data={"csrf": csrf, "confirm": "wrong"})
        assert r.status_code == 400 and "nothing was removed" in r.text
        assert sum(_site_rows(srv.db, doomed).values()) == sum(before.values())
        page = client.get(f"/sites/{doomed}/settings")
        assert "deletes all its data" in page.text
        r = client.post(f"/sites/{doomed}/remove", data={"csrf": csrf, "confirm": doomed}, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/"
        assert client.get(f"/sites/{doomed}").status_code == 404
    assert set(_site_rows(srv.db, doomed).values()) == {0}
    assert _site_rows(srv.db, kept) == kept_before
    assert srv.elements(kept)["hero"]["clicks"] == 1
    # Its events are refused from now on.
    pv = uuid.uuid4().hex
    late = {"site": doomed, "pageview": pv, "url": "https://shop.example/",
            "events": [{"id": f"{pv}-0", "type": "impression", "element": "hero", "kind": "cta"}]}
    assert srv.post(late, "https://shop.example").status_code == 403
    # And by the API: DELETE /api/sites/{site}.
    r = srv.client.request("DELETE", f"/api/sites/{kept}", json={}, headers=srv.auth)
    assert r.status_code == 200 and r.json()["removed"] == kept and r.json()["rows"]["events"] == 2
    assert set(_site_rows(srv.db, kept).values()) == {0}
    assert srv.client.request("DELETE", f"/api/sites/{kept}", json={}, headers=srv.auth).status_code == 404


def test_a_site_is_added_in_the_ui(srv: Server) -> None:
    key = "ui-" + uuid.uuid4().hex[:6]
    with closing(admin(srv)) as client:
        csrf = csrf_of(client, "/?all=1")
        r = client.post("/", data={"csrf": csrf, "key": key, "origins": "https://a.example\nhttps://b.example"},
                        follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == f"/sites/{key}/settings#install"
        r = client.post("/", data={"csrf": csrf, "key": "bad key", "origins": "https://a.example"})
        assert r.status_code == 400 and "a site key is" in r.text
    settings = srv.client.get(f"/api/sites/{key}/settings", headers=srv.auth).json()
    assert settings["origins"] == ["https://a.example", "https://b.example"]


# -- the CLI -----------------------------------------------------------------------------------


def cli(db: str, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CTRLENS, *args, "--db", db], input=stdin, capture_output=True, text=True, cwd=ROOT, timeout=60
    )


def test_users_and_tokens_from_the_cli(srv: Server) -> None:
    name = "cli-" + uuid.uuid4().hex[:6]
    r = cli(srv.db, "user", "add", name, "--role", "admin", "--password-stdin", stdin="short\n")
    assert r.returncode == 2 and "at least 10 characters" in r.stderr
    r = cli(srv.db, "user", "add", name, "--role", "admin", "--password-stdin", stdin=PASSWORD + "\n")
    assert r.returncode == 0, r.stderr
    assert cli(srv.db, "user", "add", name, "--password-stdin", stdin=PASSWORD + "\n").returncode == 2
    assert f"{name}\tadmin" in cli(srv.db, "user", "list").stdout
    with person(srv) as client:
        assert sign_in(client, name, PASSWORD).status_code == 303
        assert "Users" in client.get("/?all=1").text
        r = cli(srv.db, "token", "create", "--user", name, "--name", "ci")
        assert r.returncode == 0, r.stderr
        token = r.stdout.strip().split()[-1]
        assert token.startswith("ctl_")
        with person(srv) as script:
            assert script.get("/api/sites", headers={"Authorization": f"Bearer {token}"}).status_code == 200
        r = cli(srv.db, "user", "password", name, "--password-stdin", stdin="another password\n")
        assert r.returncode == 0, r.stderr
        assert client.get("/api/sites").status_code == 401
        assert sign_in(client, name, "another password").status_code == 303
        assert cli(srv.db, "user", "remove", name).returncode == 0
        assert client.get("/api/sites").status_code == 401
    assert name not in cli(srv.db, "user", "list").stdout
    r = cli(srv.db, "token", "create", "--user", name)
    assert r.returncode == 2 and "no user named" in r.stderr


def test_sites_edited_and_removed_from_the_cli(srv: Server) -> None:
    site = srv.new_site(["https://shop.example"])
    r = cli(srv.db, "site", "edit", site, "--name", "Shop", "--origin", "https://a.example",
            "--origin", "https://b.example")
    assert r.returncode == 0, r.stderr
    settings = srv.client.get(f"/api/sites/{site}/settings", headers=srv.auth).json()
    assert settings["name"] == "Shop" and settings["origins"] == ["https://a.example", "https://b.example"]
    assert cli(srv.db, "site", "edit", site).returncode == 2
    assert cli(srv.db, "site", "edit", site, "--origin", "ftp://x").returncode == 2
    r = cli(srv.db, "site", "remove", site, stdin="not-it\n")
    assert r.returncode == 1 and "deletes all its data" in r.stdout and "not removed" in r.stderr
    r = cli(srv.db, "site", "remove", site, stdin=site + "\n")
    assert r.returncode == 0, r.stderr
    assert f"removed site {site!r}" in r.stdout
    other = srv.new_site(["https://shop.example"])
    assert cli(srv.db, "site", "remove", other, "--yes").returncode == 0
    assert srv.client.get(f"/api/sites/{other}/settings", headers=srv.auth).status_code == 404
    assert cli(srv.db, "site", "remove", other, "--yes").returncode == 2
