-- Cross-site cases (docs/cases.md "Cross-site cases"): a case one hall hands to another passes
-- through here. ``body`` holds what the receiving hall needs, the applicant's personal data
-- included; it is set to NULL the moment the receiver acknowledges it, so the district keeps only
-- the masked columns. The receiving hall's own synced case row (cases.body->>'origin_case_uid' =
-- uid) says where the case is from then on.
CREATE TABLE handoffs (
    id BIGSERIAL PRIMARY KEY,
    uid TEXT NOT NULL,                      -- the sending hall's id for this hand-off (origin_case_uid)
    from_hall TEXT NOT NULL REFERENCES halls(id),
    to_hall TEXT NOT NULL REFERENCES halls(id),
    to_window TEXT NOT NULL DEFAULT '',
    case_number TEXT NOT NULL,              -- at the sending hall
    matter TEXT NOT NULL DEFAULT '',
    matter_zh TEXT NOT NULL DEFAULT '',
    applicant_masked TEXT NOT NULL DEFAULT '',
    body JSONB,                             -- personal: NULL once acked
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    acked_at TIMESTAMPTZ,
    received_number TEXT,                   -- the case's number at the receiving hall
    UNIQUE (from_hall, uid)
);
CREATE INDEX handoffs_inbox ON handoffs (to_hall) WHERE acked_at IS NULL;
CREATE INDEX cases_origin ON cases ((body->>'origin_hall'), (body->>'origin_case_uid'));
