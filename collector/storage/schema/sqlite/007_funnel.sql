-- ctrlens schema version 7 (SQLite): the element funnel, present -> seen -> clicked -> converted
-- (docs/design.md §1-§3). New tables only: the rollups of versions 1-6 are left as they are, and
-- storage/funnel.py keeps these in the same transaction as the raw events.
--
-- Existing data: page views before this version reported no presence, so each old rollup cell
-- counts its element present in as many page views as it earned impressions (a viewability rate
-- of 100%, the only figure the old data supports: every impression proves a presence).

-- A site's goals: defined by the site owner (`defined` = 1: a page-path pattern such as
-- '/thank-you*', a default value), or only seen in a conversion (`defined` = 0).
CREATE TABLE goals (
    site TEXT NOT NULL,
    name TEXT NOT NULL,
    path TEXT NOT NULL DEFAULT '',
    value REAL,
    defined INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (site, name)
);

-- One row per page view: its visitor of that day (a backend's later conversion under this page
-- view's id belongs to this visitor), its cell (fixed by its first event), and the names of the
-- elements present in it, separated by U+001F: each counts present once per page view. A new
-- row is what page-path goals are matched against.
CREATE TABLE funnel_pageviews (
    site TEXT NOT NULL,
    pageview TEXT NOT NULL,
    visitor TEXT NOT NULL,
    variant TEXT NOT NULL,
    page TEXT NOT NULL,
    account TEXT NOT NULL,
    hour INTEGER NOT NULL,
    present TEXT NOT NULL,
    PRIMARY KEY (site, pageview)
) WITHOUT ROWID;
CREATE INDEX funnel_pageviews_by_hour ON funnel_pageviews (hour);

-- The click ledger for attribution: per visitor-day and element, its last click (by server
-- arrival, then the client's clock) and the cell it was in.
CREATE TABLE visitor_clicks (
    site TEXT NOT NULL,
    visitor TEXT NOT NULL,
    element TEXT NOT NULL,
    variant TEXT NOT NULL,
    page TEXT NOT NULL,
    account TEXT NOT NULL,
    ts_server INTEGER NOT NULL,
    ts_client INTEGER NOT NULL,
    hour INTEGER NOT NULL,
    PRIMARY KEY (site, visitor, element)
) WITHOUT ROWID;
CREATE INDEX visitor_clicks_by_hour ON visitor_clicks (hour);

-- One row per conversion: one per goal and page view. `element` is the credited element, ''
-- when no click came before it (counted for the site and the page only).
CREATE TABLE conversions (
    site TEXT NOT NULL,
    pageview TEXT NOT NULL,
    goal TEXT NOT NULL,
    visitor TEXT NOT NULL,
    value REAL,
    element TEXT NOT NULL,
    assisted INTEGER NOT NULL,
    variant TEXT NOT NULL,
    page TEXT NOT NULL,
    account TEXT NOT NULL,
    ts_server INTEGER NOT NULL,
    ts_client INTEGER,
    hour INTEGER NOT NULL,
    PRIMARY KEY (site, pageview, goal)
) WITHOUT ROWID;
CREATE INDEX conversions_by_hour ON conversions (hour);

-- Page views with the element present, per rollup cell and UTC hour, and per UTC day (kept by
-- triggers, like rollups_daily).
CREATE TABLE presence_rollups (
    site TEXT NOT NULL,
    element TEXT NOT NULL,
    variant TEXT NOT NULL,
    page TEXT NOT NULL,
    hour INTEGER NOT NULL,
    present INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (site, element, variant, page, hour)
);
CREATE INDEX presence_rollups_by_site_hour ON presence_rollups (site, hour);

CREATE TABLE presence_daily (
    site TEXT NOT NULL,
    day INTEGER NOT NULL,
    element TEXT NOT NULL,
    variant TEXT NOT NULL,
    page TEXT NOT NULL,
    present INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (site, day, element, variant, page)
) WITHOUT ROWID;

INSERT INTO presence_rollups (site, element, variant, page, hour, present)
SELECT site, element, variant, page, hour, impressions FROM rollups WHERE impressions > 0;
INSERT INTO presence_daily (site, day, element, variant, page, present)
SELECT site, day, element, variant, page, impressions FROM rollups_daily WHERE impressions > 0;

CREATE TRIGGER presence_daily_on_insert AFTER INSERT ON presence_rollups
BEGIN
    INSERT INTO presence_daily (site, day, element, variant, page, present)
    VALUES (NEW.site, NEW.hour / 86400, NEW.element, NEW.variant, NEW.page, NEW.present)
    ON CONFLICT (site, day, element, variant, page) DO UPDATE SET
        present = presence_daily.present + excluded.present;
END;

CREATE TRIGGER presence_daily_on_update AFTER UPDATE ON presence_rollups
BEGIN
    UPDATE presence_daily SET present = present + NEW.present - OLD.present
    WHERE site = NEW.site AND day = NEW.hour / 86400 AND element = NEW.element
      AND variant = NEW.variant AND page = NEW.page;
END;

CREATE TRIGGER presence_daily_on_delete AFTER DELETE ON presence_rollups
BEGIN
    UPDATE presence_daily SET present = present - OLD.present
    WHERE site = OLD.site AND day = OLD.hour / 86400 AND element = OLD.element
      AND variant = OLD.variant AND page = OLD.page;
END;

-- Presence per element and UTC day, summed over variants and pages (kept from presence_daily by
-- triggers, like rollups_element_days): the overview's default view reads one row per element and
-- day.
CREATE TABLE presence_element_days (
    site TEXT NOT NULL,
    day INTEGER NOT NULL,
    element TEXT NOT NULL,
    present INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (site, day, element)
) WITHOUT ROWID;

INSERT INTO presence_element_days (site, day, element, present)
SELECT site, day, element, SUM(present) FROM presence_daily GROUP BY site, day, element;

CREATE TRIGGER presence_element_days_on_insert AFTER INSERT ON presence_daily
BEGIN
    INSERT INTO presence_element_days (site, day, element, present)
    VALUES (NEW.site, NEW.day, NEW.element, NEW.present)
    ON CONFLICT (site, day, element) DO UPDATE SET
        present = presence_element_days.present + excluded.present;
END;

CREATE TRIGGER presence_element_days_on_update AFTER UPDATE ON presence_daily
BEGIN
    UPDATE presence_element_days SET present = present + NEW.present - OLD.present
    WHERE site = NEW.site AND day = NEW.day AND element = NEW.element;
END;

CREATE TRIGGER presence_element_days_on_delete AFTER DELETE ON presence_daily
BEGIN
    UPDATE presence_element_days SET present = present - OLD.present
    WHERE site = OLD.site AND day = OLD.day AND element = OLD.element;
END;

-- Conversions per goal and rollup cell: `element` credited ('' for none), `assisted` counted for
-- the other elements clicked inside the window, `value` the credited conversions' value.
CREATE TABLE goal_rollups (
    site TEXT NOT NULL,
    goal TEXT NOT NULL,
    element TEXT NOT NULL,
    variant TEXT NOT NULL,
    page TEXT NOT NULL,
    hour INTEGER NOT NULL,
    conversions INTEGER NOT NULL DEFAULT 0,
    assisted INTEGER NOT NULL DEFAULT 0,
    value REAL NOT NULL DEFAULT 0,
    PRIMARY KEY (site, goal, element, variant, page, hour)
);
CREATE INDEX goal_rollups_by_site_hour ON goal_rollups (site, hour);

CREATE TABLE goal_daily (
    site TEXT NOT NULL,
    day INTEGER NOT NULL,
    goal TEXT NOT NULL,
    element TEXT NOT NULL,
    variant TEXT NOT NULL,
    page TEXT NOT NULL,
    conversions INTEGER NOT NULL DEFAULT 0,
    assisted INTEGER NOT NULL DEFAULT 0,
    value REAL NOT NULL DEFAULT 0,
    PRIMARY KEY (site, day, goal, element, variant, page)
) WITHOUT ROWID;

CREATE TRIGGER goal_daily_on_insert AFTER INSERT ON goal_rollups
BEGIN
    INSERT INTO goal_daily (site, day, goal, element, variant, page, conversions, assisted, value)
    VALUES (NEW.site, NEW.hour / 86400, NEW.goal, NEW.element, NEW.variant, NEW.page,
            NEW.conversions, NEW.assisted, NEW.value)
    ON CONFLICT (site, day, goal, element, variant, page) DO UPDATE SET
        conversions = goal_daily.conversions + excluded.conversions,
        assisted = goal_daily.assisted + excluded.assisted,
        value = goal_daily.value + excluded.value;
END;

CREATE TRIGGER goal_daily_on_update AFTER UPDATE ON goal_rollups
BEGIN
    UPDATE goal_daily SET
        conversions = conversions + NEW.conversions - OLD.conversions,
        assisted = assisted + NEW.assisted - OLD.assisted,
        value = value + NEW.value - OLD.value
    WHERE site = NEW.site AND day = NEW.hour / 86400 AND goal = NEW.goal
      AND element = NEW.element AND variant = NEW.variant AND page = NEW.page;
END;

CREATE TRIGGER goal_daily_on_delete AFTER DELETE ON goal_rollups
BEGIN
    UPDATE goal_daily SET
        conversions = conversions - OLD.conversions,
        assisted = assisted - OLD.assisted,
        value = value - OLD.value
    WHERE site = OLD.site AND day = OLD.hour / 86400 AND goal = OLD.goal
      AND element = OLD.element AND variant = OLD.variant AND page = OLD.page;
END;

-- A goal's conversions per element and UTC day, summed over variants and pages (kept from
-- goal_daily by triggers): the overview's default view reads one row per element and day.
CREATE TABLE goal_element_days (
    site TEXT NOT NULL,
    day INTEGER NOT NULL,
    goal TEXT NOT NULL,
    element TEXT NOT NULL,
    conversions INTEGER NOT NULL DEFAULT 0,
    assisted INTEGER NOT NULL DEFAULT 0,
    value REAL NOT NULL DEFAULT 0,
    PRIMARY KEY (site, day, goal, element)
) WITHOUT ROWID;

CREATE TRIGGER goal_element_days_on_insert AFTER INSERT ON goal_daily
BEGIN
    INSERT INTO goal_element_days (site, day, goal, element, conversions, assisted, value)
    VALUES (NEW.site, NEW.day, NEW.goal, NEW.element, NEW.conversions, NEW.assisted, NEW.value)
    ON CONFLICT (site, day, goal, element) DO UPDATE SET
        conversions = goal_element_days.conversions + excluded.conversions,
        assisted = goal_element_days.assisted + excluded.assisted,
        value = goal_element_days.value + excluded.value;
END;

CREATE TRIGGER goal_element_days_on_update AFTER UPDATE ON goal_daily
BEGIN
    UPDATE goal_element_days SET
        conversions = conversions + NEW.conversions - OLD.conversions,
        assisted = assisted + NEW.assisted - OLD.assisted,
        value = value + NEW.value - OLD.value
    WHERE site = NEW.site AND day = NEW.day AND goal = NEW.goal AND element = NEW.element;
END;

CREATE TRIGGER goal_element_days_on_delete AFTER DELETE ON goal_daily
BEGIN
    UPDATE goal_element_days SET
        conversions = conversions - OLD.conversions,
        assisted = assisted - OLD.assisted,
        value = value - OLD.value
    WHERE site = OLD.site AND day = OLD.day AND goal = OLD.goal AND element = OLD.element;
END;

-- Conversions per goal, element, variant, UTC day and account (the accounts view).
CREATE TABLE goal_accounts (
    site TEXT NOT NULL,
    goal TEXT NOT NULL,
    element TEXT NOT NULL,
    variant TEXT NOT NULL,
    day INTEGER NOT NULL,
    account TEXT NOT NULL,
    conversions INTEGER NOT NULL DEFAULT 0,
    value REAL NOT NULL DEFAULT 0,
    PRIMARY KEY (site, goal, element, variant, day, account)
);
