-- ctrlens schema version 7 (PostgreSQL): the element funnel, present -> seen -> clicked -> converted
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
    value DOUBLE PRECISION,
    defined INTEGER NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
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
    hour BIGINT NOT NULL,
    present TEXT NOT NULL,
    PRIMARY KEY (site, pageview)
);
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
    ts_server BIGINT NOT NULL,
    ts_client BIGINT NOT NULL,
    hour BIGINT NOT NULL,
    PRIMARY KEY (site, visitor, element)
);
CREATE INDEX visitor_clicks_by_hour ON visitor_clicks (hour);

-- One row per conversion: one per goal and page view. `element` is the credited element, ''
-- when no click came before it (counted for the site and the page only).
CREATE TABLE conversions (
    site TEXT NOT NULL,
    pageview TEXT NOT NULL,
    goal TEXT NOT NULL,
    visitor TEXT NOT NULL,
    value DOUBLE PRECISION,
    element TEXT NOT NULL,
    assisted INTEGER NOT NULL,
    variant TEXT NOT NULL,
    page TEXT NOT NULL,
    account TEXT NOT NULL,
    ts_server BIGINT NOT NULL,
    ts_client BIGINT,
    hour BIGINT NOT NULL,
    PRIMARY KEY (site, pageview, goal)
);
CREATE INDEX conversions_by_hour ON conversions (hour);

-- Page views with the element present, per rollup cell and UTC hour, and per UTC day (kept by
-- statement triggers with transition tables, like rollups_daily).
CREATE TABLE presence_rollups (
    site TEXT NOT NULL,
    element TEXT NOT NULL,
    variant TEXT NOT NULL,
    page TEXT NOT NULL,
    hour BIGINT NOT NULL,
    present BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (site, element, variant, page, hour)
);
CREATE INDEX presence_rollups_by_site_hour ON presence_rollups (site, hour);

CREATE TABLE presence_daily (
    site TEXT NOT NULL,
    day BIGINT NOT NULL,
    element TEXT NOT NULL,
    variant TEXT NOT NULL,
    page TEXT NOT NULL,
    present BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (site, day, element, variant, page)
);

INSERT INTO presence_rollups (site, element, variant, page, hour, present)
SELECT site, element, variant, page, hour, impressions FROM rollups WHERE impressions > 0;
INSERT INTO presence_daily (site, day, element, variant, page, present)
SELECT site, day, element, variant, page, impressions FROM rollups_daily WHERE impressions > 0;

CREATE FUNCTION presence_daily_on_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO presence_daily AS d (site, day, element, variant, page, present)
    SELECT site, hour / 86400, element, variant, page, SUM(present)
    FROM new_rows
    GROUP BY site, hour / 86400, element, variant, page
    ORDER BY site, hour / 86400, element, variant, page
    ON CONFLICT (site, day, element, variant, page) DO UPDATE SET
        present = d.present + excluded.present;
    RETURN NULL;
END $$;

CREATE FUNCTION presence_daily_on_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO presence_daily AS d (site, day, element, variant, page, present)
    SELECT n.site, n.hour / 86400, n.element, n.variant, n.page, SUM(n.present - o.present)
    FROM new_rows n JOIN old_rows o USING (site, element, variant, page, hour)
    GROUP BY n.site, n.hour / 86400, n.element, n.variant, n.page
    ORDER BY n.site, n.hour / 86400, n.element, n.variant, n.page
    ON CONFLICT (site, day, element, variant, page) DO UPDATE SET
        present = d.present + excluded.present;
    RETURN NULL;
END $$;

CREATE FUNCTION presence_daily_on_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE presence_daily AS d SET present = d.present - g.present
    FROM (
        SELECT site, hour / 86400 AS day, element, variant, page, SUM(present) AS present
        FROM old_rows
        GROUP BY site, hour / 86400, element, variant, page
    ) AS g
    WHERE d.site = g.site AND d.day = g.day AND d.element = g.element
      AND d.variant = g.variant AND d.page = g.page;
    RETURN NULL;
END $$;

CREATE TRIGGER presence_daily_on_insert AFTER INSERT ON presence_rollups
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION presence_daily_on_insert();
CREATE TRIGGER presence_daily_on_update AFTER UPDATE ON presence_rollups
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION presence_daily_on_update();
CREATE TRIGGER presence_daily_on_delete AFTER DELETE ON presence_rollups
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION presence_daily_on_delete();

-- Presence per element and UTC day, summed over variants and pages (kept from presence_daily by
-- triggers, like rollups_element_days): the overview's default view reads one row per element and
-- day.
CREATE TABLE presence_element_days (
    site TEXT NOT NULL,
    day BIGINT NOT NULL,
    element TEXT NOT NULL,
    present BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (site, day, element)
);

INSERT INTO presence_element_days (site, day, element, present)
SELECT site, day, element, SUM(present) FROM presence_daily GROUP BY site, day, element;

CREATE FUNCTION presence_element_days_on_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO presence_element_days AS e (site, day, element, present)
    SELECT site, day, element, SUM(present)
    FROM new_rows
    GROUP BY site, day, element
    ORDER BY site, day, element
    ON CONFLICT (site, day, element) DO UPDATE SET present = e.present + excluded.present;
    RETURN NULL;
END $$;

CREATE FUNCTION presence_element_days_on_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO presence_element_days AS e (site, day, element, present)
    SELECT n.site, n.day, n.element, SUM(n.present - o.present)
    FROM new_rows n JOIN old_rows o USING (site, day, element, variant, page)
    GROUP BY n.site, n.day, n.element
    ORDER BY n.site, n.day, n.element
    ON CONFLICT (site, day, element) DO UPDATE SET present = e.present + excluded.present;
    RETURN NULL;
END $$;

CREATE FUNCTION presence_element_days_on_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE presence_element_days AS e SET present = e.present - g.present
    FROM (
        SELECT site, day, element, SUM(present) AS present FROM old_rows GROUP BY site, day, element
    ) AS g
    WHERE e.site = g.site AND e.day = g.day AND e.element = g.element;
    RETURN NULL;
END $$;

CREATE TRIGGER presence_element_days_on_insert AFTER INSERT ON presence_daily
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION presence_element_days_on_insert();
CREATE TRIGGER presence_element_days_on_update AFTER UPDATE ON presence_daily
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION presence_element_days_on_update();
CREATE TRIGGER presence_element_days_on_delete AFTER DELETE ON presence_daily
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION presence_element_days_on_delete();

-- Conversions per goal and rollup cell: `element` credited ('' for none), `assisted` counted for
-- the other elements clicked inside the window, `value` the credited conversions' value.
CREATE TABLE goal_rollups (
    site TEXT NOT NULL,
    goal TEXT NOT NULL,
    element TEXT NOT NULL,
    variant TEXT NOT NULL,
    page TEXT NOT NULL,
    hour BIGINT NOT NULL,
    conversions BIGINT NOT NULL DEFAULT 0,
    assisted BIGINT NOT NULL DEFAULT 0,
    value DOUBLE PRECISION NOT NULL DEFAULT 0,
    PRIMARY KEY (site, goal, element, variant, page, hour)
);
CREATE INDEX goal_rollups_by_site_hour ON goal_rollups (site, hour);

CREATE TABLE goal_daily (
    site TEXT NOT NULL,
    day BIGINT NOT NULL,
    goal TEXT NOT NULL,
    element TEXT NOT NULL,
    variant TEXT NOT NULL,
    page TEXT NOT NULL,
    conversions BIGINT NOT NULL DEFAULT 0,
    assisted BIGINT NOT NULL DEFAULT 0,
    value DOUBLE PRECISION NOT NULL DEFAULT 0,
    PRIMARY KEY (site, day, goal, element, variant, page)
);

CREATE FUNCTION goal_daily_on_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO goal_daily AS d (site, day, goal, element, variant, page, conversions, assisted, value)
    SELECT site, hour / 86400, goal, element, variant, page, SUM(conversions), SUM(assisted), SUM(value)
    FROM new_rows
    GROUP BY site, hour / 86400, goal, element, variant, page
    ORDER BY site, hour / 86400, goal, element, variant, page
    ON CONFLICT (site, day, goal, element, variant, page) DO UPDATE SET
        conversions = d.conversions + excluded.conversions,
        assisted = d.assisted + excluded.assisted,
        value = d.value + excluded.value;
    RETURN NULL;
END $$;

CREATE FUNCTION goal_daily_on_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO goal_daily AS d (site, day, goal, element, variant, page, conversions, assisted, value)
    SELECT n.site, n.hour / 86400, n.goal, n.element, n.variant, n.page,
           SUM(n.conversions - o.conversions), SUM(n.assisted - o.assisted), SUM(n.value - o.value)
    FROM new_rows n JOIN old_rows o USING (site, goal, element, variant, page, hour)
    GROUP BY n.site, n.hour / 86400, n.goal, n.element, n.variant, n.page
    ORDER BY n.site, n.hour / 86400, n.goal, n.element, n.variant, n.page
    ON CONFLICT (site, day, goal, element, variant, page) DO UPDATE SET
        conversions = d.conversions + excluded.conversions,
        assisted = d.assisted + excluded.assisted,
        value = d.value + excluded.value;
    RETURN NULL;
END $$;

CREATE FUNCTION goal_daily_on_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE goal_daily AS d SET
        conversions = d.conversions - g.conversions,
        assisted = d.assisted - g.assisted,
        value = d.value - g.value
    FROM (
        SELECT site, hour / 86400 AS day, goal, element, variant, page, SUM(conversions) AS conversions,
               SUM(assisted) AS assisted, SUM(value) AS value
        FROM old_rows
        GROUP BY site, hour / 86400, goal, element, variant, page
    ) AS g
    WHERE d.site = g.site AND d.day = g.day AND d.goal = g.goal AND d.element = g.element
      AND d.variant = g.variant AND d.page = g.page;
    RETURN NULL;
END $$;

CREATE TRIGGER goal_daily_on_insert AFTER INSERT ON goal_rollups
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION goal_daily_on_insert();
CREATE TRIGGER goal_daily_on_update AFTER UPDATE ON goal_rollups
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION goal_daily_on_update();
CREATE TRIGGER goal_daily_on_delete AFTER DELETE ON goal_rollups
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION goal_daily_on_delete();

-- A goal's conversions per element and UTC day, summed over variants and pages (kept from
-- goal_daily by triggers): the overview's default view reads one row per element and day.
CREATE TABLE goal_element_days (
    site TEXT NOT NULL,
    day BIGINT NOT NULL,
    goal TEXT NOT NULL,
    element TEXT NOT NULL,
    conversions BIGINT NOT NULL DEFAULT 0,
    assisted BIGINT NOT NULL DEFAULT 0,
    value DOUBLE PRECISION NOT NULL DEFAULT 0,
    PRIMARY KEY (site, day, goal, element)
);

CREATE FUNCTION goal_element_days_on_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO goal_element_days AS e (site, day, goal, element, conversions, assisted, value)
    SELECT site, day, goal, element, SUM(conversions), SUM(assisted), SUM(value)
    FROM new_rows
    GROUP BY site, day, goal, element
    ORDER BY site, day, goal, element
    ON CONFLICT (site, day, goal, element) DO UPDATE SET
        conversions = e.conversions + excluded.conversions,
        assisted = e.assisted + excluded.assisted,
        value = e.value + excluded.value;
    RETURN NULL;
END $$;

CREATE FUNCTION goal_element_days_on_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO goal_element_days AS e (site, day, goal, element, conversions, assisted, value)
    SELECT n.site, n.day, n.goal, n.element, SUM(n.conversions - o.conversions),
           SUM(n.assisted - o.assisted), SUM(n.value - o.value)
    FROM new_rows n JOIN old_rows o USING (site, day, goal, element, variant, page)
    GROUP BY n.site, n.day, n.goal, n.element
    ORDER BY n.site, n.day, n.goal, n.element
    ON CONFLICT (site, day, goal, element) DO UPDATE SET
        conversions = e.conversions + excluded.conversions,
        assisted = e.assisted + excluded.assisted,
        value = e.value + excluded.value;
    RETURN NULL;
END $$;

CREATE FUNCTION goal_element_days_on_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE goal_element_days AS e SET
        conversions = e.conversions - g.conversions,
        assisted = e.assisted - g.assisted,
        value = e.value - g.value
    FROM (
        SELECT site, day, goal, element, SUM(conversions) AS conversions, SUM(assisted) AS assisted,
               SUM(value) AS value
        FROM old_rows GROUP BY site, day, goal, element
    ) AS g
    WHERE e.site = g.site AND e.day = g.day AND e.goal = g.goal AND e.element = g.element;
    RETURN NULL;
END $$;

CREATE TRIGGER goal_element_days_on_insert AFTER INSERT ON goal_daily
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION goal_element_days_on_insert();
CREATE TRIGGER goal_element_days_on_update AFTER UPDATE ON goal_daily
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION goal_element_days_on_update();
CREATE TRIGGER goal_element_days_on_delete AFTER DELETE ON goal_daily
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION goal_element_days_on_delete();

-- Conversions per goal, element, variant, UTC day and account (the accounts view).
CREATE TABLE goal_accounts (
    site TEXT NOT NULL,
    goal TEXT NOT NULL,
    element TEXT NOT NULL,
    variant TEXT NOT NULL,
    day BIGINT NOT NULL,
    account TEXT NOT NULL,
    conversions BIGINT NOT NULL DEFAULT 0,
    value DOUBLE PRECISION NOT NULL DEFAULT 0,
    PRIMARY KEY (site, goal, element, variant, day, account)
);
