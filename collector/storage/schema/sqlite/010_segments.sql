-- ctrlens schema version 10 (SQLite): `segments`, counts per UTC day and every filter the overview
-- combines (docs/design.md §4 "Around the numbers").
--
-- One row per (site, UTC day, element, variant, page, traffic source, utm_campaign, device class):
-- page views with an impression, page views with a click and every click, kept in the write's
-- transaction next to `breakdowns` (storage/segments.py). Distinct visitors and the funnel are not
-- kept per segment. A page view's element remembers its campaign in `pageview_elements`, so a
-- click arriving in a later batch lands in the same segment as its impression.

ALTER TABLE pageview_elements ADD COLUMN campaign TEXT NOT NULL DEFAULT '';

CREATE TABLE segments (
    site TEXT NOT NULL,
    day INTEGER NOT NULL,
    element TEXT NOT NULL,
    variant TEXT NOT NULL,
    page TEXT NOT NULL,
    source TEXT NOT NULL,
    campaign TEXT NOT NULL,
    device TEXT NOT NULL,
    kind TEXT NOT NULL,
    impressions INTEGER NOT NULL DEFAULT 0,
    clicks INTEGER NOT NULL DEFAULT 0,
    total_clicks INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (site, day, element, variant, page, source, campaign, device)
);

-- Existing data: rebuilt from the page views still held (retention may have removed older ones),
-- with every click counted from the raw events; their campaign is unknown ('').
INSERT INTO segments (site, day, element, variant, page, source, campaign, device, kind,
                      impressions, clicks, total_clicks)
SELECT p.site, p.hour / 86400, p.element, p.variant, p.page, p.source, '', p.device, MAX(p.kind),
       COUNT(*), SUM(p.clicked), SUM(COALESCE(c.n, 0))
FROM pageview_elements p
LEFT JOIN (
    SELECT site, pageview, element, COUNT(*) AS n FROM events WHERE type = 'click'
    GROUP BY site, pageview, element
) c ON c.site = p.site AND c.pageview = p.pageview AND c.element = p.element
GROUP BY p.site, p.hour / 86400, p.element, p.variant, p.page, p.source, p.device;
