-- Credit notes (avoirs). An invoice is never changed nor deleted once issued; one whose
-- Stripe invoice is voided afterwards is cancelled by a credit note: a document of its own,
-- kept beside the invoices, numbered from a second continuous sequence, that names the invoice
-- it cancels.

-- One counter per kind of document, taken in the issuing transaction as before.
CREATE TABLE document_number_sequences (
    kind         TEXT PRIMARY KEY,
    last_number  INTEGER NOT NULL
);
INSERT INTO document_number_sequences (kind, last_number)
    SELECT 'invoice', last_number FROM invoice_number_sequence WHERE id = 1;
INSERT INTO document_number_sequences (kind, last_number) VALUES ('credit_note', 0);
DROP TABLE invoice_number_sequence;

-- SQLite cannot change a table's constraints: the table is rebuilt with the same rows.
CREATE TABLE invoices_rebuilt (
    id                   TEXT PRIMARY KEY,
    org_id               TEXT NOT NULL REFERENCES organisations (id),
    stripe_invoice_id    TEXT NOT NULL,
    sequence_number      INTEGER NOT NULL,
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
    created_at           TEXT NOT NULL,
    -- `invoice` or `credit_note`.
    kind                 TEXT NOT NULL DEFAULT 'invoice' CHECK (kind IN ('invoice', 'credit_note')),
    -- The invoice a credit note cancels; at most one credit note per invoice.
    credited_invoice_id  TEXT UNIQUE REFERENCES invoices_rebuilt (id),
    -- Positions and Stripe invoices are unique per kind: a credit note documents the same
    -- Stripe invoice as the invoice it cancels.
    UNIQUE (kind, stripe_invoice_id),
    UNIQUE (kind, sequence_number)
);
INSERT INTO invoices_rebuilt (id, org_id, stripe_invoice_id, sequence_number, number, issued_on, due_on,
    currency, total_excl_tax, vat_amount, total_incl_tax, vat_treatment, document, pdf, pdf_sha256, created_at)
    SELECT id, org_id, stripe_invoice_id, sequence_number, number, issued_on, due_on,
    currency, total_excl_tax, vat_amount, total_incl_tax, vat_treatment, document, pdf, pdf_sha256, created_at
    FROM invoices;
DROP TABLE invoices;
ALTER TABLE invoices_rebuilt RENAME TO invoices;
-- Lists go newest first by id (ids are ordered by issue time).
CREATE INDEX invoices_by_org ON invoices (org_id, id);
