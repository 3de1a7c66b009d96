-- ctrlens schema version 2 (SQLite): daily rollups for the dashboard's long ranges.
--
-- `rollups_daily` holds the hourly `rollups` summed per UTC day (`day` = epoch days, like
-- `breakdowns`). Triggers keep it equal to the sum of its hours in the same transaction as
-- every write to `rollups`, whatever wrote it (the collector, the demo, a bulk import), so the
-- write path needs no change and the two tables can never disagree. A 30-day overview then
-- reads about 30 rows per element cell instead of 720.
--
-- The key starts with (site, day) so a date range is one contiguous scan.

CREATE TABLE rollups_daily (
    site TEXT NOT NULL,
    day INTEGER NOT NULL,
    element TEXT NOT NULL,
    variant TEXT NOT NULL,
    page TEXT NOT NULL,
    kind TEXT NOT NULL,
    impressions INTEGER NOT NULL DEFAULT 0,
    via_click INTEGER NOT NULL DEFAULT 0,
    clicks INTEGER NOT NULL DEFAULT 0,
    total_clicks INTEGER NOT NULL DEFAULT 0,
    viewers INTEGER NOT NULL DEFAULT 0,
    clickers INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (site, day, element, variant, page)
) WITHOUT ROWID;
CREATE INDEX rollups_daily_by_element ON rollups_daily (site, element, day);

INSERT INTO rollups_daily (site, day, element, variant, page, kind, impressions, via_click, clicks,
                           total_clicks, viewers, clickers)
SELECT site, hour / 86400, element, variant, page, MAX(kind), SUM(impressions), SUM(via_click),
       SUM(clicks), SUM(total_clicks), SUM(viewers), SUM(clickers)
FROM rollups
GROUP BY site, hour / 86400, element, variant, page;

CREATE TRIGGER rollups_daily_on_insert AFTER INSERT ON rollups
BEGIN
    INSERT INTO rollups_daily (site, day, element, variant, page, kind, impressions, via_click,
                               clicks, total_clicks, viewers, clickers)
    VALUES (NEW.site, NEW.hour / 86400, NEW.element, NEW.variant, NEW.page, NEW.kind,
            NEW.impressions, NEW.via_click, NEW.clicks, NEW.total_clicks, NEW.viewers, NEW.clickers)
    ON CONFLICT (site, day, element, variant, page) DO UPDATE SET
        kind = excluded.kind,
        impressions = rollups_daily.impressions + excluded.impressions,
        via_click = rollups_daily.via_click + excluded.via_click,
        clicks = rollups_daily.clicks + excluded.clicks,
        total_clicks = rollups_daily.total_clicks + excluded.total_clicks,
        viewers = rollups_daily.viewers + excluded.viewers,
        clickers = rollups_daily.clickers + excluded.clickers;
END;

-- An upsert on `rollups` that finds its row fires this one (the DO UPDATE path). A rollup's key
-- (site, element, variant, page, hour) never changes, only its counts.
CREATE TRIGGER rollups_daily_on_update AFTER UPDATE ON rollups
BEGIN
    UPDATE rollups_daily SET
        kind = NEW.kind,
        impressions = impressions + NEW.impressions - OLD.impressions,
        via_click = via_click + NEW.via_click - OLD.via_click,
        clicks = clicks + NEW.clicks - OLD.clicks,
        total_clicks = total_clicks + NEW.total_clicks - OLD.total_clicks,
        viewers = viewers + NEW.viewers - OLD.viewers,
        clickers = clickers + NEW.clickers - OLD.clickers
    WHERE site = NEW.site AND day = NEW.hour / 86400 AND element = NEW.element
      AND variant = NEW.variant AND page = NEW.page;
END;

CREATE TRIGGER rollups_daily_on_delete AFTER DELETE ON rollups
BEGIN
    UPDATE rollups_daily SET
        impressions = impressions - OLD.impressions,
        via_click = via_click - OLD.via_click,
        clicks = clicks - OLD.clicks,
        total_clicks = total_clicks - OLD.total_clicks,
        viewers = viewers - OLD.viewers,
        clickers = clickers - OLD.clickers
    WHERE site = OLD.site AND day = OLD.hour / 86400 AND element = OLD.element
      AND variant = OLD.variant AND page = OLD.page;
    DELETE FROM rollups_daily
    WHERE site = OLD.site AND day = OLD.hour / 86400 AND element = OLD.element
      AND variant = OLD.variant AND page = OLD.page AND impressions = 0 AND total_clicks = 0;
END;
