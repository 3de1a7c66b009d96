/* ctrlens live overlay (docs/design.md §4, "Live overlay"), loaded by ctr.js when the page's URL
 * fragment holds `ctrlens-overlay=TOKEN`, as the dashboard's "Open on page" links do.
 *
 * Labels every tagged element on the page with its numbers for a period, variant and goal: CTR
 * and rating, viewability, clicks and impressions, conversions and the diagnosis. The numbers come
 * from the collector's read-only GET /overlay/{site}, unlocked by the short-lived token, which
 * leaves the address bar at once and is kept in this closure only. The overlay sends no events and
 * no cookie. Its DOM lives in a shadow root (page styles cannot reach it, and the core's click
 * listener sees only its untagged host), styled through the CSSOM, which a Content-Security-Policy
 * without 'unsafe-inline' still allows. Alt+Shift+O hides and shows the labels. */
(() => {
  const fragment = new URLSearchParams(location.hash.slice(1));
  const token = fragment.get('ctrlens-overlay');
  if (!token || window.ctrlensOverlay) return;
  // Out of the address bar, the history entry and any URL copied from here, before anything else.
  history.replaceState(history.state, '', location.pathname + location.search);

  const own = document.currentScript;
  // ctr.js sits beside this file; its tag names the site.
  const core =
    [...document.querySelectorAll('script[data-site]')].find((s) => s.src == new URL('ctr.js', own.src)) ||
    document.querySelector('script[data-site]');
  const site = core?.getAttribute('data-site');
  if (!site) return;
  const collector = new URL('.', own.src);

  const PERIODS = { today: 'Today', '7d': '7 days', '30d': '30 days', '90d': '90 days' };
  const NO_VARIANT = '(none)';
  const COLORS = { good: '#0a7d3e', average: '#a15c00', poor: '#b42318', insufficient: '#5f6b7a' };
  // What is being looked at; the fragment may name a start (the dashboard's own choices).
  const choice = {
    period: fragment.get('period') || (fragment.get('from') ? '' : '30d'),
    from: fragment.get('from') || '',
    to: fragment.get('to') || '',
    variant: fragment.get('variant') || '',
    goal: fragment.get('goal') || '',
  };
  const focus = fragment.get('element');
  let report = null; // the last answer of /overlay/{site}, or null: no numbers to show
  let labelsShown = true;

  const style = (element, properties) => Object.assign(element.style, properties);
  const make = (tag, properties, parent, text) => {
    const element = document.createElement(tag);
    style(element, properties || {});
    if (text != null) element.textContent = text;
    parent?.append(element);
    return element;
  };
  // As on the dashboard: two decimals below 10%, one above.
  const rate = (value) =>
    value == null ? '–' : (value * 100).toFixed(Math.abs(value) < 0.1 ? 2 : 1) + '%';
  const count = (value) => (value == null ? '–' : value.toLocaleString('en-US'));
  // The choices as a query string, for the numbers and for the links back to the dashboard.
  const query = () => {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(choice)) if (value) params.set(key, value);
    return params;
  };
  const dashboard = (element) => {
    const path = element == null ? '' : '/elements/' + encodeURIComponent(element);
    return new URL(`sites/${encodeURIComponent(site)}${path}?${query()}`, collector).href;
  };
  const link = (parent, text, element) => {
    const anchor = make('a', { color: 'inherit' }, parent, text);
    anchor.href = dashboard(element);
    anchor.target = '_blank';
    anchor.rel = 'noopener noreferrer';
    return anchor;
  };

  // The host is untagged and outside every tagged element, so nothing in it is ever counted.
  const host = make('div', {
    position: 'absolute',
    left: '0',
    top: '0',
    width: '0',
    height: '0',
    zIndex: '2147483647',
  });
  host.id = 'ctrlens-overlay';
  const root = host.attachShadow({ mode: 'open' });
  const font = '12px/1.35 system-ui, -apple-system, "Segoe UI", sans-serif';
  const layer = make('div', { position: 'absolute', left: '0', top: '0', font }, root);
  layer.className = 'labels';
  const panel = make(
    'section',
    {
      position: 'fixed',
      right: '12px',
      bottom: '12px',
      width: '270px',
      maxHeight: '60vh',
      overflow: 'auto',
      padding: '10px 12px',
      font,
      color: '#111827',
      background: '#fff',
      border: '1px solid #d0d5dd',
      borderRadius: '8px',
      boxShadow: '0 6px 24px rgba(0, 0, 0, 0.18)',
    },
    root
  );
  panel.className = 'panel';
  panel.setAttribute('aria-label', 'ctrlens overlay');

  // -- the panel ---------------------------------------------------------------------------

  const heading = make('div', { display: 'flex', justifyContent: 'space-between', fontWeight: '600' }, panel);
  make('span', {}, heading, `ctrlens · ${site}`);
  const close = make('button', { border: '0', background: 'none', cursor: 'pointer', font }, heading, '×');
  close.title = 'Close the overlay';
  close.setAttribute('aria-label', 'Close the overlay');

  const select = (name, label, onChange) => {
    const row = make(
      'label',
      { display: 'flex', justifyContent: 'space-between', margin: '6px 0 0' },
      panel,
      label
    );
    const control = make('select', { font, maxWidth: '150px' }, row);
    control.name = name;
    control.addEventListener('change', () => onChange(control.value));
    return control;
  };
  const options = (control, pairs, value) => {
    control.replaceChildren(
      ...pairs.map(([key, text]) => {
        const option = make('option', {}, null, text);
        option.value = key;
        option.selected = key == value;
        return option;
      })
    );
  };
  const periodSelect = select('period', 'Period', (value) => {
    Object.assign(choice, { period: value, from: '', to: '' });
    load();
  });
  const variantSelect = select('variant', 'Variant', (value) => {
    choice.variant = value;
    load();
  });
  const goalSelect = select('goal', 'Goal', (value) => {
    choice.goal = value;
    load();
  });
  const toggle = make(
    'button',
    { margin: '8px 0 0', font, cursor: 'pointer' },
    panel,
    'Hide labels (Alt+Shift+O)'
  );
  toggle.className = 'toggle';
  const status = make('p', { margin: '8px 0 0', color: '#475467' }, panel);
  status.className = 'status';
  status.setAttribute('role', 'status');
  const back = make('p', { margin: '6px 0 0' }, panel);
  const missing = make('div', { margin: '6px 0 0' }, panel);
  missing.className = 'missing';

  const drawPanel = () => {
    const periods = Object.entries(PERIODS);
    if (!choice.period) periods.unshift(['', `${choice.from} – ${choice.to}`]);
    options(periodSelect, periods, choice.period);
    const variants = (report?.variants || []).map((v) => (v ? v : NO_VARIANT));
    if (choice.variant && !variants.includes(choice.variant)) variants.push(choice.variant);
    options(variantSelect, [['', 'all variants'], ...variants.map((v) => [v, v])], choice.variant);
    const goals = report?.goals || [];
    goalSelect.parentElement.style.display = goals.length ? 'flex' : 'none';
    options(goalSelect, goals.map((g) => [g, g]), report?.goal || '');
    back.replaceChildren();
    link(back, focus ? `Open ${focus} in the dashboard` : 'Open the dashboard', focus);
    missing.replaceChildren();
    if (!report) return;
    const onPage = pageNames();
    const absent = report.elements.filter((row) => !onPage.has(row.element));
    if (!absent.length) return;
    make('p', { margin: '0', fontWeight: '600' }, missing, 'Not on this page');
    const list = make('ul', { margin: '2px 0 0', padding: '0 0 0 16px' }, missing);
    for (const row of absent) {
      const item = make('li', {}, list);
      item.dataset.element = row.element;
      link(item, row.element, row.element);
      item.append(` · CTR ${rate(row.ctr)} · ${report.rating_labels[row.rating]}`);
    }
  };

  // -- the labels --------------------------------------------------------------------------

  const labels = new Map(); // element name -> its label

  const pageNames = () => {
    const names = new Set();
    document.querySelectorAll('[data-ctr]').forEach((node) => {
      const name = node.getAttribute('data-ctr');
      if (name) names.add(name);
    });
    return names;
  };

  const badge = (parent, row) => {
    const tentative = !row.rating_firm && row.rating != 'insufficient';
    const text = report.rating_labels[row.rating] + (tentative ? '?' : '');
    const mark = make(
      'span',
      {
        padding: '0 5px',
        borderRadius: '9px',
        border: `1px ${tentative ? 'dashed' : 'solid'} #fff`,
        background: tentative ? 'transparent' : COLORS[row.rating],
        fontWeight: '600',
      },
      parent,
      text
    );
    mark.className = `rating rating-${row.rating}${tentative ? ' tentative' : ''}`;
    mark.title = tentative ? 'Tentative: the 95% interval reaches into another band' : '';
  };

  const fill = (label, name, row) => {
    label.replaceChildren();
    label.dataset.element = name;
    const title = make('div', { fontWeight: '600', overflow: 'hidden', textOverflow: 'ellipsis' }, label);
    link(title, name, name);
    style(label, { borderLeftColor: row ? COLORS[row.rating] : '#98a2b3' });
    if (!row) {
      make('div', {}, label, 'No data in this period').className = 'no-data';
      return;
    }
    // Four short lines: the name, the CTR and its rating, seen and counts, conversions and diagnosis.
    const part = (parent, className, text) => {
      const span = make('span', {}, parent, text);
      span.className = className;
      return span;
    };
    const ctr = part(make('div', {}, label), 'ctr', `CTR ${rate(row.ctr)} `);
    badge(ctr, row);
    const seen = make('div', {}, label);
    part(seen, 'viewability', `Seen ${rate(row.viewability_rate)}`).title =
      'Share of the page views that had the element in which it was seen';
    seen.append(' · ');
    part(seen, 'counts', `${count(row.clicks)} clicks / ${count(row.impressions)} impressions`);
    const outcome = make('div', {}, label);
    if (report.goal) {
      part(outcome, 'conversions', `${count(row.conversions)} conversions (${report.goal})`);
      outcome.append(' · ');
    }
    part(outcome, 'diagnosis', report.diagnosis_labels[row.diagnosis] || row.diagnosis).title =
      row.diagnosis_text || '';
  };

  // Each name's first rendered node: several nodes may share a name, and count as one element.
  const anchors = () => {
    const found = new Map();
    document.querySelectorAll('[data-ctr]').forEach((node) => {
      const name = node.getAttribute('data-ctr');
      if (name && !found.has(name) && node.getClientRects().length) found.set(name, node);
    });
    return found;
  };

  const layout = () => {
    frame = 0;
    if (!report) {
      labels.forEach((label) => label.remove());
      labels.clear();
      return;
    }
    const rows = new Map(report.elements.map((row) => [row.element, row]));
    const nodes = anchors();
    labels.forEach((label, name) => {
      if (nodes.has(name)) return;
      label.remove();
      labels.delete(name);
    });
    const placed = [];
    const spots = [];
    nodes.forEach((node, name) => {
      let label = labels.get(name);
      if (!label) {
        label = make(
          'div',
          {
            position: 'absolute',
            padding: '4px 7px',
            color: '#fff',
            background: 'rgba(17, 24, 39, 0.92)',
            borderLeft: '4px solid',
            borderRadius: '4px',
            boxShadow: '0 2px 8px rgba(0, 0, 0, 0.3)',
            whiteSpace: 'nowrap',
          },
          layer
        );
        label.className = 'label';
        // The element "Open on page" was clicked for stands out.
        if (name == focus) style(label, { outline: '2px solid #facc15' });
        labels.set(name, label);
      }
      if (label.dataset.drawn != report.drawn) {
        fill(label, name, rows.get(name));
        label.dataset.drawn = report.drawn;
      }
      // A node resized without the page resizing moves the labels below it.
      resizes.observe(node);
      const box = node.getBoundingClientRect();
      spots.push({ label, left: box.left + scrollX, top: box.top + scrollY, bottom: box.bottom + scrollY });
    });
    // Just above the element's top-left corner, so the element itself stays in sight; below it
    // when the viewport has no room above (a sticky header's links). A label that would cover
    // one placed before moves down.
    spots.sort((a, b) => a.top - b.top || a.left - b.left);
    const right = document.documentElement.clientWidth + scrollX;
    for (const spot of spots) {
      const width = spot.label.offsetWidth;
      const height = spot.label.offsetHeight;
      // Inside the page's width: a label must not widen the page it describes.
      spot.left = Math.max(scrollX, Math.min(spot.left, right - width));
      let top = spot.top - height - 2;
      if (top < scrollY) top = spot.bottom + 2;
      for (let moved = true, tries = 0; moved && tries < 50; tries++) {
        moved = false;
        for (const other of placed) {
          const across = spot.left < other.right && other.left < spot.left + width;
          if (across && top < other.bottom && other.top < top + height) {
            top = other.bottom + 2;
            moved = true;
          }
        }
      }
      placed.push({ left: spot.left, right: spot.left + width, top, bottom: top + height });
      style(spot.label, { left: `${spot.left}px`, top: `${top}px` });
    }
  };

  // One layout per frame, whatever asked for it: scrolling (inner scrollers and fixed elements
  // move without the page moving), resizing, or the page changing its DOM.
  let frame = 0;
  const schedule = () => (frame ||= requestAnimationFrame(layout));
  const resizes = new ResizeObserver(schedule);
  const mutations = new MutationObserver(schedule);

  // -- the numbers -------------------------------------------------------------------------

  let loading = 0;
  const load = async () => {
    const ticket = ++loading;
    status.textContent = 'Loading…';
    let answer;
    let body;
    try {
      // No cookie (credentials: 'omit'): the token alone says who may read, and only this page's
      // origin may read the answer (CORS).
      answer = await fetch(new URL(`overlay/${encodeURIComponent(site)}?${query()}`, collector), {
        headers: { Authorization: `Bearer ${token}` },
        credentials: 'omit',
        cache: 'no-store',
        referrerPolicy: 'no-referrer',
      });
      body = await answer.json();
    } catch {
      body = { error: 'the collector could not be reached' };
    }
    if (ticket != loading) return; // a newer choice was made meanwhile
    if (answer?.ok) {
      report = { ...body, drawn: ticket };
      const onPage = pageNames();
      const shown = report.elements.filter((row) => onPage.has(row.element)).length;
      status.textContent = `${body.from} – ${body.to}: ${shown} of ${onPage.size} elements here have data`;
    } else {
      // No valid token, no numbers: whatever was drawn goes.
      report = null;
      status.textContent = `No numbers: ${body.error || answer.status}`;
    }
    status.dataset.state = answer?.ok ? 'ok' : String(answer?.status || 'offline');
    drawPanel();
    layout();
    // The element "Open on page" was clicked for is brought into view, if it is not already.
    const target = report && focus && ticket == 1 && anchors().get(focus);
    const box = target?.getBoundingClientRect();
    if (box && (box.top < 0 || box.bottom > innerHeight)) target.scrollIntoView({ block: 'center' });
  };

  const showLabels = (shown) => {
    labelsShown = shown;
    layer.style.display = shown ? 'block' : 'none';
    toggle.textContent = `${shown ? 'Hide' : 'Show'} labels (Alt+Shift+O)`;
  };
  const onKey = (event) => {
    if (event.altKey && event.shiftKey && event.code == 'KeyO') {
      event.preventDefault();
      showLabels(!labelsShown);
    }
  };
  toggle.addEventListener('click', () => showLabels(!labelsShown));
  close.addEventListener('click', () => {
    host.remove();
    resizes.disconnect();
    mutations.disconnect();
    removeEventListener('scroll', schedule, true);
    removeEventListener('resize', schedule);
    removeEventListener('keydown', onKey, true);
    window.ctrlensOverlay = null;
  });

  document.documentElement.append(host);
  addEventListener('scroll', schedule, { capture: true, passive: true });
  addEventListener('resize', schedule);
  addEventListener('keydown', onKey, true);
  resizes.observe(document.documentElement);
  // Shadow-tree changes (the labels themselves) are not seen here: drawing cannot loop.
  mutations.observe(document.body || document.documentElement, {
    childList: true,
    subtree: true,
    attributes: true,
  });
  // For the browser tests; not an API.
  window.ctrlensOverlay = { reload: load, labels: () => labels.size };
  drawPanel();
  load();
})();
