-- Transcript analyses: every analysis of a call is kept (re-analysing after an analyzer change
-- adds one); one is the call's current analysis, and its sentiment and intents are copied
-- onto the call so call lists filter and count them without a join.

CREATE TABLE call_analyses (
    id                TEXT PRIMARY KEY,
    org_id            TEXT NOT NULL REFERENCES organisations (id),
    call_id           TEXT NOT NULL REFERENCES calls (id),
    -- What asked for it: "auto" for the end of the call, or the id of a re-analysis request.
    request_key       TEXT NOT NULL,
    analyzer          TEXT NOT NULL,
    analyzer_version  TEXT NOT NULL,
    status            TEXT NOT NULL CHECK (status IN ('completed', 'skipped')),
    language          TEXT NOT NULL,
    sentiment         TEXT,
    sentiment_score   REAL,
    -- The intents' names, comma-separated with a comma at each end (",booking,complaint,").
    intents           TEXT NOT NULL,
    result            TEXT NOT NULL,
    is_current        BOOLEAN NOT NULL,
    created_at        TEXT NOT NULL,
    UNIQUE (call_id, request_key)
);
CREATE UNIQUE INDEX call_analyses_current ON call_analyses (call_id) WHERE is_current;
CREATE INDEX call_analyses_by_call ON call_analyses (org_id, call_id, created_at);

-- What the voice platform's own analysis said (Vapi's summary, successEvaluation,
-- structuredData), kept beside ours.
ALTER TABLE calls ADD COLUMN provider_analysis TEXT;
ALTER TABLE calls ADD COLUMN sentiment TEXT;
ALTER TABLE calls ADD COLUMN sentiment_score REAL;
ALTER TABLE calls ADD COLUMN intents TEXT;
CREATE INDEX calls_by_org_sentiment ON calls (org_id, sentiment, id);
