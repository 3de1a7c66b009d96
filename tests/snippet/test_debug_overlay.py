"""The debug overlay: only with ?ctrlens-debug, from its own file, showing live state."""

from __future__ import annotations


def test_overlay_is_not_loaded_by_default(view, server) -> None:
    scripts: list[str] = []
    view.page.on("request", lambda r: r.resource_type == "script" and scripts.append(r.url))
    page = view.open("dwell.html")
    page.wait_for_timeout(300)
    assert scripts == [server.url + "/ctr.js"]
    assert page.query_selector("#ctrlens-debug") is None


def test_overlay_shows_visible_share_dwell_and_impression(view, collected, server) -> None:
    scripts: list[str] = []
    view.page.on("request", lambda r: r.resource_type == "script" and scripts.append(r.url))
    page = view.open("dwell.html", **{"ctrlens-debug": ""})
    assert scripts == [server.url + "/ctr.js", server.url + "/ctr-debug.js"]
    label = "#ctrlens-debug .ctrlens-debug-label:has-text('box')"

    view.show("#box", 0.4)
    page.wait_for_selector(f"{label}[data-state=idle][data-visible='40']")
    view.show("#box", 0.75)
    page.wait_for_selector(f"{label}[data-state=dwelling][data-visible='75']")
    collected.wait("box")
    page.wait_for_selector(f"{label}[data-state=seen]")
    assert "impression ✓" in page.inner_text(label)
    assert "tracked" in page.inner_text("#ctrlens-debug-panel")
