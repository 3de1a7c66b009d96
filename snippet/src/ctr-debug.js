/* ctrlens debug overlay, loaded by ctr.js when the page URL has `?ctrlens-debug`.
 * Outlines every tracked element and labels it with the snippet's own live state: the
 * viewport-capped visible share, the dwell clock against its target, and whether the page
 * view's impression was recorded. Reads ctrlens._ (the core's state); changes nothing in it.
 * Styles are set through the CSSOM, which a Content-Security-Policy without 'unsafe-inline'
 * still allows. */
(() => {
  const core = window.ctrlens && window.ctrlens._;
  if (!core || window.ctrlensDebug) return;
  const [states, seen] = core;
  const script = document.querySelector('script[data-site]');
  const setting = (el, name, dflt) => {
    const v = +(el.getAttribute(name) || (script && script.getAttribute(name)));
    return v > 0 ? v : dflt;
  };
  const style = (el, props) => Object.assign(el.style, props);

  const layer = document.createElement('div');
  style(layer, { position: 'absolute', left: '0', top: '0', zIndex: '2147483647', pointerEvents: 'none' });
  layer.id = 'ctrlens-debug';
  document.body.append(layer);

  const panel = document.createElement('div');
  style(panel, {
    position: 'fixed',
    left: '8px',
    bottom: '8px',
    padding: '4px 8px',
    font: '12px/1.4 ui-monospace, monospace',
    background: 'rgba(20, 20, 20, 0.85)',
    color: '#fff',
    borderRadius: '4px',
    zIndex: '2147483647',
    pointerEvents: 'none',
  });
  panel.id = 'ctrlens-debug-panel';
  document.body.append(panel);

  const labels = new Map(); // element -> its label
  const colors = { seen: '#1a7f37', dwelling: '#d97706', idle: '#6b7280' };

  const draw = () => {
    const now = Date.now();
    let count = 0;
    states.forEach((s, el) => {
      count++;
      let label = labels.get(el);
      if (!label) {
        label = document.createElement('div');
        label.className = 'ctrlens-debug-label';
        style(label, {
          position: 'absolute',
          padding: '1px 4px',
          font: '11px/1.3 ui-monospace, monospace',
          color: '#fff',
          whiteSpace: 'nowrap',
          borderRadius: '3px',
        });
        layer.append(label);
        labels.set(el, label);
      }
      const id = el.getAttribute('data-ctr');
      const done = seen.has(id);
      const threshold = setting(el, 'data-ctr-threshold', 0.5);
      const dwell = setting(el, 'data-ctr-dwell', 1000);
      const share = s.p > 0 ? Math.round(s.p * 100) : 0;
      const clock = s.on && !done && s.t ? Math.min(now - s.t, dwell) : 0;
      const state = done ? 'seen' : s.on ? 'dwelling' : 'idle';
      label.dataset.state = state;
      label.dataset.visible = share;
      label.textContent =
        `${id} · ${share}% of ${Math.round(threshold * 100)}% · ` +
        (done ? 'impression ✓' : `${(clock / 1000).toFixed(1)}/${(dwell / 1000).toFixed(1)}s`);
      const r = el.getBoundingClientRect();
      style(label, {
        left: `${r.left + scrollX}px`,
        top: `${Math.max(0, r.top + scrollY - 18)}px`,
        background: colors[state],
        display: r.width || r.height ? 'block' : 'none',
      });
      style(el, { outline: `2px dashed ${colors[state]}`, outlineOffset: '-2px' });
    });
    // Labels of elements the core let go of.
    labels.forEach((label, el) => states.has(el) || (label.remove(), labels.delete(el)));
    panel.textContent = `ctrlens debug · ${count} tracked · ${seen.size} seen in this page view`;
  };

  // A few times a second is enough for a person to read, and costs the page little.
  window.ctrlensDebug = setInterval(draw, 250);
  draw();
})();
