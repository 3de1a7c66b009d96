/* ctrlens debug overlay, loaded by ctr.js when the page URL has `?ctrlens-debug`.
 * Outlines every tracked element and labels it with its viewport-capped visible share (measured
 * here: the core learns it only when an element crosses its threshold) and the snippet's own
 * live state: on threshold or not, the dwell clock against its target, and whether the page
 * view's impression was recorded. Reads ctrlens.state, the core's named state (described in
 * snippet/README.md), and changes nothing in it.
 * Styles are set through the CSSOM, which a Content-Security-Policy without 'unsafe-inline'
 * still allows. */
(() => {
  const core = window.ctrlens?.state;
  if (!core || window.ctrlensDebug) return;
  // elements: each tracked node and its state {onThreshold, since};
  // seen: the names of the elements with an impression in this page view.
  const { elements, seen } = core;
  const script = document.querySelector('script[data-site]');
  // The core's rule for a setting: the element's own, else the script tag's, else the default,
  // where anything but a positive number counts as absent (docs/design.md §2).
  const positiveNumber = (element, name, fallback) => {
    const value = Number(element?.getAttribute(name));
    return value > 0 ? value : fallback;
  };
  const setting = (element, name, fallback) =>
    positiveNumber(element, name, positiveNumber(script, name, fallback));
  const style = (element, properties) => Object.assign(element.style, properties);

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

  const labels = new Map(); // tracked element -> its label
  const colors = { seen: '#1a7f37', dwelling: '#d97706', idle: '#6b7280' };

  // The core's measure (docs/design.md §2): the visible area over the area capped at the
  // viewport; 0 for a zero-sized element.
  const visibleShare = (box) => {
    const visibleWidth = Math.max(0, Math.min(box.right, innerWidth) - Math.max(box.left, 0));
    const visibleHeight = Math.max(0, Math.min(box.bottom, innerHeight) - Math.max(box.top, 0));
    const cappedArea = Math.min(box.width, innerWidth) * Math.min(box.height, innerHeight);
    return cappedArea ? (visibleWidth * visibleHeight) / cappedArea : 0;
  };

  const draw = () => {
    const now = Date.now();
    elements.forEach((measured, element) => {
      let label = labels.get(element);
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
        labels.set(element, label);
      }
      const name = element.getAttribute('data-ctr');
      const done = seen.has(name);
      const threshold = setting(element, 'data-ctr-threshold', 0.5);
      const dwell = setting(element, 'data-ctr-dwell', 1000);
      const box = element.getBoundingClientRect();
      const share = Math.round(visibleShare(box) * 100);
      const dwelling = measured.onThreshold && !done && measured.since;
      const clock = dwelling ? Math.min(now - measured.since, dwell) : 0;
      const state = done ? 'seen' : measured.onThreshold ? 'dwelling' : 'idle';
      label.dataset.state = state;
      label.dataset.visible = share;
      label.textContent =
        `${name} · ${share}% of ${Math.round(threshold * 100)}% · ` +
        (done ? 'impression ✓' : `${(clock / 1000).toFixed(1)}/${(dwell / 1000).toFixed(1)}s`);
      style(label, {
        left: `${box.left + scrollX}px`,
        top: `${Math.max(0, box.top + scrollY - 18)}px`,
        background: colors[state],
        display: box.width || box.height ? 'block' : 'none',
      });
      style(element, { outline: `2px dashed ${colors[state]}`, outlineOffset: '-2px' });
    });
    // Labels of elements the core let go of.
    labels.forEach((label, element) => {
      if (elements.has(element)) return;
      label.remove();
      labels.delete(element);
    });
    panel.textContent = `ctrlens debug · ${elements.size} tracked · ${seen.size} seen in this page view`;
  };

  // A few times a second is enough for a person to read, and costs the page little.
  window.ctrlensDebug = setInterval(draw, 250);
  draw();
})();
