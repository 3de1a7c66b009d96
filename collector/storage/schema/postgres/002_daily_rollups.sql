-- ctrlens schema version 2 (PostgreSQL): daily rollups for the dashboard's long ranges.
--
-- The same table as SQLite's version 2: `rollups_daily` holds the hourly `rollups` summed per
-- UTC day, kept by triggers in the same transaction as every write to `rollups`, so the two
-- tables can never disagree. SQLite's triggers run per row; these run per statement, with
-- transition tables: one multi-row upsert of `rollups` costs one aggregated upsert of
-- `rollups_daily`, whose rows are taken in key order like the writer takes `rollups` rows.

CREATE TABLE rollups_daily (
    site TEXT NOT NULL,
    day BIGINT NOT NULL,
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
    PRIMARY KEY (site, day, element, variant, page)
);
CREATE INDEX rollups_daily_by_element ON rollups_daily (site, element, day);

INSERT INTO rollups_daily (site, day, element, variant, page, kind, impressions, via_click, clicks,
                           total_clicks, viewers, clickers)
SELECT site, hour / 86400, element, variant, page, MAX(kind), SUM(impressions), SUM(via_click),
       SUM(clicks), SUM(total_clicks), SUM(viewers), SUM(clickers)
FROM rollups
GROUP BY site, hour / 86400, element, variant, page;

-- Inserted hourly rows: add their counts to their days.
CREATE FUNCTION rollups_daily_on_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO rollups_daily AS d (site, day, element, variant, page, kind, impressions,
                                    via_click, clicks, total_clicks, viewers, clickers)
    SELECT site, hour / 86400, element, variant, page, MAX(kind), SUM(impressions),
           SUM(via_click), SUM(clicks), SUM(total_clicks), SUM(viewers), SUM(clickers)
    FROM new_rows
    GROUP BY site, hour / 86400, element, variant, page
    ORDER BY site, hour / 86400, element, variant, page
    ON CONFLICT (site, day, element, variant, page) DO UPDATE SET
        kind = excluded.kind,
        impressions = d.impressions + excluded.impressions,
        via_click = d.via_click + excluded.via_click,
        clicks = d.clicks + excluded.clicks,
        total_clicks = d.total_clicks + excluded.total_clicks,
        viewers = d.viewers + excluded.viewers,
        clickers = d.clickers + excluded.clickers;
    RETURN NULL;
END $$;

-- Updated hourly rows (the upsert's DO UPDATE path): add the differences. A rollup's key
-- (site, element, variant, page, hour) never changes, only its counts.
CREATE FUNCTION rollups_daily_on_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO rollups_daily AS d (site, day, element, variant, page, kind, impressions,
                                    via_click, clicks, total_clicks, viewers, clickers)
    SELECT n.site, n.hour / 86400, n.element, n.variant, n.page, MAX(n.kind),
           SUM(n.impressions - o.impressions), SUM(n.via_click - o.via_click),
           SUM(n.clicks - o.clicks), SUM(n.total_clicks - o.total_clicks),
           SUM(n.viewers - o.viewers), SUM(n.clickers - o.clickers)
    FROM new_rows n JOIN old_rows o USING (site, element, variant, page, hour)
    GROUP BY n.site, n.hour / 86400, n.element, n.variant, n.page
    ORDER BY n.site, n.hour / 86400, n.element, n.variant, n.page
    ON CONFLICT (site, day, element, variant, page) DO UPDATE SET
        kind = excluded.kind,
        impressions = d.impressions + excluded.impressions,
        via_click = d.via_click + excluded.via_click,
        clicks = d.clicks + excluded.clicks,
        total_clicks = d.total_clicks + excluded.total_clicks,
        viewers = d.viewers + excluded.viewers,
        clickers = d.clickers + excluded.clickers;
    RETURN NULL;
END $$;

-- Deleted hourly rows: take their counts away; a day left with nothing goes too.
CREATE FUNCTION rollups_daily_on_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE rollups_daily AS d SET
        impressions = d.impressions - g.impressions,
        via_click = d.via_click - g.via_click,
        clicks = d.clicks - g.clicks,
        total_clicks = d.total_clicks - g.total_clicks,
        viewers = d.viewers - g.viewers,
        clickers = d.clickers - g.clickers
    FROM (
        SELECT site, hour / 86400 AS day, element, variant, page, SUM(impressions) AS impressions,
               SUM(via_click) AS via_click, SUM(clicks) AS clicks,
               SUM(total_clicks) AS total_clicks, SUM(viewers) AS viewers,
               SUM(clickers) AS clickers
        FROM old_rows
        GROUP BY site, hour / 86400, element, variant, page
    ) AS g
    WHERE d.site = g.site AND d.day = g.day AND d.element = g.element
      AND d.variant = g.variant AND d.page = g.page;
    DELETE FROM rollups_daily AS d
    USING (SELECT DISTINCT site, hour / 86400 AS day, element, variant, page FROM old_rows) AS g
    WHERE d.site = g.site AND d.day = g.day AND d.element = g.element
      AND d.variant = g.variant AND d.page = g.page
      AND d.impressions = 0 AND d.total_clicks = 0;
    RETURN NULL;
END $$;

CREATE TRIGGER rollups_daily_on_insert AFTER INSERT ON rollups
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION rollups_daily_on_insert();
CREATE TRIGGER rollups_daily_on_update AFTER UPDATE ON rollups
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION rollups_daily_on_update();
CREATE TRIGGER rollups_daily_on_delete AFTER DELETE ON rollups
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION rollups_daily_on_delete();
