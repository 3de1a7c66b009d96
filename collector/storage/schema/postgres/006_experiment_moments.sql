-- ctrlens schema version 6 (PostgreSQL): what visitor-clustered variance needs (docs/design.md §4, §5).
--
-- `experiment_visitors` is the visitor-day ledger: per site, UTC day, visitor, element and
-- variant, the impressions (page views with an impression of the element, as `rollups` counts
-- them) and clicks (page views with a click, as `rollups` counts them) of that visitor-day.
-- `experiment_moments` sums the ledger per site, element, variant and UTC day: the visitor-days
-- with an impression (`clusters`), ΣN, ΣC, ΣN², ΣC² and ΣN·C, and `experiment_moments_weekly` per
-- week. moments.py keeps them in the transaction that stores the raw events, so `impressions` and
-- `clicks` here equal the rollups'. `pageview_days` (below) serves the sample-ratio check.
--
-- Existing data: the ledger is rebuilt from `pageview_elements` (one row per page view and
-- element, with its visitor and its click), so every day whose page-view rows retention has not
-- deleted yet gets exact moments. Older days keep their rollups but have no moments; the
-- experiment views start at the oldest day with moments.

CREATE TABLE experiment_visitors (
    site TEXT NOT NULL,
    day BIGINT NOT NULL,
    visitor TEXT NOT NULL,
    element TEXT NOT NULL,
    variant TEXT NOT NULL,
    impressions BIGINT NOT NULL DEFAULT 0,
    clicks BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (site, day, visitor, element, variant)
);
-- Retention deletes by day.
CREATE INDEX experiment_visitors_by_day ON experiment_visitors (day);

CREATE TABLE experiment_moments (
    site TEXT NOT NULL,
    day BIGINT NOT NULL,
    element TEXT NOT NULL,
    variant TEXT NOT NULL,
    clusters BIGINT NOT NULL DEFAULT 0,
    impressions BIGINT NOT NULL DEFAULT 0,
    clicks BIGINT NOT NULL DEFAULT 0,
    impressions_sq BIGINT NOT NULL DEFAULT 0,
    clicks_sq BIGINT NOT NULL DEFAULT 0,
    cross_products BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (site, day, element, variant)
);

INSERT INTO experiment_visitors (site, day, visitor, element, variant, impressions, clicks)
SELECT site, hour / 86400, visitor, element, variant, COUNT(*), SUM(clicked)
FROM pageview_elements
GROUP BY site, hour / 86400, visitor, element, variant;

INSERT INTO experiment_moments (site, day, element, variant, clusters, impressions, clicks,
                                impressions_sq, clicks_sq, cross_products)
SELECT site, day, element, variant, COUNT(*), SUM(impressions), SUM(clicks),
       SUM(impressions * impressions), SUM(clicks * clicks), SUM(impressions * clicks)
FROM experiment_visitors
GROUP BY site, day, element, variant;

-- The moments per week (`week` = (day + 3) / 7, weeks from Monday, as `rollups_weekly`), kept by
-- moments.py beside the daily rows, so a long range reads a few rows per arm.
CREATE TABLE experiment_moments_weekly (
    site TEXT NOT NULL,
    week BIGINT NOT NULL,
    element TEXT NOT NULL,
    variant TEXT NOT NULL,
    clusters BIGINT NOT NULL DEFAULT 0,
    impressions BIGINT NOT NULL DEFAULT 0,
    clicks BIGINT NOT NULL DEFAULT 0,
    impressions_sq BIGINT NOT NULL DEFAULT 0,
    clicks_sq BIGINT NOT NULL DEFAULT 0,
    cross_products BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (site, week, element, variant)
);

INSERT INTO experiment_moments_weekly (site, week, element, variant, clusters, impressions, clicks,
                                       impressions_sq, clicks_sq, cross_products)
SELECT site, (day + 3) / 7, element, variant, SUM(clusters), SUM(impressions), SUM(clicks),
       SUM(impressions_sq), SUM(clicks_sq), SUM(cross_products)
FROM experiment_moments
GROUP BY site, (day + 3) / 7, element, variant;

-- Page views per UTC day, variant and page (the sample-ratio check over whole days), kept from
-- the hourly `pageview_rollups` by statement triggers with transition tables, like
-- `rollups_daily`. Rollups are never deleted, so inserts and updates are all there is to follow.
CREATE TABLE pageview_days (
    site TEXT NOT NULL,
    day BIGINT NOT NULL,
    variant TEXT NOT NULL,
    page TEXT NOT NULL,
    pageviews BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (site, day, variant, page)
);

INSERT INTO pageview_days (site, day, variant, page, pageviews)
SELECT site, hour / 86400, variant, page, SUM(pageviews)
FROM pageview_rollups
GROUP BY site, hour / 86400, variant, page;

CREATE FUNCTION pageview_days_on_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO pageview_days AS d (site, day, variant, page, pageviews)
    SELECT site, hour / 86400, variant, page, SUM(pageviews)
    FROM new_rows
    GROUP BY site, hour / 86400, variant, page
    ORDER BY site, hour / 86400, variant, page
    ON CONFLICT (site, day, variant, page) DO UPDATE SET pageviews = d.pageviews + excluded.pageviews;
    RETURN NULL;
END $$;

-- An hourly row's key (site, variant, page, hour) never changes, only its count.
CREATE FUNCTION pageview_days_on_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO pageview_days AS d (site, day, variant, page, pageviews)
    SELECT n.site, n.hour / 86400, n.variant, n.page, SUM(n.pageviews - o.pageviews)
    FROM new_rows n JOIN old_rows o USING (site, variant, page, hour)
    GROUP BY n.site, n.hour / 86400, n.variant, n.page
    ORDER BY n.site, n.hour / 86400, n.variant, n.page
    ON CONFLICT (site, day, variant, page) DO UPDATE SET pageviews = d.pageviews + excluded.pageviews;
    RETURN NULL;
END $$;

CREATE TRIGGER pageview_days_on_insert AFTER INSERT ON pageview_rollups
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION pageview_days_on_insert();
CREATE TRIGGER pageview_days_on_update AFTER UPDATE ON pageview_rollups
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION pageview_days_on_update();
