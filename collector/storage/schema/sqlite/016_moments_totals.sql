-- ctrlens schema version 16 (SQLite): the moments of clustered variance summed over all time.
--
-- The variants page and API default to "since the first event" (docs/design.md §4), and read the
-- moments of versions 6 and 13 over the site's whole history: whole weeks of
-- `experiment_moments_weekly` and the days at either end, ~8,000 rows through a sorter for 200
-- elements × 3 variants over 90 days (bench/dashboard.py), more with every week, and the goal
-- moments from their daily rows. These two tables hold the same sums per key without a day:
-- `experiment_moments_total` per site, element and variant, `experiment_goal_moments_total` per
-- site, goal, element and variant. moments.py and goal_moments.py add to them what they add to the
-- daily rows, in the same transaction, so each row is the sum of its daily rows, and a range that
-- covers every day with moments reads ~600 rows whatever the history's length.
--
-- Daily moments are never deleted but with their site (retention keeps them, docs/design.md §5),
-- and site removal empties every table with a `site` column (storage/sites.py): there is nothing
-- else to follow. A row exists exactly when its key has daily rows.
--
-- Existing data: the sums of the daily rows, per key.

CREATE TABLE experiment_moments_total (
    site TEXT NOT NULL,
    element TEXT NOT NULL,
    variant TEXT NOT NULL,
    clusters INTEGER NOT NULL DEFAULT 0,
    impressions INTEGER NOT NULL DEFAULT 0,
    clicks INTEGER NOT NULL DEFAULT 0,
    impressions_sq INTEGER NOT NULL DEFAULT 0,
    clicks_sq INTEGER NOT NULL DEFAULT 0,
    cross_products INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (site, element, variant)
) WITHOUT ROWID;

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
    conversions INTEGER NOT NULL DEFAULT 0,
    conversions_sq INTEGER NOT NULL DEFAULT 0,
    cross_products INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (site, goal, element, variant)
) WITHOUT ROWID;

INSERT INTO experiment_goal_moments_total (site, goal, element, variant, conversions, conversions_sq,
                                           cross_products)
SELECT site, goal, element, variant, SUM(conversions), SUM(conversions_sq), SUM(cross_products)
FROM experiment_goal_moments
GROUP BY site, goal, element, variant;
