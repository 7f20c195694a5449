-- Billing, second part: the buyer's billing identity of each organisation, and our own invoice
-- documents. A document is issued once per finalized Stripe invoice, numbered from one
-- continuous sequence (the counter row is updated in the issuing transaction, so a number is
-- never skipped nor reused), and kept as issued: its parties, lines and totals as JSON and
-- columns, and its PDF.

-- Who an organisation's invoices are addressed to.
CREATE TABLE billing_profiles (
    org_id         TEXT PRIMARY KEY REFERENCES organisations (id),
    legal_name     TEXT NOT NULL,
    email          TEXT NOT NULL,
    address_line1  TEXT NOT NULL,
    address_line2  TEXT,
    postal_code    TEXT NOT NULL,
    city           TEXT NOT NULL,
    -- ISO 3166-1 alpha-2.
    country        TEXT NOT NULL,
    -- Intra-community VAT number, normalised (FR40303265045).
    vat_id         TEXT,
    -- French company number (9 digits).
    siren          TEXT,
    updated_at     TEXT NOT NULL
);

-- The one invoice number sequence. Updated in the transaction that issues a document: a
-- concurrent issuer waits for the row, and a rolled-back issue gives its number back.
CREATE TABLE invoice_number_sequence (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    last_number  INTEGER NOT NULL
);
INSERT INTO invoice_number_sequence (id, last_number) VALUES (1, 0);

CREATE TABLE invoices (
    id                   TEXT PRIMARY KEY,
    org_id               TEXT NOT NULL REFERENCES organisations (id),
    stripe_invoice_id    TEXT NOT NULL UNIQUE,
    sequence_number      INTEGER NOT NULL UNIQUE,
    number               TEXT NOT NULL UNIQUE,
    issued_on            TEXT NOT NULL,
    due_on               TEXT NOT NULL,
    currency             TEXT NOT NULL,
    total_excl_tax       INTEGER NOT NULL,
    vat_amount           INTEGER NOT NULL,
    total_incl_tax       INTEGER NOT NULL,
    -- `standard`, `reverse_charge` or `outside_scope`.
    vat_treatment        TEXT NOT NULL,
    -- The whole document as issued (parties, lines, mentions), JSON.
    document             TEXT NOT NULL,
    pdf                  BLOB NOT NULL,
    pdf_sha256           TEXT NOT NULL,
    created_at           TEXT NOT NULL
);
CREATE INDEX invoices_by_org ON invoices (org_id, sequence_number);

-- The latest reconciliation of each metered subscription: our ledger's reported minutes
-- against the meter's totals at Stripe over the current period so far.
CREATE TABLE usage_reconciliations (
    stripe_subscription_id  TEXT PRIMARY KEY,
    org_id                  TEXT NOT NULL REFERENCES organisations (id),
    period_start            TEXT NOT NULL,
    period_end              TEXT NOT NULL,
    ledger_minutes          INTEGER NOT NULL,
    stripe_minutes          INTEGER NOT NULL,
    -- Rows of the span not reported yet (not counted on either side).
    unreported_calls        INTEGER NOT NULL,
    checked_at              TEXT NOT NULL
);
