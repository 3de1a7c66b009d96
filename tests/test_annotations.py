"""Annotations (docs/design.md §4 "Around the numbers"), as a deploy hook and a site owner use
them: the API with a bearer token (the README's one `curl`), the dashboard's form with its CSRF
token, readable 400s for bad input, the element JSON carrying those in range, and hostile text
escaped on every page that shows it. Both backends."""

from __future__ import annotations

import json
import re
import subprocess
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from dashboard_seed import new_seeder
from harness import BROWSER_UA, Server

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def api(server: Server, site: str) -> str:
    return f"/api/sites/{site}/annotations"


def add(server: Server, site: str, **body: object) -> httpx.Response:
    return server.client.post(api(server, site), json=body, headers=server.auth)


def delete(server: Server, site: str, id_: object) -> httpx.Response:
    """As a script deletes one: DELETE with the bearer token (API writes are JSON, docs/design.md §6)."""
    return server.client.delete(
        f"{api(server, site)}/{id_}", headers={**server.auth, "Content-Type": "application/json"}
    )


def signed_in(server: Server) -> httpx.Client:
    """A browser-like client with a dashboard session (cookie), signed in through /login."""
    client = httpx.Client(base_url=server.url, timeout=30, headers={"User-Agent": BROWSER_UA})
    page = client.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf is not None
    r = client.post("/login", data={"csrf": csrf.group(1), "token": server.token, "next": "/"})
    assert r.status_code in (200, 303), r.text
    return client


def test_add_list_and_delete_through_the_api(server: Server) -> None:
    site = server.new_site(["https://shop.example"])
    r = add(server, site, text="Deployed v2.4", at="2026-11-29T15:00:00+01:00", url="https://git.example/v2.4")
    assert r.status_code == 201, r.text
    deploy = r.json()
    assert deploy["at"] == "2026-11-29T14:00:00Z"  # stored in UTC
    assert (deploy["text"], deploy["url"], deploy["all_day"]) == ("Deployed v2.4", "https://git.example/v2.4", False)
    day = add(server, site, text="Black Friday", at="2026-11-27").json()
    assert (day["at"], day["all_day"], day["url"]) == ("2026-11-27", True, None)
    now = add(server, site, text="  no date: now  ").json()
    assert now["text"] == "no date: now"
    assert abs(datetime.fromisoformat(now["at"]) - datetime.now(UTC)) < timedelta(minutes=1)

    listed = server.client.get(api(server, site), headers=server.auth).json()["annotations"]
    assert [a["id"] for a in listed] == [now["id"], deploy["id"], day["id"]]  # newest first
    csv = server.client.get(api(server, site), params={"format": "csv"}, headers=server.auth)
    assert csv.text.splitlines()[0] == "id,at,all_day,text,url,created"

    r = delete(server, site, deploy["id"])
    assert r.json() == {"site": site, "deleted": deploy["id"]}
    assert delete(server, site, deploy["id"]).status_code == 404
    listed = server.client.get(api(server, site), headers=server.auth).json()["annotations"]
    assert [a["id"] for a in listed] == [now["id"], day["id"]]
    # Another site's annotations are not reachable under this one.
    other = server.new_site(["https://other.example"])
    assert delete(server, other, day["id"]).status_code == 404


def test_removing_a_site_removes_its_annotations(server: Server) -> None:
    site = server.new_site(["https://shop.example"])
    assert add(server, site, text="Deployed v1").status_code == 201
    json_write = {**server.auth, "Content-Type": "application/json"}
    removed = server.client.delete(f"/api/sites/{site}", headers=json_write)
    assert removed.status_code == 200, removed.text
    assert removed.json()["rows"]["annotations"] == 1
    # The same key added again starts without them.
    again = server.client.post("/api/sites", json={"key": site, "origins": ["https://shop.example"]}, headers=server.auth)
    assert again.status_code == 201, again.text
    assert server.client.get(api(server, site), headers=server.auth).json()["annotations"] == []


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({}, "text is required"),
        ({"text": "   "}, "text is required"),
        ({"text": 42}, "text is required"),
        ({"text": "x" * 201}, "1 to 200 printable"),
        ({"text": "two\nlines"}, "printable"),
        ({"text": "evil\u202etxt"}, "printable"),
        ({"text": "ok", "at": "yesterday"}, "at must be a date"),
        ({"text": "ok", "at": "2026-02-30"}, "at must be a date"),
        ({"text": "ok", "at": "2026-11-29T14:00:00"}, "UTC offset"),
        ({"text": "ok", "at": "1990-01-01"}, "between 2000 and 2099"),
        ({"text": "ok", "at": 1764424800}, "at must be a date"),
        ({"text": "ok", "at": "2026-11-29T14:00:00Z" + " " * 40}, "at must be a date"),
        ({"text": "ok", "url": "javascript:alert(1)"}, "url must be an http"),
        ({"text": "ok", "url": "https://"}, "url must be an http"),
        ({"text": "ok", "url": "https://x.example/" + "a" * 2040}, "url must be an http"),
        ({"text": "ok", "url": ["https://x.example"]}, "url must be an http"),
        (["text", "ok"], "JSON object"),
    ],
)
def test_bad_input_is_a_readable_400(server: Server, body: object, says: str) -> None:
    site = server.new_site(["https://shop.example"])
    r = server.client.post(api(server, site), json=body, headers=server.auth)
    assert r.status_code == 400, r.text
    assert says in r.json()["error"]
    assert server.client.get(api(server, site), headers=server.auth).json()["annotations"] == []


def test_bad_requests_around_the_body(server: Server) -> None:
    site = server.new_site(["https://shop.example"])
    url = api(server, site)
    r = server.client.post(url, content=b"{not json", headers={**server.auth, "Content-Type": "application/json"})
    assert (r.status_code, r.json()["error"]) == (400, "body must be JSON")
    r = server.client.post(url, data={"text": "form"}, headers=server.auth)
    assert r.status_code == 415
    assert delete(server, site, "abc").status_code == 400
    assert server.client.post(url, json={"text": "no token"}).status_code == 401
    assert server.client.get(api(server, "no-such-site"), headers=server.auth).status_code == 404


def test_the_readme_curl_adds_a_deploy(server: Server) -> None:
    """The deploy hook, exactly as the README shows it: one curl with a bearer token and JSON."""
    site = server.new_site(["https://shop.example"])
    body = json.dumps({"text": "Deployed v2.5", "at": "2026-11-29T14:00:00Z", "url": "https://git.example/v2.5"})
    out = subprocess.run(
        [
            "curl", "-fsS", "-X", "POST", f"{server.url}/api/sites/{site}/annotations",
            "-H", f"Authorization: Bearer {server.token}",
            "-H", "Content-Type: application/json",
            "-d", body,
        ],
        capture_output=True, text=True, check=True, timeout=30,
    )
    added = json.loads(out.stdout)
    assert (added["text"], added["at"]) == ("Deployed v2.5", "2026-11-29T14:00:00Z")
    listed = server.client.get(api(server, site), headers=server.auth).json()["annotations"]
    assert [a["id"] for a in listed] == [added["id"]]


def test_cookie_writes_need_this_origin_and_the_form_its_csrf_token(server: Server) -> None:
    site = server.new_site(["https://shop.example"])
    client = signed_in(server)
    try:
        # The API with the session cookie: JSON from this origin only.
        r = client.post(api(server, site), json={"text": "cross-site"}, headers={"Origin": "https://evil.example"})
        assert r.status_code == 403
        r = client.post(api(server, site), json={"text": "same origin"}, headers={"Origin": server.url})
        assert r.status_code == 201, r.text
        # The dashboard's form: its CSRF token or nothing.
        page = client.get(f"/sites/{site}/annotations")
        assert page.status_code == 200 and "same origin" in page.text
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert csrf is not None
        r = client.post(f"/sites/{site}/annotations", data={"text": "forged", "date": "2026-11-28"})
        assert r.status_code == 400
        r = client.post(
            f"/sites/{site}/annotations",
            data={"csrf": csrf.group(1), "text": "Price test", "date": "2026-11-28", "time": "09:30"},
        )
        assert r.status_code == 303 and r.headers["location"] == f"/sites/{site}/annotations"
        r = client.post(f"/sites/{site}/annotations", data={"csrf": csrf.group(1), "text": "Sale", "date": "2026-11-20"})
        assert r.status_code == 303
        r = client.post(f"/sites/{site}/annotations", data={"csrf": csrf.group(1), "text": "bad\tdate", "date": "x"})
        assert r.status_code == 400 and "printable" in r.text
        listed = {a["text"]: a for a in client.get(api(server, site)).json()["annotations"]}
        assert set(listed) == {"same origin", "Price test", "Sale"}
        assert listed["Price test"]["at"] == "2026-11-28T09:30:00Z"  # a new site's zone is UTC
        assert listed["Sale"]["at"] == "2026-11-20" and listed["Sale"]["all_day"]
        r = client.post(
            f"/sites/{site}/annotations", data={"csrf": csrf.group(1), "delete": str(listed["Sale"]["id"])}
        )
        assert r.status_code == 303
        assert "Sale" not in {a["text"] for a in client.get(api(server, site)).json()["annotations"]}
    finally:
        client.close()


def test_the_form_reads_a_time_in_the_sites_zone(server: Server) -> None:
    site = server.new_site(["https://shop.example"], timezone="Europe/Berlin")
    client = signed_in(server)
    try:
        page = client.get(f"/sites/{site}/annotations")
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert csrf is not None
        r = client.post(
            f"/sites/{site}/annotations",
            data={"csrf": csrf.group(1), "text": "Berlin deploy", "date": "2026-11-28", "time": "09:30"},
        )
        assert r.status_code == 303
        (note,) = client.get(api(server, site)).json()["annotations"]
        assert note["at"] == "2026-11-28T08:30:00Z"
    finally:
        client.close()


def test_the_element_json_carries_the_annotations_in_its_range(server: Server) -> None:
    seeder = new_seeder(server)
    seeder.many("hero", "cta", 20, 2)
    site = seeder.site
    today = datetime.now(UTC).date()
    inside = add(server, site, text="Deploy today").json()
    whole_day = add(server, site, text="Campaign", at=(today - timedelta(days=2)).isoformat()).json()
    add(server, site, text="Long ago", at="2020-01-01")
    add(server, site, text="Long ago too", at="2020-01-01T10:00:00Z")
    element = server.client.get(f"/api/sites/{site}/elements/hero", params={"period": "7d"}, headers=server.auth)
    assert [a["id"] for a in element.json()["annotations"]] == [whole_day["id"], inside["id"]]  # oldest first
    series = server.client.get(
        f"/api/sites/{site}/elements/hero/series", params={"period": "7d", "interval": "day"}, headers=server.auth
    )
    assert [a["text"] for a in series.json()["annotations"]] == ["Campaign", "Deploy today"]
    today_only = server.client.get(
        f"/api/sites/{site}/elements/hero", params={"period": "today"}, headers=server.auth
    )
    assert [a["text"] for a in today_only.json()["annotations"]] == ["Deploy today"]
    # The page: one marker per annotated point, numbered like the list under the chart.
    page = server.client.get(f"/sites/{site}/elements/hero", params={"period": "7d"}, headers=server.auth)
    assert page.text.count('class="annotation"') == 4  # two markers, in the wide and the phone drawing
    assert re.search(r"<li value=\"1\">.*Campaign</li>", page.text)
    assert re.search(r"<li value=\"2\">.*Deploy today</li>", page.text)
    overview = server.client.get(f"/sites/{site}", params={"period": "7d"}, headers=server.auth)
    assert overview.text.count('class="annotation-tick"') == 2
    assert "2 annotated points" in overview.text


def test_hostile_text_and_links_are_escaped_everywhere(server: Server) -> None:
    seeder = new_seeder(server)
    seeder.many("hero", "cta", 10, 1)
    site = seeder.site
    link = 'https://x.example/?q="><script>alert(2)</script>'
    assert add(server, site, text=HOSTILE, url=link).status_code == 201
    for path in (f"/sites/{site}/elements/hero", f"/sites/{site}", f"/sites/{site}/annotations"):
        text = server.client.get(path, headers=server.auth).text
        assert "<script>alert" not in text and "<img src=x" not in text, path
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in text, path
        assert 'href="https://x.example/?q=&#34;&gt;&lt;script&gt;alert(2)&lt;/script&gt;"' in text, path


def test_a_viewer_sees_annotations_but_cannot_change_them(server: Server) -> None:
    site = server.new_site(["https://shop.example"])
    added = add(server, site, text="Deployed v1").json()
    admin = signed_in(server)
    name = "viewer-" + uuid.uuid4().hex[:6]
    try:
        csrf = re.search(r'name="csrf" value="([^"]+)"', admin.get("/users").text)
        assert csrf is not None
        r = admin.post("/users", data={"csrf": csrf.group(1), "action": "add", "name": name, "role": "viewer",
                                       "password": "correct horse battery"})
        assert r.status_code == 303, r.text
    finally:
        admin.close()
    viewer = httpx.Client(base_url=server.url, timeout=30, headers={"User-Agent": BROWSER_UA})
    try:
        csrf = re.search(r'name="csrf" value="([^"]+)"', viewer.get("/login").text)
        assert csrf is not None
        r = viewer.post("/login", data={"csrf": csrf.group(1), "name": name, "token": "correct horse battery"})
        assert r.status_code in (200, 303), r.text
        listed = viewer.get(api(server, site)).json()["annotations"]
        assert [a["id"] for a in listed] == [added["id"]]
        same_origin = {"Origin": server.url}
        assert viewer.post(api(server, site), json={"text": "no"}, headers=same_origin).status_code == 403
        r = viewer.request("DELETE", f"{api(server, site)}/{added['id']}", json={}, headers=same_origin)
        assert r.status_code == 403
        assert viewer.get(f"/sites/{site}/annotations").status_code == 403
    finally:
        viewer.close()
    assert len(server.client.get(api(server, site), headers=server.auth).json()["annotations"]) == 1
