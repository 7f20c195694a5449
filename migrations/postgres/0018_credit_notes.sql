-- Credit notes (avoirs). An invoice is never changed nor deleted once issued; one whose
-- Stripe invoice is voided afterwards is cancelled by a credit note: a document of its own,
-- kept beside the invoices, numbered from a second continuous sequence, that names the invoice
-- it cancels.

-- One counter per kind of document, taken in the issuing transaction as before.
CREATE TABLE document_number_sequences (
    kind         TEXT PRIMARY KEY,
    last_number  BIGINT NOT NULL
);
INSERT INTO document_number_sequences (kind, last_number)
    SELECT 'invoice', last_number FROM invoice_number_sequence WHERE id = 1;
INSERT INTO document_number_sequences (kind, last_number) VALUES ('credit_note', 0);
DROP TABLE invoice_number_sequence;

-- `invoice` or `credit_note`.
ALTER TABLE invoices ADD COLUMN kind TEXT NOT NULL DEFAULT 'invoice';
-- The invoice a credit note cancels; at most one credit note per invoice.
ALTER TABLE invoices ADD COLUMN credited_invoice_id TEXT UNIQUE REFERENCES invoices (id);
-- Positions and Stripe invoices are unique per kind: a credit note documents the same Stripe
-- invoice as the invoice it cancels.
ALTER TABLE invoices DROP CONSTRAINT invoices_stripe_invoice_id_key;
ALTER TABLE invoices DROP CONSTRAINT invoices_sequence_number_key;
ALTER TABLE invoices ADD CONSTRAINT invoices_kind_stripe_invoice_id_key UNIQUE (kind, stripe_invoice_id);
ALTER TABLE invoices ADD CONSTRAINT invoices_kind_sequence_number_key UNIQUE (kind, sequence_number);
ALTER TABLE invoices ADD CONSTRAINT invoices_kind_check CHECK (kind IN ('invoice', 'credit_note'));
-- Lists go newest first by id (ids are ordered by issue time).
DROP INDEX invoices_by_org;
CREATE INDEX invoices_by_org ON invoices (org_id, id);
