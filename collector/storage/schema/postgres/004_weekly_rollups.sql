-- ctrlens schema version 4 (PostgreSQL): weekly rollups, so long ranges read a few rows per element.
--
-- The same table as SQLite's version 4: `rollups_weekly` holds `rollups_daily` summed per week,
-- `week` = (day + 3) / 7 in epoch days (weeks start on Monday). Kept by statement triggers on
-- `rollups_daily` with transition tables, like version 2 keeps the daily table: one upsert of
-- daily rows costs one aggregated upsert of weekly rows, taken in key order.

CREATE TABLE rollups_weekly (
    site TEXT NOT NULL,
    week BIGINT NOT NULL,
    element TEXT NOT NULL,
    variant TEXT NOT NULL,
    page TEXT NOT NULL,
    kind TEXT NOT NULL,
    impressions BIGINT NOT NULL DEFAULT 0,
    via_click BIGINT NOT NULL DEFAULT 0,
    clicks BIGINT NOT NULL DEFAULT 0,
    total_clicks BIGINT NOT NULL DEFAULT 0,
    viewers BIGINT NOT NULL DEFAULT 0,
    clickers BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (site, week, element, variant, page)
);

CREATE INDEX rollups_weekly_by_element ON rollups_weekly (site, element, week);

-- Page views per variant over a range (the variants page's sample-ratio check) read from this
-- index alone, instead of every (variant, page, hour) row of the site.
CREATE INDEX pageview_rollups_by_hour ON pageview_rollups (site, hour, variant, page, pageviews);

INSERT INTO rollups_weekly (site, week, element, variant, page, kind, impressions, via_click, clicks,
                            total_clicks, viewers, clickers)
SELECT site, (day + 3) / 7, element, variant, page, MAX(kind), SUM(impressions), SUM(via_click),
       SUM(clicks), SUM(total_clicks), SUM(viewers), SUM(clickers)
FROM rollups_daily
GROUP BY site, (day + 3) / 7, element, variant, page;

CREATE FUNCTION rollups_weekly_on_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO rollups_weekly AS w (site, week, element, variant, page, kind, impressions,
                                     via_click, clicks, total_clicks, viewers, clickers)
    SELECT site, (day + 3) / 7, element, variant, page, MAX(kind), SUM(impressions),
           SUM(via_click), SUM(clicks), SUM(total_clicks), SUM(viewers), SUM(clickers)
    FROM new_rows
    GROUP BY site, (day + 3) / 7, element, variant, page
    ORDER BY site, (day + 3) / 7, element, variant, page
    ON CONFLICT (site, week, element, variant, page) DO UPDATE SET
        kind = excluded.kind,
        impressions = w.impressions + excluded.impressions,
        via_click = w.via_click + excluded.via_click,
        clicks = w.clicks + excluded.clicks,
        total_clicks = w.total_clicks + excluded.total_clicks,
        viewers = w.viewers + excluded.viewers,
        clickers = w.clickers + excluded.clickers;
    RETURN NULL;
END $$;

-- A daily row's key (site, day, element, variant, page) never changes, only its counts.
CREATE FUNCTION rollups_weekly_on_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO rollups_weekly AS w (site, week, element, variant, page, kind, impressions,
                                     via_click, clicks, total_clicks, viewers, clickers)
    SELECT n.site, (n.day + 3) / 7, n.element, n.variant, n.page, MAX(n.kind),
           SUM(n.impressions - o.impressions), SUM(n.via_click - o.via_click),
           SUM(n.clicks - o.clicks), SUM(n.total_clicks - o.total_clicks),
           SUM(n.viewers - o.viewers), SUM(n.clickers - o.clickers)
    FROM new_rows n JOIN old_rows o USING (site, day, element, variant, page)
    GROUP BY n.site, (n.day + 3) / 7, n.element, n.variant, n.page
    ORDER BY n.site, (n.day + 3) / 7, n.element, n.variant, n.page
    ON CONFLICT (site, week, element, variant, page) DO UPDATE SET
        kind = excluded.kind,
        impressions = w.impressions + excluded.impressions,
        via_click = w.via_click + excluded.via_click,
        clicks = w.clicks + excluded.clicks,
        total_clicks = w.total_clicks + excluded.total_clicks,
        viewers = w.viewers + excluded.viewers,
        clickers = w.clickers + excluded.clickers;
    RETURN NULL;
END $$;

CREATE FUNCTION rollups_weekly_on_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE rollups_weekly AS w SET
        impressions = w.impressions - g.impressions,
        via_click = w.via_click - g.via_click,
        clicks = w.clicks - g.clicks,
        total_clicks = w.total_clicks - g.total_clicks,
        viewers = w.viewers - g.viewers,
        clickers = w.clickers - g.clickers
    FROM (
        SELECT site, (day + 3) / 7 AS week, element, variant, page,
               SUM(impressions) AS impressions, SUM(via_click) AS via_click, SUM(clicks) AS clicks,
               SUM(total_clicks) AS total_clicks, SUM(viewers) AS viewers, SUM(clickers) AS clickers
        FROM old_rows
        GROUP BY site, (day + 3) / 7, element, variant, page
    ) AS g
    WHERE w.site = g.site AND w.week = g.week AND w.element = g.element
      AND w.variant = g.variant AND w.page = g.page;
    DELETE FROM rollups_weekly AS w
    USING (SELECT DISTINCT site, (day + 3) / 7 AS week, element, variant, page FROM old_rows) AS g
    WHERE w.site = g.site AND w.week = g.week AND w.element = g.element
      AND w.variant = g.variant AND w.page = g.page
      AND w.impressions = 0 AND w.total_clicks = 0;
    RETURN NULL;
END $$;

CREATE TRIGGER rollups_weekly_on_insert AFTER INSERT ON rollups_daily
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION rollups_weekly_on_insert();
CREATE TRIGGER rollups_weekly_on_update AFTER UPDATE ON rollups_daily
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION rollups_weekly_on_update();
CREATE TRIGGER rollups_weekly_on_delete AFTER DELETE ON rollups_daily
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION rollups_weekly_on_delete();
