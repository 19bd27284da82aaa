-- The district's matter catalogue (docs/config.md "District catalogue"): every published version is kept, so
-- a hall's "version" names exactly what it checked, and a bad publication can be followed by the
-- previous body published again. The newest row is the one halls pull.
CREATE TABLE catalogue_versions (
    id BIGSERIAL PRIMARY KEY,
    body JSONB NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    note TEXT NOT NULL DEFAULT ''
);
