-- Appointments from the province's booking platform, held for the halls they belong to
-- (docs/district.md "Appointments"). Halls pull their own rows by ``seq``, a counter per hall, so a
-- hall asks only for what changed since it last asked.
--
-- Personal data: the hall keys an ID number with its own secret (queue/identity.py), which the
-- district never has, so the district must carry the number itself to the hall. ``id_number`` and
-- ``phone`` are therefore held only until the hall acknowledges the row (or the slot is over, for a
-- hall that never asks), then set to NULL; what stays is masked, as for hand-offs (0005).

-- The per-hall change counter. Its row is locked (UPDATE … RETURNING) by every transaction that
-- numbers a change for the hall until that transaction commits, so numbers become visible in order:
-- a hall that has read up to N never misses a smaller number committed later.
CREATE TABLE appointment_cursors (
    hall TEXT PRIMARY KEY REFERENCES halls(id),
    last_seq BIGINT NOT NULL DEFAULT 0,    -- the newest change numbered for this hall
    acked_seq BIGINT NOT NULL DEFAULT 0,   -- what the hall has confirmed it holds
    acked_at TIMESTAMPTZ
);

CREATE TABLE appointments (
    id BIGSERIAL PRIMARY KEY,
    hall TEXT NOT NULL REFERENCES halls(id),
    reference TEXT NOT NULL,                -- the booking reference, digits, typed at the kiosk
    matter TEXT NOT NULL,
    slot_start TIMESTAMPTZ NOT NULL,
    slot_end TIMESTAMPTZ NOT NULL,
    id_masked TEXT,                         -- 3201**********1238: what district staff see
    phone_last4 TEXT,
    id_number TEXT,                         -- personal: NULL once the hall acked, or the slot is over
    phone TEXT,                             -- personal: as id_number
    state TEXT NOT NULL DEFAULT 'booked' CHECK (state IN ('booked', 'cancelled')),
    seq BIGINT NOT NULL,                    -- the hall's change counter at the last change
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    hall_problem TEXT,                      -- why the hall could not load it, as the hall said (masked)
    UNIQUE (hall, reference),
    UNIQUE (hall, seq)
);
-- The purge of personal data past its slot looks only at the rows that still hold some.
CREATE INDEX appointments_personal ON appointments (slot_end) WHERE id_number IS NOT NULL OR phone IS NOT NULL;
