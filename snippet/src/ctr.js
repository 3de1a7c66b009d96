/* ctrlens snippet: page views with the [data-ctr] elements present in them, viewable impressions
 * and clicks of those elements, and goals reached.
 *
 * The rules it follows are docs/design.md §2; its attributes and commands are in the README
 * ("Tag a page"). This file is written to be read: the build (snippet/build.mjs) makes it small,
 * and tests/snippet/test_build.py holds the result to its size budget. State shared with the
 * debug overlay, and the reason for its shape, is described in snippet/README.md. */
(() => {
  const script = document.currentScript;

  // An empty attribute counts as absent: the collector refuses empty names.
  const attribute = (element, name) => element?.getAttribute(name) || null;

  // Anything but a positive number means "use the default" (docs/design.md §2).
  const positiveNumber = (element, name, fallback) => {
    const value = Number(attribute(element, name));
    return value > 0 ? value : fallback;
  };

  const site = attribute(script, 'data-site');
  const stub = window.ctrlens;
  if (
    !site ||
    stub?.state || // loaded twice
    (script.hasAttribute('data-respect-dnt') &&
      (navigator.doNotTrack == '1' || navigator.globalPrivacyControl))
  ) {
    // Commands from the page still work, and do nothing.
    window.ctrlens ||= () => {};
    return;
  }

  // An empty data-ctr is tracked too: the collector rejects it visibly instead of the snippet
  // hiding a page's mistake.
  const SELECTOR = '[data-ctr]';
  const QUEUE_KEY = 'ctrlens-queue';
  const threshold = positiveNumber(script, 'data-ctr-threshold', 0.5);
  const dwell = positiveNumber(script, 'data-ctr-dwell', 1000);
  const flushInterval = positiveNumber(script, 'data-flush-ms', 5000);
  // data-api may be relative to the page (a first-party proxy); the default sits beside ctr.js.
  const api = new URL(attribute(script, 'data-api') || new URL('/e', script.src), location);

  // The page view's seen elements, by name, not by node: a framework may re-render the same
  // CTA as a new node.
  const seen = new Set();
  // The page view's present elements, by name (at most 200, docs/design.md §2), and those of
  // them not reported yet.
  const present = new Set();
  let unreported = [];
  // The page view itself is not reported yet: every page view is, even one without elements
  // (page-path goals match it on the server).
  let pageviewUnreported;
  // Every tracked node and its state: {onThreshold: its visible share, capped at the viewport,
  // is at the threshold; since: when the current unbroken exposure began, 0 when none}. A Map,
  // not a WeakMap: removed nodes are let go explicitly, and the debug overlay can list them.
  const elements = new Map();

  // The page view: a random id, and the URL and path it began on.
  let pageview;
  let pageviewUrl;
  let pageviewPath;
  let variant =
    attribute(document.documentElement, 'data-ctr-variant') || attribute(script, 'data-ctr-variant');
  let account = attribute(script, 'data-ctr-account');
  let optedOut;
  // Event ids are `${pageview}-${sequence}`: random page view ids make them unique.
  let sequence = 0;
  // Events recorded since the last flush.
  let queue = [];
  // Timers and the retry wait: unset (undefined) counts as none, like 0.
  let dwellTimer;
  let flushTimer;
  let backoff;
  // The store, when localStorage is unavailable: it throws in sandboxed frames and some private
  // modes.
  let memory = [];

  const elementName = (element) => attribute(element, 'data-ctr');

  // Every event of the page view goes out through here.
  const send = (event) => {
    if (optedOut) return;
    queue.push({ id: pageview + '-' + ++sequence, ts: Date.now(), ...event });
    scheduleFlush();
  };

  const record = (element, type, viaClick) => {
    if (type != 'click') {
      // Once seen, a node needs no more geometry until the next page view: the browser's
      // intersection work is most of what tracking costs a scrolling page.
      seen.add(elementName(element));
      unobserve(element);
    }
    send({
      type,
      element: elementName(element),
      // Without data-ctr-kind, the tag decides (docs/design.md §1, "kind").
      kind:
        attribute(element, 'data-ctr-kind') ||
        { A: 'link', BUTTON: 'cta', INPUT: 'cta' }[element.tagName] ||
        'banner',
      variant: attribute(element, 'data-ctr-variant'),
      via_click: viaClick,
    });
  };

  // A goal reached (docs/design.md §2, "Goals"); the server credits the element clicked before it.
  const goal = (name, options) => name && send({ type: 'conversion', goal: name, value: options?.value });

  // Present: in the page's DOM and not display:none, which leaves an element no box at all.
  const notePresent = (element) => {
    const name = elementName(element);
    if (present.has(name) || present.size >= 200 || !element.getClientRects().length) return;
    present.add(name);
    unreported.push(name);
    scheduleFlush();
  };

  // Covered (docs/design.md §2): the middle of its visible part shows another element, neither
  // inside it nor around it (a modal, a banner). So a cover counts once it reaches across that
  // middle, and a sticky header over the top third does not stop the clock. Probed by the dwell
  // clock only (below), never while scrolling.
  const covered = (element) => {
    const box = element.getBoundingClientRect();
    // Clipped to the viewport vertically, the direction pages scroll in; an element on
    // threshold has its horizontal middle on screen unless it is wider than the viewport and
    // scrolled sideways, and then nothing is found there, which stops the clock too.
    const found = document.elementFromPoint(
      box.x + box.width / 2,
      (Math.max(box.y, 0) + Math.min(box.bottom, innerHeight)) / 2
    );
    return !(element.contains(found) || found?.contains(element));
  };

  // One timer drives every dwell clock, and runs only while something dwells. Each tick
  // re-checks rendered state and cover, so style that hides an element mid-dwell restarts its
  // clock and a class change that reveals one starts it, without observing every class change
  // on the page.
  const tick = () => {
    const now = Date.now();
    dwellTimer = 0;
    elements.forEach((state, element) => {
      if (!state.onThreshold || seen.has(elementName(element))) return;
      // Something dwells: the clocks tick on.
      startClocks();
      // Due: the exposure is about to begin (since is 0) or has lasted the dwell. Only then is
      // the element probed for a cover, which keeps hit tests off the ticks in between, where a
      // scrolling page moves through most of its elements.
      const due = now - state.since >= positiveNumber(element, 'data-ctr-dwell', dwell);
      // checkVisibility (2024+) sees display, visibility and opacity of ancestors too; older
      // browsers still get display:none and zero size from the IntersectionObserver.
      if (
        document.hidden ||
        element.checkVisibility?.({ opacityProperty: true, visibilityProperty: true }) === false ||
        (due && covered(element))
      ) {
        state.since = 0;
      } else if (!state.since) {
        // The exposure begins at the first tick that finds it on threshold, rendered and
        // uncovered.
        state.since = now;
      } else if (due) {
        record(element, 'impression');
      }
    });
  };

  const startClocks = () => (dwellTimer ||= setTimeout(tick, 100));

  const restartClocks = () => {
    elements.forEach((state) => (state.since = 0));
    startClocks();
  };

  // Each element is observed at one threshold of its own, the intersection ratio at which its
  // capped share reaches its limit, so the browser calls back only when it crosses that line (and
  // when it enters or leaves the viewport), not on every frame of a scroll. Elements that fit in
  // the viewport all share the observer of the limit itself; each element moves to the observer
  // of its ratio on its first entry, and again whenever an entry shows its ratio has changed.
  const observers = {};

  const unobserve = (element) => {
    for (const ratio in observers) observers[ratio].unobserve(element);
  };

  // Observing anew gives a first entry; without a ratio, from the observer of threshold 0,
  // which then moves the element to its own.
  // In the top-level page the document, as the observers' explicit root, is the same viewport
  // as the implicit root, and costs the browser about half the intersection work on every frame
  // of a scroll (bench/snippet.py). In a frame the implicit root stays: the top-level viewport.
  const observe = (element, ratio) => {
    unobserve(element);
    (observers[ratio] ||= new IntersectionObserver(onIntersections, {
      root: top == window ? document : null,
      threshold: ratio || 0,
    })).observe(element);
  };

  const onIntersections = (entries, observer) => {
    entries.forEach((entry) => {
      const element = entry.target;
      const state = elements.get(element);
      // Some browsers still deliver an entry queued before its node was let go.
      if (!state) return;
      // Every observed node gets a first entry, and a display:none node one more when it is
      // shown (the ResizeObserver below asks again): presence is noted here.
      notePresent(element);
      const box = entry.boundingClientRect;
      // Capped at the viewport (innerWidth: rootBounds is null in a cross-origin frame).
      const cappedArea = Math.min(box.width, innerWidth) * Math.min(box.height, innerHeight);
      // Only nodes found zero-sized are watched for size (and stay watched: they are few). A
      // ResizeObserver on every node costs a scrolling page about a third of the browser's
      // intersection work again (measured with bench/snippet.py).
      if (!cappedArea) resizes.observe(element);
      // At this intersection ratio the capped share reaches the threshold, at most 1: a
      // threshold above 1 asks for the whole element. The browser compares it with the ratio it
      // measures in layout units, so an element placed at exactly 50% is on threshold without
      // the tolerance for rounded rectangles an earlier version needed. NaN for a zero-sized
      // element, which is then never on threshold.
      const limit = positiveNumber(element, 'data-ctr-threshold', threshold);
      const ratio = Math.min(1, (limit * cappedArea) / (box.width * box.height));
      if (observers[ratio] != observer) observe(element, ratio);
      // Off threshold, the clock stops; the next tick on threshold starts it again.
      else if (!(state.onThreshold = entry.intersectionRatio >= ratio)) state.since = 0;
      startClocks();
    });
  };

  // The IntersectionObserver says nothing when a zero-sized element grows (its ratio stays 1),
  // so those are watched for size, and observed anew.
  const resizes = new ResizeObserver((entries) => {
    entries.forEach((entry) => observe(entry.target));
  });

  const track = (element) => {
    if (elements.has(element)) return;
    elements.set(element, {});
    observe(element);
  };

  const scan = (node) => {
    // Text and comment nodes cannot hold tagged elements.
    if (!node.matches) return;
    if (node.matches(SELECTOR)) track(node);
    node.querySelectorAll(SELECTOR).forEach(track);
  };

  const mutations = new MutationObserver((changes) => {
    let sweep = false;
    changes.forEach((change) => {
      if (change.attributeName) scan(change.target);
      else change.addedNodes.forEach(scan);
      if (change.attributeName || change.removedNodes.length) sweep = true;
    });
    // One sweep per batch of removals (or data-ctr changes) is cheaper than walking every
    // removed subtree.
    if (!sweep) return;
    elements.forEach((state, element) => {
      if (element.isConnected && element.matches(SELECTOR)) return;
      unobserve(element);
      resizes.unobserve(element);
      elements.delete(element);
    });
  });

  // Delivery. A flush moves `queue` into the store (localStorage, so it outlives the page) and
  // sends the store. A body leaves the store when the collector answers anything but 408/429/5xx
  // (fetch), or when the browser takes it (sendBeacon, on page hide). Event ids are unique, so a
  // body sent twice (two tabs, an unload mid-request) is counted once.

  // Nothing stored (JSON.parse(undefined) throws) or no localStorage: the memory.
  const storedBodies = () => {
    try {
      return JSON.parse(localStorage[QUEUE_KEY]);
    } catch {
      return memory;
    }
  };

  const store = (bodies) => {
    memory = bodies;
    try {
      localStorage[QUEUE_KEY] = JSON.stringify(bodies);
    } catch {}
  };

  const hold = (body) => {
    const bodies = storedBodies();
    // Bodies of 50 events stay under 60 KB (the collector takes 64 KiB) with any valid event:
    // names of 128 characters at 3 bytes each, URLs of 2,048.
    while (body.events.length) bodies.push({ ...body, events: body.events.splice(0, 50) });
    // Bounded: the oldest events go, and the newest body tells the collector how many.
    for (let count = bodies.flatMap((held) => held.events).length; count > 1000; count--) {
      bodies[0].events.shift();
      if (!bodies[0].events.length) bodies.shift();
      const newest = bodies.at(-1);
      newest.dropped = (newest.dropped || 0) + 1;
    }
    store(bodies);
  };

  const forget = (body) => store(storedBodies().filter((held) => held.events[0].id != body.events[0].id));

  const scheduleFlush = () => (flushTimer ||= setTimeout(flush, backoff || flushInterval));

  // One failure per flush doubles the wait, however many bodies failed.
  const fail = () => {
    if (flushTimer) return;
    backoff = Math.min(backoff * 2 || flushInterval, 300000);
    scheduleFlush();
  };

  // keepalive only when the page goes: its 64 KiB quota would refuse a big periodic flush.
  const post = (body, keepalive) => {
    fetch(api, { method: 'POST', body: JSON.stringify(body), keepalive }).then((response) => {
      if (response.status == 408 || response.status == 429 || response.status >= 500) {
        fail();
      } else {
        backoff = 0;
        forget(body);
      }
    }, fail);
  };

  // On page hide, sendBeacon: it outlives the page and, as text/plain, needs no CORS preflight;
  // when it refuses (its quota is 64 KiB), fetch keepalive. If the collector was failing just
  // now, or we are offline, the events wait for the next page instead.
  const flush = (hiding) => {
    // The page view's report: first the page view itself, then the elements that showed up since.
    if (pageviewUnreported || unreported.length) {
      pageviewUnreported = false;
      send({ type: 'pageview', present: unreported });
      unreported = [];
    }
    // After send(), which schedules a flush: this one is it.
    clearTimeout(flushTimer);
    flushTimer = 0;
    if (queue.length) {
      hold({
        site,
        pageview,
        url: pageviewUrl,
        // Like Plausible, a route change keeps the landing referrer: the visit's source.
        referrer: document.referrer,
        variant,
        account,
        events: queue.splice(0),
      });
    }
    for (const body of storedBodies()) {
      if (!hiding) {
        post(body);
      } else if (!backoff && navigator.onLine) {
        if (navigator.sendBeacon(api, JSON.stringify(body))) forget(body);
        else post(body, true);
      }
    }
  };

  const startPageview = () => {
    pageviewUrl = location.href;
    pageviewPath = location.pathname;
    pageview = crypto.getRandomValues(new Uint32Array(3)).join('');
    seen.clear();
    present.clear();
    unreported = [];
    pageviewUnreported = true;
    // The page view's report, with whatever an earlier page could not deliver.
    scheduleFlush();
    // record() stopped observing seen nodes, and the new page view needs every node's first
    // entry again (for its presence).
    elements.forEach((state, element) => observe(element));
    restartClocks();
  };

  // The page view so far is reported, and the next one begins.
  const nextPageview = () => {
    flush();
    startPageview();
  };

  // A changed query string or hash alone is the same page view (docs/design.md §2).
  const onRouteChange = () => {
    if (location.pathname != pageviewPath) nextPageview();
  };

  // The capture phase sees every click before the page can stop it; the nearest tagged
  // ancestor gets it. Keyboard activation of links and buttons fires `click` too.
  const onClick = (event) => {
    // `click` has button 0; of `auxclick`, only the middle button (1) counts.
    if (event.button > 1) return;
    const element = event.target.closest?.(SELECTOR);
    if (element) {
      // A click proves the element was seen, so CTR stays at most 1.
      if (!seen.has(elementName(element))) record(element, 'impression', true);
      record(element, 'click');
    }
    // After the click, so that the click is the one credited with the goal. A form's goal is
    // reached when it is submitted, not when a field in it is clicked.
    const goalElement = event.target.closest?.('[data-ctr-goal]');
    if (goalElement?.tagName != 'FORM') goal(attribute(goalElement, 'data-ctr-goal'));
  };

  const onSubmit = (event) => goal(attribute(event.target, 'data-ctr-goal'));

  const commands = {
    variant(value) {
      variant = value;
    },
    account(value) {
      account = value;
    },
    pageview: nextPageview,
    flush,
    goal,
    // For a backend that reports the conversion later (docs/design.md §2, "Goals").
    id: () => pageview,
    optout() {
      optedOut = true;
      queue = [];
      store([]);
    },
  };

  const ctrlens = (window.ctrlens = (command, ...args) => commands[command]?.(...args));
  // For the debug overlay (ctr-debug.js) and the browser tests; not an API.
  ctrlens.state = { elements, seen };

  startPageview();
  // Calls the page queued before this file loaded (the usual stub), replayed in order.
  stub?.q?.forEach((args) => ctrlens(...args));
  scan(document.documentElement);
  mutations.observe(document.documentElement, {
    childList: true,
    subtree: true,
    attributeFilter: ['data-ctr'],
  });
  document.addEventListener('click', onClick, true);
  document.addEventListener('auxclick', onClick, true);
  document.addEventListener('submit', onSubmit, true);
  document.addEventListener(
    'visibilitychange',
    () => {
      // Hiding the tab restarts every dwell clock.
      restartClocks();
      if (document.hidden) flush(true);
    }
    // No capture flag: the event is dispatched at the document itself.
  );
  addEventListener('pagehide', () => flush(true));
  // A page restored from the back/forward cache is a new page view (docs/design.md §2).
  addEventListener('pageshow', (event) => event.persisted && nextPageview());
  addEventListener('popstate', onRouteChange);
  // A single-page app's own navigation fires no event: wrap the two calls that make it.
  ['pushState', 'replaceState'].forEach((method) => {
    const original = history[method];
    history[method] = function () {
      original.apply(this, arguments);
      onRouteChange();
    };
  });
  // The debug overlay lives in its own file, beside this one, loaded only when asked for.
  if (/ctrlens-debug/.test(location.search)) {
    const overlay = document.createElement('script');
    overlay.src = new URL('ctr-debug.js', script.src);
    document.head.append(overlay);
  }
  // The live overlay likewise, when the dashboard's "Open on page" put a token in the fragment
  // (docs/design.md §4). That page view is the overlay's, not a visitor's: nothing is sent, and
  // so the token never reaches the collector inside a page URL.
  if (/ctrlens-overlay=/.test(location.hash)) {
    optedOut = true;
    queue = [];
    const overlay = document.createElement('script');
    overlay.src = new URL('ctr-overlay.js', script.src);
    document.head.append(overlay);
  }
})();
