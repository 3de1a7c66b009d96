"""Everything a visitor's browser sends is shown as text, never run (docs/design.md §4 security).

Hostile strings go in through the real Events API as element id, variant, account, page path
and utm_source, and as the site's name; then every page type is visited with a dialog listener
armed. The Content-Security-Policy would block an inline handler anyway, so the test also
asserts the text is on the page escaped, which only autoescaping gives.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from playwright.sync_api import Dialog, Page, expect

from dashboard_seed import Seen, new_seeder

ELEMENT = '"><img src=x onerror=alert(1)>'
VARIANT = "<script>alert(2)</script>"
ACCOUNT = "'><svg onload=alert(3)>"
PAGE = '/x"><img/src=y/onerror=alert(4)>'
SOURCE = "<img/src=z/onerror=alert(5)>"
NAME = "<img src=n onerror=alert(6)>Shop"


def test_no_stored_value_ever_runs(server, page: Page):
    s = new_seeder(server)
    r = server.client.put(f"/api/sites/{s.site}/settings", json={"name": NAME}, headers=server.auth)
    assert r.status_code == 200
    for variant in (VARIANT, "B"):
        for i in range(3):
            s.pageview(
                [Seen(ELEMENT, "cta", 1 if i == 0 else 0)],
                PAGE,
                variant=variant,
                account=ACCOUNT,
                query=f"?utm_source={SOURCE}",
            )
    # A rejected event keeps a sample of its request for the settings page.
    bad = {
        "site": s.site,
        "pageview": "p",
        "url": "https://shop.example/",
        "events": [
            {"id": "1", "type": "impression", "element": ELEMENT},
            {"id": "2", "type": "nonsense", "element": VARIANT},
        ],
    }
    assert server.post(bad, s.origin).status_code == 202

    dialogs: list[str] = []

    def dismiss(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", dismiss)
    page.goto(f"{server.url}/sites/{s.site}")
    page.fill("#token", server.token)
    page.click("button[type=submit]")
    expect(page).to_have_url(re.compile(rf"/sites/{s.site}$"))

    base = f"{server.url}/sites/{s.site}"
    element_url = page.locator("td.element a").first.get_attribute("href")
    visits = [
        (base, [ELEMENT, "/x"]),
        (f"{base}?group=variant", [ELEMENT, VARIANT]),
        (f"{base}?group=page", [PAGE]),
        (f"{server.url}{element_url}", [ELEMENT, VARIANT, ACCOUNT, SOURCE.lower(), PAGE]),
        (f"{base}/variants", [ELEMENT, VARIANT]),
        (f"{base}/accounts", [ACCOUNT, ELEMENT]),
        (f"{base}/settings", ["invalid"]),
    ]
    for url, texts in visits:
        page.goto(url)
        page.wait_for_load_state("networkidle")
        expect(page.locator("header.top .site-name")).to_have_text(NAME)
        body = page.locator("main").inner_text()
        for text in texts:
            assert text in body, (url, text)
        assert page.locator("main img, main script:not([src]), main svg[onload]").count() == 0, url
    page.click("summary:has-text('Latest rejected requests')")
    expect(page.locator("details pre").first).to_contain_text(ELEMENT)
    page.goto(f"{base}/accounts?element={quote(ELEMENT)}")
    expect(page.locator("table.accounts")).to_contain_text(ACCOUNT)
    page.goto(f"{base}/elements/{quote(ELEMENT, safe='')}?variant={quote(VARIANT)}")
    expect(page.locator(".stats")).to_be_visible()
    expect(page.locator("select[name=variant] option[selected]")).to_have_text(VARIANT)
    assert dialogs == []
