-- ctrlens schema version 16 (PostgreSQL): the moments of clustered variance summed over all time.
--
-- The same tables as SQLite's version 16: the moments of versions 6 and 13 summed per key without
-- a day, `experiment_moments_total` per site, element and variant, `experiment_goal_moments_total`
-- per site, goal, element and variant, so the variants page "since the first event" reads ~600
-- rows whatever the history's length (SQLite's version 16 says why). moments.py and
-- goal_moments.py add to them what they add to the daily rows, in the same transaction, after the
-- daily rows (concurrent writers lock them in one order). Daily moments are never deleted but with
-- their site, whose removal empties every table with a `site` column (storage/sites.py). A row
-- exists exactly when its key has daily rows.
--
-- Existing data: the sums of the daily rows, per key.

CREATE TABLE experiment_moments_total (
    site TEXT NOT NULL,
    element TEXT NOT NULL,
    variant TEXT NOT NULL,
    clusters BIGINT NOT NULL DEFAULT 0,
    impressions BIGINT NOT NULL DEFAULT 0,
    clicks BIGINT NOT NULL DEFAULT 0,
    impressions_sq BIGINT NOT NULL DEFAULT 0,
    clicks_sq BIGINT NOT NULL DEFAULT 0,
    cross_products BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (site, element, variant)
);

INSERT INTO experiment_moments_total (site, element, variant, clusters, impressions, clicks,
                                      impressions_sq, clicks_sq, cross_products)
SELECT site, element, variant, SUM(clusters), SUM(impressions), SUM(clicks), SUM(impressions_sq),
       SUM(clicks_sq), SUM(cross_products)
FROM experiment_moments
GROUP BY site, element, variant;

CREATE TABLE experiment_goal_moments_total (
    site TEXT NOT NULL,
    goal TEXT NOT NULL,
    element TEXT NOT NULL,
    variant TEXT NOT NULL,
    conversions BIGINT NOT NULL DEFAULT 0,
    conversions_sq BIGINT NOT NULL DEFAULT 0,
    cross_products BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (site, goal, element, variant)
);

INSERT INTO experiment_goal_moments_total (site, goal, element, variant, conversions, conversions_sq,
                                           cross_products)
SELECT site, goal, element, variant, SUM(conversions), SUM(conversions_sq), SUM(cross_products)
FROM experiment_goal_moments
GROUP BY site, goal, element, variant;
