-- ctrlens schema version 13 (SQLite): what visitor-clustered variance of conversions per
-- impression needs (docs/design.md §4 "Variant verdicts", §5), kept by goal_moments.py in the
-- transaction that stores the events.
--
-- A conversion credited to an element (last click, docs/design.md §3) counts for the visitor-day
-- of that click: its UTC day, its visitor id and its variant. `conversions` keeps that visitor-day
-- beside the credited element, so the sums below can be recounted from the conversions and the
-- page views' element rows.
-- `experiment_goal_visitors` is the ledger: K, the conversions of one goal credited to an
-- element in one visitor-day. `experiment_goal_moments` sums it per site, goal, UTC day, element
-- and variant: ΣK, ΣK² and ΣN·K, N being that visitor-day's impressions of the element
-- (`experiment_visitors`). `experiment_visitors.converted` marks the visitor-days with a row in
-- the goal ledger, so an impression of a visitor-day without conversions costs no extra query.
--
-- Existing data: conversions stored before this version did not keep their click's visitor-day,
-- so they have no goal moments; experiments on a goal count conversions from this version on.

ALTER TABLE experiment_visitors ADD COLUMN converted INTEGER NOT NULL DEFAULT 0;

ALTER TABLE conversions ADD COLUMN click_visitor TEXT NOT NULL DEFAULT '';
ALTER TABLE conversions ADD COLUMN click_day INTEGER NOT NULL DEFAULT 0;
ALTER TABLE conversions ADD COLUMN click_variant TEXT NOT NULL DEFAULT '';

CREATE TABLE experiment_goal_visitors (
    site TEXT NOT NULL,
    day INTEGER NOT NULL,
    visitor TEXT NOT NULL,
    element TEXT NOT NULL,
    variant TEXT NOT NULL,
    goal TEXT NOT NULL,
    conversions INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (site, day, visitor, element, variant, goal)
);
-- Retention deletes by day, like experiment_visitors.
CREATE INDEX experiment_goal_visitors_by_day ON experiment_goal_visitors (day);

CREATE TABLE experiment_goal_moments (
    site TEXT NOT NULL,
    goal TEXT NOT NULL,
    day INTEGER NOT NULL,
    element TEXT NOT NULL,
    variant TEXT NOT NULL,
    conversions INTEGER NOT NULL DEFAULT 0,
    conversions_sq INTEGER NOT NULL DEFAULT 0,
    cross_products INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (site, goal, day, element, variant)
) WITHOUT ROWID;
