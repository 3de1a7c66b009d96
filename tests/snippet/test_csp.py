"""Behaviour 11: a page whose Content-Security-Policy allows the collector's origin, and
nothing inline or eval, works (the debug overlay too)."""

from __future__ import annotations

POLICY = "default-src 'none'; script-src COLLECTOR; connect-src COLLECTOR; style-src 'none'"
WATCH = """window.violations = [];
document.addEventListener('securitypolicyviolation',
    e => violations.push(`${e.violatedDirective} ${e.blockedURI}`));"""


def test_snippet_works_under_a_strict_policy(view, collected) -> None:
    view.page.add_init_script(WATCH)
    page = view.open("csp.html", csp=POLICY)
    collected.wait("hero")
    page.click("#marker")
    collected.wait("marker", "click")
    assert page.evaluate("violations") == []


def test_debug_overlay_works_under_a_strict_policy(view, collected, server) -> None:
    view.page.add_init_script(WATCH)
    page = view.open("csp.html", csp=POLICY, **{"ctrlens-debug": ""})
    page.wait_for_selector("#ctrlens-debug-panel")
    collected.wait("hero")
    page.wait_for_selector(".ctrlens-debug-label[data-state=seen]")
    assert page.evaluate("violations") == []
