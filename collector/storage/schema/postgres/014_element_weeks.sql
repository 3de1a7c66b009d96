-- ctrlens schema version 14 (PostgreSQL): per-element weekly counts, for the overview's range reads.
--
-- The same tables as SQLite's version 14: the per-element daily tables of versions 5 and 7 summed
-- per week (`week` = (day + 3) / 7, as `rollups_weekly` in version 4). Kept by statement triggers
-- on those daily tables with transition tables, like version 5. Rows and updates that count
-- nothing write nothing, and a week brought to zero goes (by a delete or, for the funnel's daily
-- tables, which are taken down by updates, an update), so no week is kept at zero; `kind` follows
-- the last change of the counts.

CREATE TABLE rollups_element_weeks (
    site TEXT NOT NULL,
    week BIGINT NOT NULL,
    element TEXT NOT NULL,
    kind TEXT NOT NULL,
    impressions BIGINT NOT NULL DEFAULT 0,
    clicks BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (site, week, element)
);

INSERT INTO rollups_element_weeks (site, week, element, kind, impressions, clicks)
SELECT site, (day + 3) / 7, element, MAX(kind), SUM(impressions), SUM(clicks)
FROM rollups_element_days
GROUP BY site, (day + 3) / 7, element
HAVING SUM(impressions) <> 0 OR SUM(clicks) <> 0;

CREATE FUNCTION rollups_element_weeks_on_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO rollups_element_weeks AS w (site, week, element, kind, impressions, clicks)
    SELECT site, (day + 3) / 7, element, MAX(kind), SUM(impressions), SUM(clicks)
    FROM new_rows
    GROUP BY site, (day + 3) / 7, element
    HAVING SUM(impressions) <> 0 OR SUM(clicks) <> 0
    ORDER BY site, (day + 3) / 7, element
    ON CONFLICT (site, week, element) DO UPDATE SET
        kind = excluded.kind,
        impressions = w.impressions + excluded.impressions,
        clicks = w.clicks + excluded.clicks;
    RETURN NULL;
END $$;

-- A daily row's key never changes, only its counts.
CREATE FUNCTION rollups_element_weeks_on_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO rollups_element_weeks AS w (site, week, element, kind, impressions, clicks)
    SELECT n.site, (n.day + 3) / 7, n.element, MAX(n.kind), SUM(n.impressions - o.impressions),
           SUM(n.clicks - o.clicks)
    FROM new_rows n JOIN old_rows o USING (site, day, element)
    GROUP BY n.site, (n.day + 3) / 7, n.element
    HAVING SUM(n.impressions - o.impressions) <> 0 OR SUM(n.clicks - o.clicks) <> 0
    ORDER BY n.site, (n.day + 3) / 7, n.element
    ON CONFLICT (site, week, element) DO UPDATE SET
        kind = excluded.kind,
        impressions = w.impressions + excluded.impressions,
        clicks = w.clicks + excluded.clicks;
    DELETE FROM rollups_element_weeks AS w
    USING (
        SELECT DISTINCT n.site, (n.day + 3) / 7 AS week, n.element
        FROM new_rows n JOIN old_rows o USING (site, day, element)
        WHERE n.impressions < o.impressions OR n.clicks < o.clicks
    ) AS g
    WHERE w.site = g.site AND w.week = g.week AND w.element = g.element
      AND w.impressions = 0 AND w.clicks = 0;
    RETURN NULL;
END $$;

CREATE FUNCTION rollups_element_weeks_on_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE rollups_element_weeks AS w SET
        impressions = w.impressions - g.impressions,
        clicks = w.clicks - g.clicks
    FROM (
        SELECT site, (day + 3) / 7 AS week, element, SUM(impressions) AS impressions,
               SUM(clicks) AS clicks
        FROM old_rows
        GROUP BY site, (day + 3) / 7, element
    ) AS g
    WHERE w.site = g.site AND w.week = g.week AND w.element = g.element;
    DELETE FROM rollups_element_weeks AS w
    USING (SELECT DISTINCT site, (day + 3) / 7 AS week, element FROM old_rows) AS g
    WHERE w.site = g.site AND w.week = g.week AND w.element = g.element
      AND w.impressions = 0 AND w.clicks = 0;
    RETURN NULL;
END $$;

CREATE TRIGGER rollups_element_weeks_on_insert AFTER INSERT ON rollups_element_days
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION rollups_element_weeks_on_insert();
CREATE TRIGGER rollups_element_weeks_on_update AFTER UPDATE ON rollups_element_days
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION rollups_element_weeks_on_update();
CREATE TRIGGER rollups_element_weeks_on_delete AFTER DELETE ON rollups_element_days
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION rollups_element_weeks_on_delete();

CREATE TABLE presence_element_weeks (
    site TEXT NOT NULL,
    week BIGINT NOT NULL,
    element TEXT NOT NULL,
    present BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (site, week, element)
);

INSERT INTO presence_element_weeks (site, week, element, present)
SELECT site, (day + 3) / 7, element, SUM(present)
FROM presence_element_days
GROUP BY site, (day + 3) / 7, element
HAVING SUM(present) <> 0;

CREATE FUNCTION presence_element_weeks_on_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO presence_element_weeks AS w (site, week, element, present)
    SELECT site, (day + 3) / 7, element, SUM(present)
    FROM new_rows
    GROUP BY site, (day + 3) / 7, element
    HAVING SUM(present) <> 0
    ORDER BY site, (day + 3) / 7, element
    ON CONFLICT (site, week, element) DO UPDATE SET present = w.present + excluded.present;
    RETURN NULL;
END $$;

CREATE FUNCTION presence_element_weeks_on_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO presence_element_weeks AS w (site, week, element, present)
    SELECT n.site, (n.day + 3) / 7, n.element, SUM(n.present - o.present)
    FROM new_rows n JOIN old_rows o USING (site, day, element)
    GROUP BY n.site, (n.day + 3) / 7, n.element
    HAVING SUM(n.present - o.present) <> 0
    ORDER BY n.site, (n.day + 3) / 7, n.element
    ON CONFLICT (site, week, element) DO UPDATE SET present = w.present + excluded.present;
    DELETE FROM presence_element_weeks AS w
    USING (
        SELECT DISTINCT n.site, (n.day + 3) / 7 AS week, n.element
        FROM new_rows n JOIN old_rows o USING (site, day, element)
        WHERE n.present < o.present
    ) AS g
    WHERE w.site = g.site AND w.week = g.week AND w.element = g.element AND w.present = 0;
    RETURN NULL;
END $$;

CREATE FUNCTION presence_element_weeks_on_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE presence_element_weeks AS w SET present = w.present - g.present
    FROM (
        SELECT site, (day + 3) / 7 AS week, element, SUM(present) AS present
        FROM old_rows
        GROUP BY site, (day + 3) / 7, element
    ) AS g
    WHERE w.site = g.site AND w.week = g.week AND w.element = g.element;
    DELETE FROM presence_element_weeks AS w
    USING (SELECT DISTINCT site, (day + 3) / 7 AS week, element FROM old_rows) AS g
    WHERE w.site = g.site AND w.week = g.week AND w.element = g.element AND w.present = 0;
    RETURN NULL;
END $$;

CREATE TRIGGER presence_element_weeks_on_insert AFTER INSERT ON presence_element_days
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION presence_element_weeks_on_insert();
CREATE TRIGGER presence_element_weeks_on_update AFTER UPDATE ON presence_element_days
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION presence_element_weeks_on_update();
CREATE TRIGGER presence_element_weeks_on_delete AFTER DELETE ON presence_element_days
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION presence_element_weeks_on_delete();

-- `value` is left out of the zero test: only credited conversions carry one, and a float's
-- subtractions may not come back to exactly 0.
CREATE TABLE goal_element_weeks (
    site TEXT NOT NULL,
    week BIGINT NOT NULL,
    goal TEXT NOT NULL,
    element TEXT NOT NULL,
    conversions BIGINT NOT NULL DEFAULT 0,
    assisted BIGINT NOT NULL DEFAULT 0,
    value DOUBLE PRECISION NOT NULL DEFAULT 0,
    PRIMARY KEY (site, week, goal, element)
);

INSERT INTO goal_element_weeks (site, week, goal, element, conversions, assisted, value)
SELECT site, (day + 3) / 7, goal, element, SUM(conversions), SUM(assisted), SUM(value)
FROM goal_element_days
GROUP BY site, (day + 3) / 7, goal, element
HAVING SUM(conversions) <> 0 OR SUM(assisted) <> 0;

CREATE FUNCTION goal_element_weeks_on_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO goal_element_weeks AS w (site, week, goal, element, conversions, assisted, value)
    SELECT site, (day + 3) / 7, goal, element, SUM(conversions), SUM(assisted), SUM(value)
    FROM new_rows
    GROUP BY site, (day + 3) / 7, goal, element
    HAVING SUM(conversions) <> 0 OR SUM(assisted) <> 0 OR SUM(value) <> 0
    ORDER BY site, (day + 3) / 7, goal, element
    ON CONFLICT (site, week, goal, element) DO UPDATE SET
        conversions = w.conversions + excluded.conversions,
        assisted = w.assisted + excluded.assisted,
        value = w.value + excluded.value;
    RETURN NULL;
END $$;

CREATE FUNCTION goal_element_weeks_on_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO goal_element_weeks AS w (site, week, goal, element, conversions, assisted, value)
    SELECT n.site, (n.day + 3) / 7, n.goal, n.element, SUM(n.conversions - o.conversions),
           SUM(n.assisted - o.assisted), SUM(n.value - o.value)
    FROM new_rows n JOIN old_rows o USING (site, day, goal, element)
    GROUP BY n.site, (n.day + 3) / 7, n.goal, n.element
    HAVING SUM(n.conversions - o.conversions) <> 0 OR SUM(n.assisted - o.assisted) <> 0
        OR SUM(n.value - o.value) <> 0
    ORDER BY n.site, (n.day + 3) / 7, n.goal, n.element
    ON CONFLICT (site, week, goal, element) DO UPDATE SET
        conversions = w.conversions + excluded.conversions,
        assisted = w.assisted + excluded.assisted,
        value = w.value + excluded.value;
    DELETE FROM goal_element_weeks AS w
    USING (
        SELECT DISTINCT n.site, (n.day + 3) / 7 AS week, n.goal, n.element
        FROM new_rows n JOIN old_rows o USING (site, day, goal, element)
        WHERE n.conversions < o.conversions OR n.assisted < o.assisted
    ) AS g
    WHERE w.site = g.site AND w.week = g.week AND w.goal = g.goal AND w.element = g.element
      AND w.conversions = 0 AND w.assisted = 0;
    RETURN NULL;
END $$;

CREATE FUNCTION goal_element_weeks_on_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE goal_element_weeks AS w SET
        conversions = w.conversions - g.conversions,
        assisted = w.assisted - g.assisted,
        value = w.value - g.value
    FROM (
        SELECT site, (day + 3) / 7 AS week, goal, element, SUM(conversions) AS conversions,
               SUM(assisted) AS assisted, SUM(value) AS value
        FROM old_rows
        GROUP BY site, (day + 3) / 7, goal, element
    ) AS g
    WHERE w.site = g.site AND w.week = g.week AND w.goal = g.goal AND w.element = g.element;
    DELETE FROM goal_element_weeks AS w
    USING (SELECT DISTINCT site, (day + 3) / 7 AS week, goal, element FROM old_rows) AS g
    WHERE w.site = g.site AND w.week = g.week AND w.goal = g.goal AND w.element = g.element
      AND w.conversions = 0 AND w.assisted = 0;
    RETURN NULL;
END $$;

CREATE TRIGGER goal_element_weeks_on_insert AFTER INSERT ON goal_element_days
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION goal_element_weeks_on_insert();
CREATE TRIGGER goal_element_weeks_on_update AFTER UPDATE ON goal_element_days
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION goal_element_weeks_on_update();
CREATE TRIGGER goal_element_weeks_on_delete AFTER DELETE ON goal_element_days
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION goal_element_weeks_on_delete();
