-- ctrlens schema version 4 (SQLite): weekly rollups, so long ranges read a few rows per element.
--
-- `rollups_weekly` holds `rollups_daily` summed per week: `week` = (day + 3) / 7 in epoch days,
-- weeks starting on Monday (epoch day 0 was a Thursday). Triggers on `rollups_daily` keep it in
-- step in the same transaction, as version 2's triggers keep the daily table in step with the
-- hourly one. A 30-day range then reads about 4 weekly and 2 daily rows per cell instead of 30,
-- and the dashboard's GROUP BY sorts a fifth of the rows (bench/dashboard.py).

CREATE TABLE rollups_weekly (
    site TEXT NOT NULL,
    week INTEGER NOT NULL,
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
    PRIMARY KEY (site, week, element, variant, page)
) WITHOUT ROWID;

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

CREATE TRIGGER rollups_weekly_on_insert AFTER INSERT ON rollups_daily
BEGIN
    INSERT INTO rollups_weekly (site, week, element, variant, page, kind, impressions, via_click,
                                clicks, total_clicks, viewers, clickers)
    VALUES (NEW.site, (NEW.day + 3) / 7, NEW.element, NEW.variant, NEW.page, NEW.kind,
            NEW.impressions, NEW.via_click, NEW.clicks, NEW.total_clicks, NEW.viewers, NEW.clickers)
    ON CONFLICT (site, week, element, variant, page) DO UPDATE SET
        kind = excluded.kind,
        impressions = rollups_weekly.impressions + excluded.impressions,
        via_click = rollups_weekly.via_click + excluded.via_click,
        clicks = rollups_weekly.clicks + excluded.clicks,
        total_clicks = rollups_weekly.total_clicks + excluded.total_clicks,
        viewers = rollups_weekly.viewers + excluded.viewers,
        clickers = rollups_weekly.clickers + excluded.clickers;
END;

-- A daily row's key (site, day, element, variant, page) never changes, only its counts.
CREATE TRIGGER rollups_weekly_on_update AFTER UPDATE ON rollups_daily
BEGIN
    UPDATE rollups_weekly SET
        kind = NEW.kind,
        impressions = impressions + NEW.impressions - OLD.impressions,
        via_click = via_click + NEW.via_click - OLD.via_click,
        clicks = clicks + NEW.clicks - OLD.clicks,
        total_clicks = total_clicks + NEW.total_clicks - OLD.total_clicks,
        viewers = viewers + NEW.viewers - OLD.viewers,
        clickers = clickers + NEW.clickers - OLD.clickers
    WHERE site = NEW.site AND week = (NEW.day + 3) / 7 AND element = NEW.element
      AND variant = NEW.variant AND page = NEW.page;
END;

CREATE TRIGGER rollups_weekly_on_delete AFTER DELETE ON rollups_daily
BEGIN
    UPDATE rollups_weekly SET
        impressions = impressions - OLD.impressions,
        via_click = via_click - OLD.via_click,
        clicks = clicks - OLD.clicks,
        total_clicks = total_clicks - OLD.total_clicks,
        viewers = viewers - OLD.viewers,
        clickers = clickers - OLD.clickers
    WHERE site = OLD.site AND week = (OLD.day + 3) / 7 AND element = OLD.element
      AND variant = OLD.variant AND page = OLD.page;
    DELETE FROM rollups_weekly
    WHERE site = OLD.site AND week = (OLD.day + 3) / 7 AND element = OLD.element
      AND variant = OLD.variant AND page = OLD.page AND impressions = 0 AND total_clicks = 0;
END;
