-- The district pages' period reports (tongban/district/reports.py). A year of 20 halls is millions of
-- tickets and tens of millions of events: summing them for every report would take seconds, so each
-- hall-day is rolled up once into small tables, and a report sums the roll-ups of its days.
--
-- A hall can push an old day late (it was offline), and ingest upserts rows in any order, so a
-- roll-up is never trusted blindly: statement-level triggers mark every (hall, day) whose tickets or
-- events changed, and a report first rebuilds the marked hall-days from the base tables (the same
-- definitions as hall_day_rows, in the same transaction) before it reads the roll-ups.

CREATE TABLE report_dirty (
    hall TEXT NOT NULL,
    day DATE NOT NULL,
    PRIMARY KEY (hall, day)
);

-- One row per hall, service day, matter ('' for none) and window (0: never called). Counts follow
-- the hall's day report: a ticket counts on its service day; its wait (issue → first call) and its
-- row's window are those of its first call; finishes and no-shows count where they happened, unless
-- undone; a rating counts at the window it names.
CREATE TABLE report_groups (
    day DATE NOT NULL,
    hall TEXT NOT NULL,
    matter TEXT NOT NULL,
    "window" INTEGER NOT NULL,
    issued INTEGER NOT NULL DEFAULT 0,
    served INTEGER NOT NULL DEFAULT 0,
    no_show INTEGER NOT NULL DEFAULT 0,
    waited INTEGER NOT NULL DEFAULT 0,
    wait_sum DOUBLE PRECISION NOT NULL DEFAULT 0,
    ratings INTEGER NOT NULL DEFAULT 0,
    good INTEGER NOT NULL DEFAULT 0,
    bad INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (day, hall, matter, "window")
);

-- Waits rounded up to the whole minute, counted: the p90 of a period is the nearest-rank p90 of these,
-- which is exactly the hall's p90 rounded up (rounding up keeps the order of the values).
-- One table per way of grouping, so a year by hall reads ~60 rows a hall-day, not one per ticket.
CREATE TABLE report_waits_hall (
    day DATE NOT NULL,
    hall TEXT NOT NULL,
    minute INTEGER NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (day, hall, minute)
);
-- By matter across all halls (a department is a set of matters).
CREATE TABLE report_waits_matter (
    day DATE NOT NULL,
    matter TEXT NOT NULL,
    minute INTEGER NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (day, matter, minute)
);
CREATE TABLE report_waits_window (
    day DATE NOT NULL,
    hall TEXT NOT NULL,
    "window" INTEGER NOT NULL,
    minute INTEGER NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (day, hall, "window", minute)
);

-- Bad ratings (levels 1-2) by reason code (tongban/queue/ratings.py REASONS).
CREATE TABLE report_reasons (
    day DATE NOT NULL,
    hall TEXT NOT NULL,
    matter TEXT NOT NULL,
    "window" INTEGER NOT NULL,
    reason TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (day, hall, matter, "window", reason)
);

-- The same roll-ups summed by calendar month (``day`` is the month's first day): a year's report reads
-- twelve months of these and the days of any month it only partly covers, ~30 times fewer rows.
CREATE TABLE report_groups_month (LIKE report_groups INCLUDING ALL);
CREATE TABLE report_waits_hall_month (LIKE report_waits_hall INCLUDING ALL);
CREATE TABLE report_waits_matter_month (LIKE report_waits_matter INCLUDING ALL);
CREATE TABLE report_waits_window_month (LIKE report_waits_window INCLUDING ALL);
CREATE TABLE report_reasons_month (LIKE report_reasons INCLUDING ALL);
-- Months whose tier is built. Only months already over are built (the current month changes all day
-- and is read from its days); a report reads a month from the tier only when it is listed here.
CREATE TABLE report_months (
    month DATE PRIMARY KEY
);

CREATE FUNCTION report_mark_ticket_days() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO report_dirty (hall, day)
    SELECT DISTINCT hall, service_day FROM changed_rows
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;

CREATE FUNCTION report_mark_event_days() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO report_dirty (hall, day)
    SELECT DISTINCT hall, service_day FROM changed_rows WHERE service_day IS NOT NULL
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;

-- Per statement, not per row: a sync batch of 2000 rows marks its few hall-days once.
CREATE TRIGGER tickets_mark_insert AFTER INSERT ON tickets
    REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION report_mark_ticket_days();
CREATE TRIGGER tickets_mark_update AFTER UPDATE ON tickets
    REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION report_mark_ticket_days();
CREATE TRIGGER events_mark_insert AFTER INSERT ON events
    REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION report_mark_event_days();
CREATE TRIGGER events_mark_update AFTER UPDATE ON events
    REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION report_mark_event_days();

-- The live page and the case list.
CREATE INDEX cases_hall_state ON cases (hall, state);
CREATE INDEX cases_due ON cases (due_day) WHERE state IN ('received', 'checked', 'sent');

-- The district pages' own settings: the key that signs their session cookies and CSRF tokens is
-- made once and shared by every instance (no state in the process).
CREATE TABLE web_settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
