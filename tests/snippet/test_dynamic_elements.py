"""Behaviour 5: elements that appear, get tagged or go away later need no API call, and
nothing leaks on a page that adds and removes thousands of them."""

from __future__ import annotations

import time


def test_inserted_and_later_tagged_elements_are_tracked(view, collected) -> None:
    view.open("dynamic.html")
    view.page.evaluate(
        """() => {
            const el = document.createElement('div');
            el.className = 'slot';
            el.dataset.ctr = 'inserted';
            document.querySelector('#slots').append(el);
            document.querySelector('#plain').setAttribute('data-ctr', 'tagged-later');
        }"""
    )
    collected.wait("inserted")
    collected.wait("tagged-later")
    time.sleep(0.3)
    assert len(collected.of("inserted")) == 1 and len(collected.of("tagged-later")) == 1


def test_removed_or_untagged_elements_stop_counting(view, collected) -> None:
    view.open("dynamic.html")
    view.page.evaluate(
        """() => {
            const el = document.createElement('div');
            el.className = 'slot';
            el.dataset.ctr = 'removed';
            document.querySelector('#slots').append(el);
            document.querySelector('#plain').setAttribute('data-ctr', 'untagged');
        }"""
    )
    time.sleep(0.5)
    view.page.evaluate(
        """() => {
            document.querySelector('[data-ctr=removed]').remove();
            document.querySelector('#plain').removeAttribute('data-ctr');
        }"""
    )
    time.sleep(1.2)
    view.mark()
    assert collected.of("removed") == [] and collected.of("untagged") == []
    assert view.page.evaluate("ctrlens.state.elements.size") == 1  # the marker alone


def live_probes(page) -> int:
    """LeakProbe instances still on the heap after a full garbage collection."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("HeapProfiler.enable")
    cdp.send("HeapProfiler.collectGarbage")
    proto = cdp.send("Runtime.evaluate", {"expression": "LeakProbe.prototype"})["result"]["objectId"]
    found = cdp.send("Runtime.queryObjects", {"prototypeObjectId": proto})["objects"]["objectId"]
    length = cdp.send(
        "Runtime.callFunctionOn",
        {
            "objectId": found,
            "functionDeclaration": "function () { return this.length; }",
            "returnByValue": True,
        },
    )
    return length["result"]["value"]


def test_adding_and_removing_ten_thousand_elements_leaks_nothing(view) -> None:
    page = view.open("dynamic.html")
    for round in range(10):
        # 1,000 tagged elements appear (in the viewport, so the observer reports them) ...
        page.evaluate(
            """round => {
                const box = document.querySelector('#churn');
                for (let i = 0; i < 1000; i++) {
                    const el = document.createElement('leak-probe');
                    el.dataset.ctr = `churn-${round}-${i}`;
                    box.append(el);
                }
            }""",
            round,
        )
        page.wait_for_function("ctrlens.state.elements.size >= 1000")
        # ... and go again.
        page.evaluate("document.querySelector('#churn').replaceChildren()")
        page.wait_for_function("ctrlens.state.elements.size <= 1")
    assert page.evaluate("ctrlens.state.elements.size") == 1  # the marker
    page.wait_for_timeout(300)  # let the observers deliver their last records
    assert live_probes(page) == 0
