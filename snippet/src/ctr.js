/* ctrlens: viewable impressions and clicks of [data-ctr] elements.
 * The rules are DESIGN.md §2, the attributes and commands snippet/README.md; comments say why.
 * Every byte counts (2,000 gzipped, tests/snippet/test_build.py): build with `python build.py`. */
((w, d, nav, loc) => {
  const me = d.currentScript;
  // Empty attributes count as absent: the collector refuses empty names.
  const attr = (el, name) => el?.getAttribute(name) || null;
  // A positive number from an attribute, or the default.
  const num = (el, name, dflt, v = +attr(el, name)) => (v > 0 ? v : dflt);
  // localStorage throws in sandboxed frames and some private modes: then we live without it.
  const ls = (k, v) => {
    try {
      return v == null ? localStorage[k] : (localStorage[k] = v);
    } catch (e) {}
  };
  const KEY = 'ctrlens-queue';
  const site = attr(me, 'data-site');
  const stub = w.ctrlens;
  if (
    !site ||
    stub?._ || // loaded twice
    (me.hasAttribute('data-respect-dnt') && (nav.doNotTrack == 1 || nav.globalPrivacyControl))
  )
    return void (w.ctrlens ||= () => {});

  // An empty data-ctr is tracked too: the collector rejects it visibly instead of the snippet
  // hiding a page's mistake.
  const SEL = '[data-ctr]';
  const threshold = num(me, 'data-ctr-threshold', 0.5);
  const dwell = num(me, 'data-ctr-dwell', 1000);
  const every = num(me, 'data-flush-ms', 5000);
  // data-api may be relative to the page (a first-party proxy); the default sits beside ctr.js.
  const api = new URL(attr(me, 'data-api') || new URL('/e', me.src), loc);

  // The page view: a random id, the URL it began on, and the element ids it has seen (once
  // per id, not per node: a framework may re-render the same CTA as a new node).
  let pv, url, path, off, ticker;
  let seq = 0; // event ids are `${pv}-${seq}`: random page view ids make them unique
  let variant = attr(d.documentElement, 'data-ctr-variant') || attr(me, 'data-ctr-variant');
  let account = attr(me, 'data-ctr-account');
  let queue = [];
  const seen = new Set();
  // Per tagged node: {p: viewport-capped visible fraction, on: at threshold, t: when the
  // current continuous exposure began}. A Map, not a WeakMap: removed nodes are let go
  // explicitly and the debug overlay can list them.
  const states = new Map();

  const id = (el) => attr(el, 'data-ctr');
  const record = (el, type, via) => {
    // Once seen, a node needs no more geometry until the next page view: the browser's
    // intersection work is most of what tracking costs a scrolling page.
    type == 'click' || (seen.add(id(el)), io.unobserve(el));
    off ||
      (queue.push({
        id: pv + '-' + ++seq,
        type,
        element: id(el),
        kind: attr(el, 'data-ctr-kind') || ({ A: 'link', BUTTON: 'cta', INPUT: 'cta' }[el.tagName] || 'banner'),
        ts: Date.now(),
        variant: attr(el, 'data-ctr-variant'),
        via_click: via,
      }),
      later());
  };

  // One timer for every dwell clock, running only while something dwells. Each tick re-checks
  // rendered state, so style that hides an element mid-dwell restarts its clock and a class
  // change that reveals one starts it, without observing every class change on the page.
  // checkVisibility (2024+) sees display, visibility and opacity of ancestors too; older
  // browsers still get display:none and zero size from the IntersectionObserver.
  const tick = (t = Date.now(), more) => {
    states.forEach(
      (s, el) =>
        s.on &&
        !seen.has(id(el)) &&
        ((more = 1),
        d.hidden || el.checkVisibility?.({ opacityProperty: 1, visibilityProperty: 1 }) === false
          ? (s.t = 0)
          : s.t // the exposure's start: the first tick that saw it on threshold and rendered
          ? t - s.t < num(el, 'data-ctr-dwell', dwell) || record(el, 'impression')
          : (s.t = t))
    );
    ticker = 0;
    more && kick();
  };
  const kick = () => (ticker ||= setTimeout(tick, 100));
  const restart = () => (states.forEach((s) => (s.t = 0)), kick());

  // Thresholds every 0.25%: 50%, or any custom threshold in whole percent, is crossed exactly,
  // and an element 4 viewports tall still reaches half the viewport to within 1%.
  const T = [];
  for (let i = 0; i <= 400; ) T.push(i++ / 400);
  // The IntersectionObserver says nothing when a zero-sized element grows (its ratio stays 1),
  // so those are watched for size, and asked about again.
  const ro = new ResizeObserver((entries) => entries.forEach((e) => (io.unobserve(e.target), io.observe(e.target))));
  const io = new IntersectionObserver(
    (entries) =>
      entries.forEach((e) => {
        const s = states.get(e.target);
        const b = e.boundingClientRect;
        const r = e.intersectionRect;
        // Capped at the viewport (innerWidth: rootBounds is null in a cross-origin frame).
        const cap = Math.min(b.width, innerWidth) * Math.min(b.height, innerHeight);
        if (s) {
          ro[cap ? 'unobserve' : 'observe'](e.target);
          // A zero-sized element gives NaN, which is never on.
          s.p = (r.width * r.height) / cap;
          // 0.001: an element placed at exactly 50% may measure 49.99% after sub-pixel layout.
          // Off threshold, the clock stops; the next tick starts it again.
          (s.on = s.p + 0.001 >= num(e.target, 'data-ctr-threshold', threshold)) || (s.t = 0);
          kick();
        }
      }),
    { threshold: T }
  );

  const track = (el) => states.has(el) || (states.set(el, {}), io.observe(el));
  const scan = (n) => n.matches && (n.matches(SEL) && track(n), n.querySelectorAll(SEL).forEach(track));
  const mo = new MutationObserver((records) => {
    let sweep;
    records.forEach(
      (r) => (r.attributeName ? scan(r.target) : r.addedNodes.forEach(scan), (sweep = sweep || r.removedNodes[0] || r.attributeName))
    );
    // One sweep per batch of removals (or data-ctr changes) is cheaper than walking every
    // removed subtree.
    sweep && states.forEach((s, el) => (el.isConnected && el.matches(SEL)) || (io.unobserve(el), ro.unobserve(el), states.delete(el)));
  });

  // Delivery. A flush moves `queue` into the store (localStorage, so it outlives the page) and
  // sends the store. A body leaves the store when the collector answers anything but 429/5xx
  // (fetch), or when the browser takes it (sendBeacon, on page hide). Event ids are unique,
  // so a body sent twice (two tabs, an unload mid-request) is counted once.
  let timer, backoff = 0;
  let memory = []; // the store, when localStorage is unavailable
  const stored = () => JSON.parse(ls(KEY) || 0) || memory;
  const save = (all) => ls(KEY, JSON.stringify((memory = all)));
  const hold = (b, all = stored()) => {
    // Bodies of 50 events stay under 60 KB (the collector takes 64 KiB) with any valid event:
    // names of 128 characters at 3 bytes each, URLs of 2,048.
    for (let i = 0; i < b.events.length; ) all.push({ ...b, events: b.events.slice(i, (i += 50)) });
    // Bounded: the oldest events go, and the newest body tells the collector how many.
    for (let n = all.flatMap((x) => x.events).length; n-- > 1000; all.at(-1).dropped = -~all.at(-1).dropped)
      all[0].events.shift(), all[0].events[0] || all.shift();
    save(all);
  };
  const forget = (b) => save(stored().filter((x) => x.events[0].id != b.events[0].id));
  const later = () => (timer ||= setTimeout(flush, backoff || every));
  // One failure per flush doubles the wait, however many bodies failed.
  const fail = () => timer || ((backoff = Math.min(backoff * 2 || every, 3e5)), later());
  // keepalive only when the page goes: its 64 KiB quota would refuse a big periodic flush.
  const post = (b, keepalive) =>
    fetch(api, { method: 'POST', body: JSON.stringify(b), keepalive }).then(
      (r) => (/^(429|5)/.test(r.status) ? fail() : forget(b, (backoff = 0))),
      fail
    );
  // On page hide (`hiding`), sendBeacon: it outlives the page and, as text/plain, needs no
  // CORS preflight; when it refuses (its quota is 64 KiB), fetch keepalive. If the collector
  // was failing just now, or we are offline, the events wait for the next page instead.
  const flush = (hiding) => {
    timer = clearTimeout(timer);
    queue[0] &&
      hold({
        site,
        pageview: pv,
        url,
        // Like Plausible, a route change keeps the landing referrer: the visit's source.
        referrer: d.referrer,
        variant,
        account,
        events: queue.splice(0),
      });
    stored().forEach((b) =>
      hiding ? backoff || !nav.onLine || (nav.sendBeacon(api, JSON.stringify(b)) ? forget(b) : post(b, 1)) : post(b)
    );
  };

  const start = () => {
    url = loc.href;
    path = loc.pathname;
    pv = crypto.getRandomValues(new Uint32Array(3)).join('');
    seen.clear();
    states.forEach((s, el) => io.observe(el));
    restart();
  };
  const route = () => loc.pathname == path || (flush(), start());

  // Clicks: capture phase sees every click before the page can stop it, and the nearest
  // tagged ancestor gets it. Keyboard activation of links and buttons fires `click` too.
  const click = (e, el = e.target.closest?.(SEL)) => {
    // auxclick: only the middle button (1); `click` has button 0.
    if (el && e.button < 2) {
      seen.has(id(el)) || record(el, 'impression', true);
      record(el, 'click');
    }
  };

  const commands = {
    variant: (v) => (variant = v),
    account: (v) => (account = v),
    pageview: () => (flush(), start()),
    flush,
    optout: () => ((off = 1), (queue = []), save([])),
  };
  const ctrlens = (w.ctrlens = (c, ...a) => commands[c]?.(...a));
  ctrlens._ = [states, seen]; // for the debug overlay; not an API

  start();
  stub?.q?.forEach((a) => ctrlens(...a));
  scan(d.documentElement);
  mo.observe(d.documentElement, { childList: true, subtree: true, attributeFilter: ['data-ctr'] });
  const on = (t, type, f) => t.addEventListener(type, f, true);
  on(d, 'click', click);
  on(d, 'auxclick', click);
  on(d, 'visibilitychange', () => (restart(), d.hidden && flush(1)));
  on(w, 'pagehide', flush);
  on(w, 'popstate', route);
  ['pushState', 'replaceState'].forEach((k) => {
    const f = history[k];
    history[k] = function () {
      f.apply(this, arguments);
      route();
    };
  });
  stored()[0] && later();
  // The debug overlay lives in its own file, beside this one, loaded only when asked for.
  if (/ctrlens-debug/.test(loc.search)) {
    const s = d.createElement('script');
    s.src = new URL('ctr-debug.js', me.src);
    d.head.append(s);
  }
})(window, document, navigator, location);
