-- ctrlens schema version 15 (PostgreSQL): every count of a cell in the per-element tables.
--
-- The same columns as SQLite's version 15: `rollups_element_days` (version 5) and
-- `rollups_element_weeks` (version 14) carry the six counts of `rollups_daily`
-- (storage/counts.py), not only impressions and clicks, so a range's sums per element can come
-- from the narrow per-element rows (storage/reads.py, `element_totals`). The trigger functions of
-- versions 5 and 14 on these two tables are replaced by the same functions over the six counts;
-- the triggers themselves (statement triggers with transition tables, AFTER UPDATE of any column)
-- stay. A row goes when all six counts are zero (SQLite's version 15 says why all six).
--
-- Existing data: the new columns are filled from `rollups_daily`, then the weeks from the filled
-- days, while the old functions still run: the days' UPDATE fires version 14's weekly trigger,
-- which writes nothing since no impressions or clicks change. Each row then holds the sums the new
-- functions would have kept; `kind` and the set of rows stay as they are.

ALTER TABLE rollups_element_days
    ADD COLUMN via_click BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN total_clicks BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN viewers BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN clickers BIGINT NOT NULL DEFAULT 0;
ALTER TABLE rollups_element_weeks
    ADD COLUMN via_click BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN total_clicks BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN viewers BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN clickers BIGINT NOT NULL DEFAULT 0;

UPDATE rollups_element_days AS e SET
    via_click = d.via_click,
    total_clicks = d.total_clicks,
    viewers = d.viewers,
    clickers = d.clickers
FROM (
    SELECT site, day, element, SUM(via_click) AS via_click, SUM(total_clicks) AS total_clicks,
           SUM(viewers) AS viewers, SUM(clickers) AS clickers
    FROM rollups_daily
    GROUP BY site, day, element
) AS d
WHERE e.site = d.site AND e.day = d.day AND e.element = d.element;

UPDATE rollups_element_weeks AS w SET
    via_click = d.via_click,
    total_clicks = d.total_clicks,
    viewers = d.viewers,
    clickers = d.clickers
FROM (
    SELECT site, (day + 3) / 7 AS week, element, SUM(via_click) AS via_click,
           SUM(total_clicks) AS total_clicks, SUM(viewers) AS viewers, SUM(clickers) AS clickers
    FROM rollups_element_days
    GROUP BY site, (day + 3) / 7, element
) AS d
WHERE w.site = d.site AND w.week = d.week AND w.element = d.element;

CREATE OR REPLACE FUNCTION rollups_element_days_on_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO rollups_element_days AS e (site, day, element, kind, impressions, via_click, clicks,
                                           total_clicks, viewers, clickers)
    SELECT site, day, element, MAX(kind), SUM(impressions), SUM(via_click), SUM(clicks),
           SUM(total_clicks), SUM(viewers), SUM(clickers)
    FROM new_rows
    GROUP BY site, day, element
    ORDER BY site, day, element
    ON CONFLICT (site, day, element) DO UPDATE SET
        kind = excluded.kind,
        impressions = e.impressions + excluded.impressions,
        via_click = e.via_click + excluded.via_click,
        clicks = e.clicks + excluded.clicks,
        total_clicks = e.total_clicks + excluded.total_clicks,
        viewers = e.viewers + excluded.viewers,
        clickers = e.clickers + excluded.clickers;
    RETURN NULL;
END $$;

-- A daily row's key never changes, only its counts.
CREATE OR REPLACE FUNCTION rollups_element_days_on_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO rollups_element_days AS e (site, day, element, kind, impressions, via_click, clicks,
                                           total_clicks, viewers, clickers)
    SELECT n.site, n.day, n.element, MAX(n.kind), SUM(n.impressions - o.impressions),
           SUM(n.via_click - o.via_click), SUM(n.clicks - o.clicks),
           SUM(n.total_clicks - o.total_clicks), SUM(n.viewers - o.viewers),
           SUM(n.clickers - o.clickers)
    FROM new_rows n JOIN old_rows o USING (site, day, element, variant, page)
    GROUP BY n.site, n.day, n.element
    ORDER BY n.site, n.day, n.element
    ON CONFLICT (site, day, element) DO UPDATE SET
        kind = excluded.kind,
        impressions = e.impressions + excluded.impressions,
        via_click = e.via_click + excluded.via_click,
        clicks = e.clicks + excluded.clicks,
        total_clicks = e.total_clicks + excluded.total_clicks,
        viewers = e.viewers + excluded.viewers,
        clickers = e.clickers + excluded.clickers;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION rollups_element_days_on_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE rollups_element_days AS e SET
        impressions = e.impressions - g.impressions,
        via_click = e.via_click - g.via_click,
        clicks = e.clicks - g.clicks,
        total_clicks = e.total_clicks - g.total_clicks,
        viewers = e.viewers - g.viewers,
        clickers = e.clickers - g.clickers
    FROM (
        SELECT site, day, element, SUM(impressions) AS impressions, SUM(via_click) AS via_click,
               SUM(clicks) AS clicks, SUM(total_clicks) AS total_clicks, SUM(viewers) AS viewers,
               SUM(clickers) AS clickers
        FROM old_rows
        GROUP BY site, day, element
    ) AS g
    WHERE e.site = g.site AND e.day = g.day AND e.element = g.element;
    DELETE FROM rollups_element_days AS e
    USING (SELECT DISTINCT site, day, element FROM old_rows) AS g
    WHERE e.site = g.site AND e.day = g.day AND e.element = g.element
      AND e.impressions = 0 AND e.via_click = 0 AND e.clicks = 0 AND e.total_clicks = 0
      AND e.viewers = 0 AND e.clickers = 0;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION rollups_element_weeks_on_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO rollups_element_weeks AS w (site, week, element, kind, impressions, via_click, clicks,
                                            total_clicks, viewers, clickers)
    SELECT site, (day + 3) / 7, element, MAX(kind), SUM(impressions), SUM(via_click), SUM(clicks),
           SUM(total_clicks), SUM(viewers), SUM(clickers)
    FROM new_rows
    GROUP BY site, (day + 3) / 7, element
    HAVING SUM(impressions) <> 0 OR SUM(via_click) <> 0 OR SUM(clicks) <> 0
        OR SUM(total_clicks) <> 0 OR SUM(viewers) <> 0 OR SUM(clickers) <> 0
    ORDER BY site, (day + 3) / 7, element
    ON CONFLICT (site, week, element) DO UPDATE SET
        kind = excluded.kind,
        impressions = w.impressions + excluded.impressions,
        via_click = w.via_click + excluded.via_click,
        clicks = w.clicks + excluded.clicks,
        total_clicks = w.total_clicks + excluded.total_clicks,
        viewers = w.viewers + excluded.viewers,
        clickers = w.clickers + excluded.clickers;
    RETURN NULL;
END $$;

-- A daily row's key never changes, only its counts.
CREATE OR REPLACE FUNCTION rollups_element_weeks_on_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO rollups_element_weeks AS w (site, week, element, kind, impressions, via_click, clicks,
                                            total_clicks, viewers, clickers)
    SELECT n.site, (n.day + 3) / 7, n.element, MAX(n.kind), SUM(n.impressions - o.impressions),
           SUM(n.via_click - o.via_click), SUM(n.clicks - o.clicks),
           SUM(n.total_clicks - o.total_clicks), SUM(n.viewers - o.viewers),
           SUM(n.clickers - o.clickers)
    FROM new_rows n JOIN old_rows o USING (site, day, element)
    GROUP BY n.site, (n.day + 3) / 7, n.element
    HAVING SUM(n.impressions - o.impressions) <> 0 OR SUM(n.via_click - o.via_click) <> 0
        OR SUM(n.clicks - o.clicks) <> 0 OR SUM(n.total_clicks - o.total_clicks) <> 0
        OR SUM(n.viewers - o.viewers) <> 0 OR SUM(n.clickers - o.clickers) <> 0
    ORDER BY n.site, (n.day + 3) / 7, n.element
    ON CONFLICT (site, week, element) DO UPDATE SET
        kind = excluded.kind,
        impressions = w.impressions + excluded.impressions,
        via_click = w.via_click + excluded.via_click,
        clicks = w.clicks + excluded.clicks,
        total_clicks = w.total_clicks + excluded.total_clicks,
        viewers = w.viewers + excluded.viewers,
        clickers = w.clickers + excluded.clickers;
    DELETE FROM rollups_element_weeks AS w
    USING (
        SELECT DISTINCT n.site, (n.day + 3) / 7 AS week, n.element
        FROM new_rows n JOIN old_rows o USING (site, day, element)
        WHERE n.impressions < o.impressions OR n.via_click < o.via_click OR n.clicks < o.clicks
           OR n.total_clicks < o.total_clicks OR n.viewers < o.viewers OR n.clickers < o.clickers
    ) AS g
    WHERE w.site = g.site AND w.week = g.week AND w.element = g.element
      AND w.impressions = 0 AND w.via_click = 0 AND w.clicks = 0 AND w.total_clicks = 0
      AND w.viewers = 0 AND w.clickers = 0;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION rollups_element_weeks_on_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE rollups_element_weeks AS w SET
        impressions = w.impressions - g.impressions,
        via_click = w.via_click - g.via_click,
        clicks = w.clicks - g.clicks,
        total_clicks = w.total_clicks - g.total_clicks,
        viewers = w.viewers - g.viewers,
        clickers = w.clickers - g.clickers
    FROM (
        SELECT site, (day + 3) / 7 AS week, element, SUM(impressions) AS impressions,
               SUM(via_click) AS via_click, SUM(clicks) AS clicks, SUM(total_clicks) AS total_clicks,
               SUM(viewers) AS viewers, SUM(clickers) AS clickers
        FROM old_rows
        GROUP BY site, (day + 3) / 7, element
    ) AS g
    WHERE w.site = g.site AND w.week = g.week AND w.element = g.element;
    DELETE FROM rollups_element_weeks AS w
    USING (SELECT DISTINCT site, (day + 3) / 7 AS week, element FROM old_rows) AS g
    WHERE w.site = g.site AND w.week = g.week AND w.element = g.element
      AND w.impressions = 0 AND w.via_click = 0 AND w.clicks = 0 AND w.total_clicks = 0
      AND w.viewers = 0 AND w.clickers = 0;
    RETURN NULL;
END $$;
