-- ctrlens schema version 5 (SQLite): per-element daily counts, for the overview's sparklines.
--
-- `rollups_element_days` holds `rollups_daily` summed over variants and pages: one row per
-- element and UTC day, so a 30-day sparkline column reads 30 rows per element instead of 30 per
-- (element, variant, page) cell. Kept by triggers on `rollups_daily` in the same transaction.
-- Sparklines filtered by variant or page still read `rollups_daily`.

CREATE TABLE rollups_element_days (
    site TEXT NOT NULL,
    day INTEGER NOT NULL,
    element TEXT NOT NULL,
    kind TEXT NOT NULL,
    impressions INTEGER NOT NULL DEFAULT 0,
    clicks INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (site, day, element)
) WITHOUT ROWID;

INSERT INTO rollups_element_days (site, day, element, kind, impressions, clicks)
SELECT site, day, element, MAX(kind), SUM(impressions), SUM(clicks)
FROM rollups_daily
GROUP BY site, day, element;

CREATE TRIGGER rollups_element_days_on_insert AFTER INSERT ON rollups_daily
BEGIN
    INSERT INTO rollups_element_days (site, day, element, kind, impressions, clicks)
    VALUES (NEW.site, NEW.day, NEW.element, NEW.kind, NEW.impressions, NEW.clicks)
    ON CONFLICT (site, day, element) DO UPDATE SET
        kind = excluded.kind,
        impressions = rollups_element_days.impressions + excluded.impressions,
        clicks = rollups_element_days.clicks + excluded.clicks;
END;

-- A daily row's key never changes, only its counts.
CREATE TRIGGER rollups_element_days_on_update AFTER UPDATE OF impressions, clicks, kind ON rollups_daily
BEGIN
    UPDATE rollups_element_days SET
        kind = NEW.kind,
        impressions = impressions + NEW.impressions - OLD.impressions,
        clicks = clicks + NEW.clicks - OLD.clicks
    WHERE site = NEW.site AND day = NEW.day AND element = NEW.element;
END;

CREATE TRIGGER rollups_element_days_on_delete AFTER DELETE ON rollups_daily
BEGIN
    UPDATE rollups_element_days SET
        impressions = impressions - OLD.impressions,
        clicks = clicks - OLD.clicks
    WHERE site = OLD.site AND day = OLD.day AND element = OLD.element;
    DELETE FROM rollups_element_days
    WHERE site = OLD.site AND day = OLD.day AND element = OLD.element AND impressions = 0 AND clicks = 0;
END;
