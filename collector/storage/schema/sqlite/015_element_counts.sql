-- ctrlens schema version 15 (SQLite): every count of a cell in the per-element tables.
--
-- `rollups_element_days` (version 5) and `rollups_element_weeks` (version 14) kept impressions and
-- clicks only, so the overview still summed the per-(element, variant, page) cells of
-- `rollups_weekly` and `rollups_daily` for its other counts: ~4,800 rows grouped by three text
-- keys for 200 elements over 30 days (bench/dashboard.py). Both tables now carry the six counts
-- of `rollups_daily` (storage/counts.py), so a range's sums per element can come from ~1,200
-- narrow rows (storage/reads.py, `element_totals`). The triggers of versions 5 and 14 on these
-- two tables are replaced by the same triggers over the six counts; the other weekly tables of
-- version 14 keep theirs.
--
-- A row goes when all six counts are zero. On rows the write path made, impressions and clicks
-- would decide alone (every count of a cell comes with an impression of it in the same hour), but
-- testing all six never drops a row whose other counts are not zero, whatever wrote them.
--
-- Existing data: the new columns are filled from `rollups_daily`, then the weeks from the filled
-- days, before the new triggers exist, so each row holds the sums the new triggers would have
-- kept; `kind` and the set of rows stay as they are.

DROP TRIGGER rollups_element_days_on_insert;
DROP TRIGGER rollups_element_days_on_update;
DROP TRIGGER rollups_element_days_on_delete;
DROP TRIGGER rollups_element_weeks_on_insert;
DROP TRIGGER rollups_element_weeks_on_update;
DROP TRIGGER rollups_element_weeks_on_delete;

ALTER TABLE rollups_element_days ADD COLUMN via_click INTEGER NOT NULL DEFAULT 0;
ALTER TABLE rollups_element_days ADD COLUMN total_clicks INTEGER NOT NULL DEFAULT 0;
ALTER TABLE rollups_element_days ADD COLUMN viewers INTEGER NOT NULL DEFAULT 0;
ALTER TABLE rollups_element_days ADD COLUMN clickers INTEGER NOT NULL DEFAULT 0;
ALTER TABLE rollups_element_weeks ADD COLUMN via_click INTEGER NOT NULL DEFAULT 0;
ALTER TABLE rollups_element_weeks ADD COLUMN total_clicks INTEGER NOT NULL DEFAULT 0;
ALTER TABLE rollups_element_weeks ADD COLUMN viewers INTEGER NOT NULL DEFAULT 0;
ALTER TABLE rollups_element_weeks ADD COLUMN clickers INTEGER NOT NULL DEFAULT 0;

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

CREATE TRIGGER rollups_element_days_on_insert AFTER INSERT ON rollups_daily
BEGIN
    INSERT INTO rollups_element_days (site, day, element, kind, impressions, via_click, clicks,
                                      total_clicks, viewers, clickers)
    VALUES (NEW.site, NEW.day, NEW.element, NEW.kind, NEW.impressions, NEW.via_click, NEW.clicks,
            NEW.total_clicks, NEW.viewers, NEW.clickers)
    ON CONFLICT (site, day, element) DO UPDATE SET
        kind = excluded.kind,
        impressions = rollups_element_days.impressions + excluded.impressions,
        via_click = rollups_element_days.via_click + excluded.via_click,
        clicks = rollups_element_days.clicks + excluded.clicks,
        total_clicks = rollups_element_days.total_clicks + excluded.total_clicks,
        viewers = rollups_element_days.viewers + excluded.viewers,
        clickers = rollups_element_days.clickers + excluded.clickers;
END;

-- A daily row's key never changes, only its counts.
CREATE TRIGGER rollups_element_days_on_update
AFTER UPDATE OF kind, impressions, via_click, clicks, total_clicks, viewers, clickers ON rollups_daily
BEGIN
    UPDATE rollups_element_days SET
        kind = NEW.kind,
        impressions = impressions + NEW.impressions - OLD.impressions,
        via_click = via_click + NEW.via_click - OLD.via_click,
        clicks = clicks + NEW.clicks - OLD.clicks,
        total_clicks = total_clicks + NEW.total_clicks - OLD.total_clicks,
        viewers = viewers + NEW.viewers - OLD.viewers,
        clickers = clickers + NEW.clickers - OLD.clickers
    WHERE site = NEW.site AND day = NEW.day AND element = NEW.element;
END;

CREATE TRIGGER rollups_element_days_on_delete AFTER DELETE ON rollups_daily
BEGIN
    UPDATE rollups_element_days SET
        impressions = impressions - OLD.impressions,
        via_click = via_click - OLD.via_click,
        clicks = clicks - OLD.clicks,
        total_clicks = total_clicks - OLD.total_clicks,
        viewers = viewers - OLD.viewers,
        clickers = clickers - OLD.clickers
    WHERE site = OLD.site AND day = OLD.day AND element = OLD.element;
    DELETE FROM rollups_element_days
    WHERE site = OLD.site AND day = OLD.day AND element = OLD.element
      AND impressions = 0 AND via_click = 0 AND clicks = 0 AND total_clicks = 0 AND viewers = 0
      AND clickers = 0;
END;

CREATE TRIGGER rollups_element_weeks_on_insert AFTER INSERT ON rollups_element_days
BEGIN
    INSERT INTO rollups_element_weeks (site, week, element, kind, impressions, via_click, clicks,
                                       total_clicks, viewers, clickers)
    SELECT NEW.site, (NEW.day + 3) / 7, NEW.element, NEW.kind, NEW.impressions, NEW.via_click,
           NEW.clicks, NEW.total_clicks, NEW.viewers, NEW.clickers
    WHERE NEW.impressions <> 0 OR NEW.via_click <> 0 OR NEW.clicks <> 0 OR NEW.total_clicks <> 0
       OR NEW.viewers <> 0 OR NEW.clickers <> 0
    ON CONFLICT (site, week, element) DO UPDATE SET
        kind = excluded.kind,
        impressions = rollups_element_weeks.impressions + excluded.impressions,
        via_click = rollups_element_weeks.via_click + excluded.via_click,
        clicks = rollups_element_weeks.clicks + excluded.clicks,
        total_clicks = rollups_element_weeks.total_clicks + excluded.total_clicks,
        viewers = rollups_element_weeks.viewers + excluded.viewers,
        clickers = rollups_element_weeks.clickers + excluded.clickers;
END;

-- As in version 14: a change is upserted, not only updated (a week deleted at zero while some of
-- its days stayed comes back when one of them moves); rows and updates that count nothing write
-- nothing; a week brought to zero goes; `kind` follows the last change of the counts.
CREATE TRIGGER rollups_element_weeks_on_update
AFTER UPDATE OF kind, impressions, via_click, clicks, total_clicks, viewers, clickers ON rollups_element_days
BEGIN
    INSERT INTO rollups_element_weeks (site, week, element, kind, impressions, via_click, clicks,
                                       total_clicks, viewers, clickers)
    SELECT NEW.site, (NEW.day + 3) / 7, NEW.element, NEW.kind, NEW.impressions - OLD.impressions,
           NEW.via_click - OLD.via_click, NEW.clicks - OLD.clicks, NEW.total_clicks - OLD.total_clicks,
           NEW.viewers - OLD.viewers, NEW.clickers - OLD.clickers
    WHERE NEW.impressions <> OLD.impressions OR NEW.via_click <> OLD.via_click
       OR NEW.clicks <> OLD.clicks OR NEW.total_clicks <> OLD.total_clicks
       OR NEW.viewers <> OLD.viewers OR NEW.clickers <> OLD.clickers
    ON CONFLICT (site, week, element) DO UPDATE SET
        kind = excluded.kind,
        impressions = rollups_element_weeks.impressions + excluded.impressions,
        via_click = rollups_element_weeks.via_click + excluded.via_click,
        clicks = rollups_element_weeks.clicks + excluded.clicks,
        total_clicks = rollups_element_weeks.total_clicks + excluded.total_clicks,
        viewers = rollups_element_weeks.viewers + excluded.viewers,
        clickers = rollups_element_weeks.clickers + excluded.clickers;
    DELETE FROM rollups_element_weeks
    WHERE (NEW.impressions < OLD.impressions OR NEW.via_click < OLD.via_click
           OR NEW.clicks < OLD.clicks OR NEW.total_clicks < OLD.total_clicks
           OR NEW.viewers < OLD.viewers OR NEW.clickers < OLD.clickers)
      AND site = NEW.site AND week = (NEW.day + 3) / 7 AND element = NEW.element
      AND impressions = 0 AND via_click = 0 AND clicks = 0 AND total_clicks = 0 AND viewers = 0
      AND clickers = 0;
END;

CREATE TRIGGER rollups_element_weeks_on_delete AFTER DELETE ON rollups_element_days
BEGIN
    UPDATE rollups_element_weeks SET
        impressions = impressions - OLD.impressions,
        via_click = via_click - OLD.via_click,
        clicks = clicks - OLD.clicks,
        total_clicks = total_clicks - OLD.total_clicks,
        viewers = viewers - OLD.viewers,
        clickers = clickers - OLD.clickers
    WHERE site = OLD.site AND week = (OLD.day + 3) / 7 AND element = OLD.element;
    DELETE FROM rollups_element_weeks
    WHERE site = OLD.site AND week = (OLD.day + 3) / 7 AND element = OLD.element
      AND impressions = 0 AND via_click = 0 AND clicks = 0 AND total_clicks = 0 AND viewers = 0
      AND clickers = 0;
END;
