-- ctrlens schema version 14 (SQLite): per-element weekly counts, for the overview's range reads.
--
-- The overview sums each element over its range: whole weeks used to be read as 7 rows per element
-- from the per-element daily tables (versions 5 and 7). These three tables hold those daily tables
-- summed per week (`week` = (day + 3) / 7, as `rollups_weekly` in version 4), so a 30-day range
-- reads about 4 weekly and 2 daily rows per element instead of 30 (bench/dashboard.py).
-- Kept by triggers on the per-element daily tables, in the same transaction; a week whose counts
-- fall to zero is deleted, like `rollups_element_days`, and the reads take whole weeks from here
-- (storage/reads.py, storage/funnel.py).

CREATE TABLE rollups_element_weeks (
    site TEXT NOT NULL,
    week INTEGER NOT NULL,
    element TEXT NOT NULL,
    kind TEXT NOT NULL,
    impressions INTEGER NOT NULL DEFAULT 0,
    clicks INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (site, week, element)
) WITHOUT ROWID;

INSERT INTO rollups_element_weeks (site, week, element, kind, impressions, clicks)
SELECT site, (day + 3) / 7, element, MAX(kind), SUM(impressions), SUM(clicks)
FROM rollups_element_days
GROUP BY site, (day + 3) / 7, element
HAVING SUM(impressions) <> 0 OR SUM(clicks) <> 0;

CREATE TRIGGER rollups_element_weeks_on_insert AFTER INSERT ON rollups_element_days
BEGIN
    INSERT INTO rollups_element_weeks (site, week, element, kind, impressions, clicks)
    SELECT NEW.site, (NEW.day + 3) / 7, NEW.element, NEW.kind, NEW.impressions, NEW.clicks
    WHERE NEW.impressions <> 0 OR NEW.clicks <> 0
    ON CONFLICT (site, week, element) DO UPDATE SET
        kind = excluded.kind,
        impressions = rollups_element_weeks.impressions + excluded.impressions,
        clicks = rollups_element_weeks.clicks + excluded.clicks;
END;

-- A daily row's key never changes, only its counts. A change is upserted, not only updated: a
-- week deleted at zero while some of its days stayed (at zero) comes back when one of them moves.
-- Rows and updates that count nothing write nothing (the daily triggers rewrite every column on
-- each update), and a week brought to zero goes (the funnel's daily tables are taken down by
-- updates, not deletes), so no week is kept at zero; `kind` follows the last change of the counts.
CREATE TRIGGER rollups_element_weeks_on_update AFTER UPDATE OF impressions, clicks, kind ON rollups_element_days
BEGIN
    INSERT INTO rollups_element_weeks (site, week, element, kind, impressions, clicks)
    SELECT NEW.site, (NEW.day + 3) / 7, NEW.element, NEW.kind, NEW.impressions - OLD.impressions,
           NEW.clicks - OLD.clicks
    WHERE NEW.impressions <> OLD.impressions OR NEW.clicks <> OLD.clicks
    ON CONFLICT (site, week, element) DO UPDATE SET
        kind = excluded.kind,
        impressions = rollups_element_weeks.impressions + excluded.impressions,
        clicks = rollups_element_weeks.clicks + excluded.clicks;
    DELETE FROM rollups_element_weeks
    WHERE (NEW.impressions < OLD.impressions OR NEW.clicks < OLD.clicks)
      AND site = NEW.site AND week = (NEW.day + 3) / 7 AND element = NEW.element
      AND impressions = 0 AND clicks = 0;
END;

CREATE TRIGGER rollups_element_weeks_on_delete AFTER DELETE ON rollups_element_days
BEGIN
    UPDATE rollups_element_weeks SET
        impressions = impressions - OLD.impressions,
        clicks = clicks - OLD.clicks
    WHERE site = OLD.site AND week = (OLD.day + 3) / 7 AND element = OLD.element;
    DELETE FROM rollups_element_weeks
    WHERE site = OLD.site AND week = (OLD.day + 3) / 7 AND element = OLD.element
      AND impressions = 0 AND clicks = 0;
END;

CREATE TABLE presence_element_weeks (
    site TEXT NOT NULL,
    week INTEGER NOT NULL,
    element TEXT NOT NULL,
    present INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (site, week, element)
) WITHOUT ROWID;

INSERT INTO presence_element_weeks (site, week, element, present)
SELECT site, (day + 3) / 7, element, SUM(present)
FROM presence_element_days
GROUP BY site, (day + 3) / 7, element
HAVING SUM(present) <> 0;

CREATE TRIGGER presence_element_weeks_on_insert AFTER INSERT ON presence_element_days
BEGIN
    INSERT INTO presence_element_weeks (site, week, element, present)
    SELECT NEW.site, (NEW.day + 3) / 7, NEW.element, NEW.present
    WHERE NEW.present <> 0
    ON CONFLICT (site, week, element) DO UPDATE SET
        present = presence_element_weeks.present + excluded.present;
END;

CREATE TRIGGER presence_element_weeks_on_update AFTER UPDATE OF present ON presence_element_days
BEGIN
    INSERT INTO presence_element_weeks (site, week, element, present)
    SELECT NEW.site, (NEW.day + 3) / 7, NEW.element, NEW.present - OLD.present
    WHERE NEW.present <> OLD.present
    ON CONFLICT (site, week, element) DO UPDATE SET
        present = presence_element_weeks.present + excluded.present;
    DELETE FROM presence_element_weeks
    WHERE NEW.present < OLD.present
      AND site = NEW.site AND week = (NEW.day + 3) / 7 AND element = NEW.element AND present = 0;
END;

CREATE TRIGGER presence_element_weeks_on_delete AFTER DELETE ON presence_element_days
BEGIN
    UPDATE presence_element_weeks SET present = present - OLD.present
    WHERE site = OLD.site AND week = (OLD.day + 3) / 7 AND element = OLD.element;
    DELETE FROM presence_element_weeks
    WHERE site = OLD.site AND week = (OLD.day + 3) / 7 AND element = OLD.element AND present = 0;
END;

-- `value` is left out of the zero test: only credited conversions carry one, and a float's
-- subtractions may not come back to exactly 0.
CREATE TABLE goal_element_weeks (
    site TEXT NOT NULL,
    week INTEGER NOT NULL,
    goal TEXT NOT NULL,
    element TEXT NOT NULL,
    conversions INTEGER NOT NULL DEFAULT 0,
    assisted INTEGER NOT NULL DEFAULT 0,
    value REAL NOT NULL DEFAULT 0,
    PRIMARY KEY (site, week, goal, element)
) WITHOUT ROWID;

INSERT INTO goal_element_weeks (site, week, goal, element, conversions, assisted, value)
SELECT site, (day + 3) / 7, goal, element, SUM(conversions), SUM(assisted), SUM(value)
FROM goal_element_days
GROUP BY site, (day + 3) / 7, goal, element
HAVING SUM(conversions) <> 0 OR SUM(assisted) <> 0;

CREATE TRIGGER goal_element_weeks_on_insert AFTER INSERT ON goal_element_days
BEGIN
    INSERT INTO goal_element_weeks (site, week, goal, element, conversions, assisted, value)
    SELECT NEW.site, (NEW.day + 3) / 7, NEW.goal, NEW.element, NEW.conversions, NEW.assisted, NEW.value
    WHERE NEW.conversions <> 0 OR NEW.assisted <> 0 OR NEW.value <> 0
    ON CONFLICT (site, week, goal, element) DO UPDATE SET
        conversions = goal_element_weeks.conversions + excluded.conversions,
        assisted = goal_element_weeks.assisted + excluded.assisted,
        value = goal_element_weeks.value + excluded.value;
END;

CREATE TRIGGER goal_element_weeks_on_update AFTER UPDATE OF conversions, assisted, value ON goal_element_days
BEGIN
    INSERT INTO goal_element_weeks (site, week, goal, element, conversions, assisted, value)
    SELECT NEW.site, (NEW.day + 3) / 7, NEW.goal, NEW.element, NEW.conversions - OLD.conversions,
           NEW.assisted - OLD.assisted, NEW.value - OLD.value
    WHERE NEW.conversions <> OLD.conversions OR NEW.assisted <> OLD.assisted OR NEW.value <> OLD.value
    ON CONFLICT (site, week, goal, element) DO UPDATE SET
        conversions = goal_element_weeks.conversions + excluded.conversions,
        assisted = goal_element_weeks.assisted + excluded.assisted,
        value = goal_element_weeks.value + excluded.value;
    DELETE FROM goal_element_weeks
    WHERE (NEW.conversions < OLD.conversions OR NEW.assisted < OLD.assisted)
      AND site = NEW.site AND week = (NEW.day + 3) / 7 AND goal = NEW.goal AND element = NEW.element
      AND conversions = 0 AND assisted = 0;
END;

CREATE TRIGGER goal_element_weeks_on_delete AFTER DELETE ON goal_element_days
BEGIN
    UPDATE goal_element_weeks SET
        conversions = conversions - OLD.conversions,
        assisted = assisted - OLD.assisted,
        value = value - OLD.value
    WHERE site = OLD.site AND week = (OLD.day + 3) / 7 AND goal = OLD.goal AND element = OLD.element;
    DELETE FROM goal_element_weeks
    WHERE site = OLD.site AND week = (OLD.day + 3) / 7 AND goal = OLD.goal AND element = OLD.element
      AND conversions = 0 AND assisted = 0;
END;
