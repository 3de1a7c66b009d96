-- ctrlens schema version 12 (SQLite): annotations, notes pinned to a moment of a site's charts
-- (docs/design.md §4 "Around the numbers"): a deploy, a campaign, an outage.
--
-- `at` is the moment in UTC epoch seconds. A whole-day note keeps its calendar date in `day`
-- ('YYYY-MM-DD', read in the site's time zone) and its UTC midnight in `at`, for ordering only;
-- `day` is '' for a note at an instant.
CREATE TABLE annotations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    site TEXT NOT NULL,
    at INTEGER NOT NULL,
    day TEXT NOT NULL DEFAULT '',
    text TEXT NOT NULL,
    url TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL
);
CREATE INDEX annotations_by_site_at ON annotations (site, at);
