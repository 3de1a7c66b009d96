-- ctrlens schema version 3 (PostgreSQL): raw events partitioned by day, deduplicated apart.
--
-- `events` becomes a table partitioned by range of `ts_server`, one partition per UTC day
-- (`events_YYYYMMDD`), so retention drops whole days instead of deleting rows. A unique key on
-- a partitioned table must include the partition key, but a retried event arrives with a later
-- `ts_server` than its first copy, so `(site, event_id, ts_server)` could not catch it. Event
-- ids are therefore kept unique in `event_ids`, a narrow unpartitioned table with the key
-- `(site, event_id)`: the writer inserts there first (ON CONFLICT DO NOTHING RETURNING) and copies
-- into `events` only the ids that were new, in the same transaction. Retention deletes ids of
-- the days it drops. docs/deploying.md explains the choice.
--
-- Partitions are made ahead of the writes by `ctrlens_event_partition(day)`; rows that arrive
-- for a day without one land in `events_default` and move into their day when it is made.

ALTER TABLE events RENAME TO events_unpartitioned;
ALTER INDEX events_pkey RENAME TO events_unpartitioned_pkey;
ALTER INDEX events_by_time RENAME TO events_unpartitioned_by_time;

CREATE TABLE events (
    site TEXT NOT NULL,
    event_id TEXT NOT NULL,
    pageview TEXT NOT NULL,
    type TEXT NOT NULL,
    element TEXT NOT NULL,
    kind TEXT NOT NULL,
    variant TEXT NOT NULL,
    account TEXT NOT NULL,
    page TEXT NOT NULL,
    url TEXT NOT NULL,
    referrer TEXT NOT NULL,
    source TEXT NOT NULL,
    device TEXT NOT NULL,
    visitor TEXT NOT NULL,
    via_click INTEGER NOT NULL,
    ts_client BIGINT,
    ts_server BIGINT NOT NULL
) PARTITION BY RANGE (ts_server);
CREATE INDEX events_by_site_time ON events (site, ts_server);
CREATE TABLE events_default PARTITION OF events DEFAULT;

CREATE TABLE event_ids (
    site TEXT NOT NULL,
    event_id TEXT NOT NULL,
    day BIGINT NOT NULL,              -- the UTC day of the event's ts_server: its partition
    PRIMARY KEY (site, event_id)
);
-- Retention deletes by day; ids arrive in day order, which a BRIN index summarises cheaply.
CREATE INDEX event_ids_by_day ON event_ids USING brin (day);

-- Make the partition of `day` (epoch days) unless it exists; true if it was made.
CREATE FUNCTION ctrlens_event_partition(day BIGINT) RETURNS BOOLEAN LANGUAGE plpgsql AS $$
DECLARE
    part TEXT := 'events_' || to_char(DATE '1970-01-01' + day::INTEGER, 'YYYYMMDD');
    schema TEXT;
    low BIGINT := day * 86400000;
    high BIGINT := (day + 1) * 86400000;
BEGIN
    SELECT n.nspname INTO schema
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.oid = 'events'::regclass;
    -- One maker at a time across all collector processes. The check after the lock is a query
    -- (a fresh snapshot), not to_regclass, whose catalog cache may predate the other's commit.
    PERFORM pg_advisory_xact_lock(hashtext('ctrlens_event_partition'));
    IF EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE c.relname = part AND n.nspname = schema) THEN
        RETURN false;
    END IF;
    -- Wait briefly for locks, never stall the writers for long.
    PERFORM set_config('lock_timeout', '5s', true);
    -- ATTACH needs only SHARE UPDATE EXCLUSIVE on `events` (CREATE ... PARTITION OF would take
    -- ACCESS EXCLUSIVE and block every writer), and the default partition is locked first so
    -- no row for this day can slip into it between the move and the attach.
    LOCK TABLE events_default IN ACCESS EXCLUSIVE MODE;
    EXECUTE format('CREATE TABLE %I.%I (LIKE events INCLUDING DEFAULTS)', schema, part);
    EXECUTE format(
        'WITH moved AS (DELETE FROM events_default WHERE ts_server >= %s AND ts_server < %s '
        'RETURNING *) INSERT INTO %I.%I SELECT * FROM moved', low, high, schema, part);
    EXECUTE format('ALTER TABLE events ATTACH PARTITION %I.%I FOR VALUES FROM (%s) TO (%s)',
                   schema, part, low, high);
    RETURN true;
END $$;

-- Retention: drop the partitions of days before `before_day`, with their ids; return the
-- number of raw events dropped.
CREATE FUNCTION ctrlens_drop_event_partitions(before_day BIGINT) RETURNS BIGINT
LANGUAGE plpgsql AS $$
DECLARE
    cutoff BIGINT := before_day * 86400000;
    part RECORD;
    counted BIGINT;
    dropped BIGINT := 0;
BEGIN
    PERFORM set_config('lock_timeout', '5s', true);
    FOR part IN
        SELECT c.oid::regclass::text AS name,
               substring(pg_get_expr(c.relpartbound, c.oid) FROM 'TO \(''?(-?[0-9]+)''?\)')::BIGINT
                   AS high
        FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'events'::regclass
        ORDER BY 2
    LOOP
        CONTINUE WHEN part.high IS NULL OR part.high > cutoff;  -- NULL: the default partition
        EXECUTE format('SELECT count(*) FROM %s', part.name) INTO counted;
        EXECUTE format('DROP TABLE %s', part.name);
        dropped := dropped + counted;
    END LOOP;
    WITH gone AS (DELETE FROM events_default WHERE ts_server < cutoff RETURNING 1)
    SELECT dropped + count(*) INTO dropped FROM gone;
    DELETE FROM event_ids WHERE day < before_day;
    RETURN dropped;
END $$;

-- The rows of version 2 move into their days.
SELECT ctrlens_event_partition(d)
FROM (SELECT DISTINCT ts_server / 86400000 AS d FROM events_unpartitioned) AS days;
INSERT INTO event_ids (site, event_id, day)
SELECT site, event_id, ts_server / 86400000 FROM events_unpartitioned;
INSERT INTO events SELECT * FROM events_unpartitioned;
DROP TABLE events_unpartitioned;
