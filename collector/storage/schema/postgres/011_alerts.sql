-- ctrlens schema version 11 (PostgreSQL): alerts (docs/design.md §4 "Around the numbers").
-- New tables only; storage/alerts.py owns them.

-- Where a site's alerts go: a webhook URL ('' for none), e-mail recipients (a JSON list), and how
-- many hours without impressions make a previously seen element "silent".
CREATE TABLE alert_channels (
    site TEXT PRIMARY KEY,
    webhook TEXT NOT NULL DEFAULT '',
    emails TEXT NOT NULL DEFAULT '[]',
    silence_hours INTEGER NOT NULL DEFAULT 6,
    updated_at BIGINT NOT NULL
);

-- One row per alert condition that holds and has been sent: `delivered` names the channels that
-- took it (comma-separated), `fired_at` is set once every configured channel has. The row goes
-- when the condition clears, which re-arms the alert. `element` and `variant` are '' when the
-- condition has none.
CREATE TABLE alert_state (
    site TEXT NOT NULL,
    condition TEXT NOT NULL,
    element TEXT NOT NULL,
    variant TEXT NOT NULL,
    delivered TEXT NOT NULL DEFAULT '',
    fired_at BIGINT,
    PRIMARY KEY (site, condition, element, variant)
);

-- When the periodic check is next due: the process that moves `due_at` forward runs the round,
-- so several `serve --workers` processes never send the same alert twice.
CREATE TABLE alert_rounds (
    name TEXT PRIMARY KEY,
    due_at BIGINT NOT NULL
);
INSERT INTO alert_rounds (name, due_at) VALUES ('check', 0);
