-- The district's core schema (docs/district.md §Data). Every hall row is keyed by (hall, uid): uid
-- is the random id the hall gave the row when it was made, so rows re-sent after a restore or in a
-- new generation land on themselves, and ids that went backwards on a restored hall never collide.

CREATE TABLE halls (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL DEFAULT '',
    token_hash TEXT NOT NULL UNIQUE,          -- SHA-256 of the token printed once by `hall add`
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    revoked_at TIMESTAMPTZ,
    last_sync_at TIMESTAMPTZ                  -- the last batch this hall pushed, accepted
);

-- One row per (hall, generation): the highest change id the district holds. A batch is applied
-- only from acked + 1, in order, so a batch sent twice changes nothing.
CREATE TABLE hall_generations (
    hall TEXT NOT NULL REFERENCES halls(id),
    generation TEXT NOT NULL,
    acked BIGINT NOT NULL DEFAULT 0,
    first_seen TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_seen TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (hall, generation)
);

CREATE TABLE tickets (
    hall TEXT NOT NULL REFERENCES halls(id),
    uid TEXT NOT NULL,
    local_id BIGINT NOT NULL,
    service_day DATE NOT NULL,
    prefix TEXT NOT NULL,
    number TEXT NOT NULL,
    line TEXT NOT NULL,
    matter TEXT,
    state TEXT NOT NULL,
    green BOOLEAN NOT NULL DEFAULT false,
    green_reason TEXT,
    transferred BOOLEAN NOT NULL DEFAULT false,
    issued_at TIMESTAMPTZ NOT NULL,
    called_at TIMESTAMPTZ,
    first_call_at TIMESTAMPTZ,               -- set from the ticket's first call event: its wait ends here
    finished_at TIMESTAMPTZ,
    "window" INTEGER,
    clerk TEXT,
    kiosk TEXT,
    PRIMARY KEY (hall, uid)
);
CREATE INDEX tickets_day ON tickets (service_day, hall);
CREATE INDEX tickets_waiting ON tickets (hall, service_day) WHERE state = 'waiting';

CREATE TABLE events (
    hall TEXT NOT NULL REFERENCES halls(id),
    uid TEXT NOT NULL,
    ticket_uid TEXT,
    service_day DATE,                        -- its ticket's service day: reports select by it
    "window" INTEGER,
    action TEXT NOT NULL,
    from_state TEXT,
    to_state TEXT,
    actor TEXT,
    at TIMESTAMPTZ NOT NULL,
    data JSONB NOT NULL DEFAULT '{}',
    undone BOOLEAN NOT NULL DEFAULT false,   -- an undo event named it: it did not happen for counts
    PRIMARY KEY (hall, uid)
);
CREATE INDEX events_day ON events (service_day, action, hall);
CREATE INDEX events_ticket ON events (hall, ticket_uid);

CREATE TABLE windows (
    hall TEXT NOT NULL REFERENCES halls(id),
    number INTEGER NOT NULL,
    state TEXT NOT NULL,
    serving JSONB NOT NULL DEFAULT '[]',
    clerk TEXT,
    updated_at TIMESTAMPTZ,
    PRIMARY KEY (hall, number)
);

-- Cases arrive without personal data: the hall sends masked forms only (docs/district.md §Privacy).
CREATE TABLE cases (
    hall TEXT NOT NULL REFERENCES halls(id),
    uid TEXT NOT NULL,
    number TEXT NOT NULL,
    mode TEXT NOT NULL,
    matter TEXT NOT NULL,
    matter_zh TEXT NOT NULL DEFAULT '',
    matter_en TEXT NOT NULL DEFAULT '',
    department TEXT NOT NULL DEFAULT '',
    state TEXT NOT NULL,
    opened_day DATE NOT NULL,
    due_day DATE,
    due_flag TEXT,
    closed_day DATE,
    applicant_masked TEXT,
    phone_last4 TEXT,
    handling_dept TEXT,
    updated_at TIMESTAMPTZ,
    body JSONB NOT NULL DEFAULT '{}',
    PRIMARY KEY (hall, uid)
);
CREATE INDEX cases_state ON cases (state, due_day);

CREATE TABLE case_events (
    hall TEXT NOT NULL REFERENCES halls(id),
    uid TEXT NOT NULL,
    case_uid TEXT NOT NULL,
    action TEXT NOT NULL,
    from_state TEXT,
    to_state TEXT,
    actor TEXT,
    at TIMESTAMPTZ NOT NULL,
    day DATE NOT NULL,
    data JSONB NOT NULL DEFAULT '{}',
    PRIMARY KEY (hall, uid)
);
CREATE INDEX case_events_case ON case_events (hall, case_uid);

CREATE TABLE alerts (
    hall TEXT NOT NULL REFERENCES halls(id),
    uid TEXT NOT NULL,
    device TEXT,
    kind TEXT NOT NULL,
    message_zh TEXT NOT NULL,
    message_en TEXT NOT NULL,
    at TIMESTAMPTZ NOT NULL,
    acked_at TIMESTAMPTZ,
    PRIMARY KEY (hall, uid)
);
CREATE INDEX alerts_open ON alerts (hall) WHERE acked_at IS NULL;

-- What the hall itself reported for a closed day at its roll-over (its day report's totals).
CREATE TABLE day_summaries (
    hall TEXT NOT NULL REFERENCES halls(id),
    day DATE NOT NULL,
    totals JSONB NOT NULL,
    PRIMARY KEY (hall, day)
);

-- District staff. Same rules as the halls' accounts (argon2, lockout, must_change).
CREATE TABLE accounts (
    username TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    disabled BOOLEAN NOT NULL DEFAULT false,
    failed_logins INTEGER NOT NULL DEFAULT 0,
    locked_until TIMESTAMPTZ,
    must_change BOOLEAN NOT NULL DEFAULT false,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    username TEXT NOT NULL REFERENCES accounts(username),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at TIMESTAMPTZ NOT NULL
);
