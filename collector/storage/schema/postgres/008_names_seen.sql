-- ctrlens schema version 8 (PostgreSQL): the cap on new names per site per UTC day (docs/design.md §3).
--
-- One row per name of a dimension (element, variant, page, account) a site used on a UTC day.
-- `fresh` = 1 when the name was new that day (not used the day before): only those count toward
-- the day's cap. storage/names.py writes it in the write path's transaction; retention keeps two
-- days.
CREATE TABLE names_seen (
    site TEXT NOT NULL,
    day INTEGER NOT NULL,
    dimension TEXT NOT NULL,
    name TEXT NOT NULL,
    fresh INTEGER NOT NULL,
    PRIMARY KEY (site, day, dimension, name)
);
