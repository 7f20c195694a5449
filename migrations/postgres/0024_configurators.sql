-- The configurator of each organisation, one per language: the voice assistant that onboards
-- the business on the phone and creates its assistant through the MCP server, with a key of
-- its own. Provisioned by the ProvisionConfigurator job; provisioning again replaces its
-- prompt and its key.
CREATE TABLE configurators (
    -- cfg_...
    id                  TEXT PRIMARY KEY,
    org_id              TEXT NOT NULL REFERENCES organisations (id),
    -- fr or en.
    language            TEXT NOT NULL,
    -- provisioning, active or failed.
    status              TEXT NOT NULL,
    -- The voice platform's id of the configurator, once created.
    voice_assistant_id  TEXT,
    -- The API key its MCP tool server is called with (write scope); the previous one is revoked
    -- when it is replaced.
    api_key_id          TEXT,
    -- Where its tools are served (our /mcp).
    mcp_url             TEXT NOT NULL,
    -- Why the last provisioning failed.
    failure_reason      TEXT,
    created_at          TIMESTAMPTZ NOT NULL,
    updated_at          TIMESTAMPTZ NOT NULL,
    UNIQUE (org_id, language)
);
