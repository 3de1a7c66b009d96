-- ctrlens schema version 1 (SQLite). Times are UTC: `hour` is epoch seconds of the hour's start,
-- `day` is epoch days, `ts_*` are epoch milliseconds.

CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE sites (
    key TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    origins TEXT NOT NULL,            -- JSON list of allowed origins
    settings TEXT NOT NULL DEFAULT '{}',
    created_at INTEGER NOT NULL
);

-- Raw events, one row per accepted event id.
CREATE TABLE events (
    site TEXT NOT NULL,
    event_id TEXT NOT NULL,
    pageview TEXT NOT NULL,
    type TEXT NOT NULL,
    element TEXT NOT NULL,
    kind TEXT NOT NULL,
    variant TEXT NOT NULL,
    account TEXT NOT NULL,
    page TEXT NOT NULL,
    url TEXT NOT NULL,
    referrer TEXT NOT NULL,
    source TEXT NOT NULL,
    device TEXT NOT NULL,
    visitor TEXT NOT NULL,
    via_click INTEGER NOT NULL,
    ts_client INTEGER,
    ts_server INTEGER NOT NULL,
    PRIMARY KEY (site, event_id)
);
CREATE INDEX events_by_time ON events (ts_server);

-- One row per (page view, element): decides "at most one impression / one click per page view".
-- The cell (variant, page, hour, ...) is fixed by the first event, so a click always lands in the
-- same rollup cell as its impression and CTR can never exceed 100% in any cell.
CREATE TABLE pageview_elements (
    site TEXT NOT NULL,
    pageview TEXT NOT NULL,
    element TEXT NOT NULL,
    kind TEXT NOT NULL,
    variant TEXT NOT NULL,
    page TEXT NOT NULL,
    account TEXT NOT NULL,
    source TEXT NOT NULL,
    device TEXT NOT NULL,
    visitor TEXT NOT NULL,
    hour INTEGER NOT NULL,
    clicked INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (site, pageview, element)
);
CREATE INDEX pageview_elements_by_hour ON pageview_elements (hour);

-- One row per (day, visitor, element cell): daily-distinct viewers and clickers.
CREATE TABLE visitor_elements (
    site TEXT NOT NULL,
    day INTEGER NOT NULL,
    visitor TEXT NOT NULL,
    element TEXT NOT NULL,
    variant TEXT NOT NULL,
    page TEXT NOT NULL,
    clicked INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (site, day, visitor, element, variant, page)
);

-- One row per page view: page views per variant (sample-ratio checks).
CREATE TABLE pageviews (
    site TEXT NOT NULL,
    pageview TEXT NOT NULL,
    variant TEXT NOT NULL,
    page TEXT NOT NULL,
    hour INTEGER NOT NULL,
    PRIMARY KEY (site, pageview)
);
CREATE INDEX pageviews_by_hour ON pageviews (hour);

-- Rollups, updated in the same transaction as the raw events.
CREATE TABLE rollups (
    site TEXT NOT NULL,
    element TEXT NOT NULL,
    variant TEXT NOT NULL,
    page TEXT NOT NULL,
    hour INTEGER NOT NULL,
    kind TEXT NOT NULL,
    impressions INTEGER NOT NULL DEFAULT 0,
    via_click INTEGER NOT NULL DEFAULT 0,
    clicks INTEGER NOT NULL DEFAULT 0,
    total_clicks INTEGER NOT NULL DEFAULT 0,
    viewers INTEGER NOT NULL DEFAULT 0,
    clickers INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (site, element, variant, page, hour)
);
CREATE INDEX rollups_by_site_hour ON rollups (site, hour);

-- Daily counts per element along one more dimension: source, device, account.
CREATE TABLE breakdowns (
    site TEXT NOT NULL,
    element TEXT NOT NULL,
    variant TEXT NOT NULL,
    day INTEGER NOT NULL,
    dimension TEXT NOT NULL,
    value TEXT NOT NULL,
    impressions INTEGER NOT NULL DEFAULT 0,
    clicks INTEGER NOT NULL DEFAULT 0,
    total_clicks INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (site, element, variant, day, dimension, value)
);
CREATE INDEX breakdowns_by_dimension ON breakdowns (site, dimension, day);

CREATE TABLE pageview_rollups (
    site TEXT NOT NULL,
    variant TEXT NOT NULL,
    page TEXT NOT NULL,
    hour INTEGER NOT NULL,
    pageviews INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (site, variant, page, hour)
);

-- Dropped or rejected events, counted by reason per day, and a bounded sample for debugging.
CREATE TABLE rejections (
    site TEXT NOT NULL,
    day INTEGER NOT NULL,
    reason TEXT NOT NULL,
    count INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (site, day, reason)
);

CREATE TABLE rejected_samples (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    site TEXT NOT NULL,
    ts INTEGER NOT NULL,
    reason TEXT NOT NULL,
    payload TEXT NOT NULL
);

-- Daily visitor-id salts; rows older than two days are deleted.
CREATE TABLE salts (
    day INTEGER PRIMARY KEY,
    salt TEXT NOT NULL
);
