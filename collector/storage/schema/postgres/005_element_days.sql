-- ctrlens schema version 5 (PostgreSQL): per-element daily counts, for the overview's sparklines.
--
-- The same table as SQLite's version 5: `rollups_daily` summed over variants and pages, one row
-- per element and UTC day. Kept by statement triggers on `rollups_daily` with transition
-- tables, like versions 2 and 4.

CREATE TABLE rollups_element_days (
    site TEXT NOT NULL,
    day BIGINT NOT NULL,
    element TEXT NOT NULL,
    kind TEXT NOT NULL,
    impressions BIGINT NOT NULL DEFAULT 0,
    clicks BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (site, day, element)
);

INSERT INTO rollups_element_days (site, day, element, kind, impressions, clicks)
SELECT site, day, element, MAX(kind), SUM(impressions), SUM(clicks)
FROM rollups_daily
GROUP BY site, day, element;

CREATE FUNCTION rollups_element_days_on_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO rollups_element_days AS e (site, day, element, kind, impressions, clicks)
    SELECT site, day, element, MAX(kind), SUM(impressions), SUM(clicks)
    FROM new_rows
    GROUP BY site, day, element
    ORDER BY site, day, element
    ON CONFLICT (site, day, element) DO UPDATE SET
        kind = excluded.kind,
        impressions = e.impressions + excluded.impressions,
        clicks = e.clicks + excluded.clicks;
    RETURN NULL;
END $$;

-- A daily row's key never changes, only its counts.
CREATE FUNCTION rollups_element_days_on_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO rollups_element_days AS e (site, day, element, kind, impressions, clicks)
    SELECT n.site, n.day, n.element, MAX(n.kind), SUM(n.impressions - o.impressions),
           SUM(n.clicks - o.clicks)
    FROM new_rows n JOIN old_rows o USING (site, day, element, variant, page)
    GROUP BY n.site, n.day, n.element
    ORDER BY n.site, n.day, n.element
    ON CONFLICT (site, day, element) DO UPDATE SET
        kind = excluded.kind,
        impressions = e.impressions + excluded.impressions,
        clicks = e.clicks + excluded.clicks;
    RETURN NULL;
END $$;

CREATE FUNCTION rollups_element_days_on_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE rollups_element_days AS e SET
        impressions = e.impressions - g.impressions,
        clicks = e.clicks - g.clicks
    FROM (
        SELECT site, day, element, SUM(impressions) AS impressions, SUM(clicks) AS clicks
        FROM old_rows
        GROUP BY site, day, element
    ) AS g
    WHERE e.site = g.site AND e.day = g.day AND e.element = g.element;
    DELETE FROM rollups_element_days AS e
    USING (SELECT DISTINCT site, day, element FROM old_rows) AS g
    WHERE e.site = g.site AND e.day = g.day AND e.element = g.element
      AND e.impressions = 0 AND e.clicks = 0;
    RETURN NULL;
END $$;

CREATE TRIGGER rollups_element_days_on_insert AFTER INSERT ON rollups_daily
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION rollups_element_days_on_insert();
CREATE TRIGGER rollups_element_days_on_update AFTER UPDATE ON rollups_daily
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION rollups_element_days_on_update();
CREATE TRIGGER rollups_element_days_on_delete AFTER DELETE ON rollups_daily
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION rollups_element_days_on_delete();
