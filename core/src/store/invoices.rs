//! Our invoice documents: invoices and the credit notes that cancel them. Each kind's numbers
//! come from one continuous sequence: [`next_number`] bumps the kind's counter row inside the
//! issuing transaction, so concurrent issuers wait for each other and a transaction that rolls
//! back gives its number back; a number is never skipped nor reused. A document of each kind is
//! issued once per Stripe invoice and never changed afterwards.

use chrono::{DateTime, NaiveDate, Utc};
use sha2::{Digest, Sha256};

use super::{Db, StoreError, Tx};
use crate::domain::invoice::{DocumentKind, InvoiceDocument};
use zencall_queue::{on_pool, on_tx};

/// An issued invoice, without its PDF.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct StoredInvoiceDocument {
    /// Our id (`inv_...`).
    pub id: String,
    /// The organisation billed.
    pub org_id: String,
    /// `invoice` or `credit_note`.
    pub kind: String,
    /// For a credit note, our id of the invoice it cancels.
    pub credited_invoice_id: Option<String>,
    /// The Stripe invoice it documents.
    pub stripe_invoice_id: String,
    /// Position in its kind's sequence.
    pub sequence_number: i64,
    /// Our number.
    pub number: String,
    /// Issue date.
    pub issued_on: NaiveDate,
    /// Due date.
    pub due_on: NaiveDate,
    /// ISO 4217, lower case.
    pub currency: String,
    /// Total excluding tax, in minor units.
    pub total_excl_tax: i64,
    /// VAT, in minor units.
    pub vat_amount: i64,
    /// Total including tax, in minor units.
    pub total_incl_tax: i64,
    /// `standard`, `reverse_charge` or `outside_scope`.
    pub vat_treatment: String,
    /// The document as JSON.
    pub document: String,
    /// SHA-256 of the PDF, hex.
    pub pdf_sha256: String,
    /// When it was issued.
    pub created_at: DateTime<Utc>,
}

impl StoredInvoiceDocument {
    /// The document itself.
    pub fn document(&self) -> Result<InvoiceDocument, StoreError> {
        serde_json::from_str(&self.document)
            .map_err(|e| StoreError::Corrupt(format!("invoice {}: {e}", self.id)))
    }
}

const COLUMNS: &str = "id, org_id, kind, credited_invoice_id, stripe_invoice_id, sequence_number, number, issued_on, due_on, currency, \
    total_excl_tax, vat_amount, total_incl_tax, vat_treatment, document, pdf_sha256, created_at";

/// Takes the next number of `kind`'s sequence in `tx`. Other issuers of that kind wait until
/// `tx` ends; if it rolls back, the number is given back.
pub async fn next_number(tx: &mut Tx, kind: DocumentKind) -> Result<i64, StoreError> {
    Ok(on_tx!(tx, |c| {
        sqlx::query_scalar::<_, i64>(
        "UPDATE document_number_sequences SET last_number = last_number + 1 WHERE kind = $1 RETURNING last_number"
    )
    .bind(kind.as_str())
    .fetch_one(c)
    .await
    })?)
}

/// Waits in `tx` for any invoice being issued, and holds off new ones until `tx` ends (the
/// invoice counter row is locked without changing it): what `tx` reads of invoices afterwards
/// stays true until it commits.
pub async fn hold_invoice_numbers(tx: &mut Tx) -> Result<(), StoreError> {
    on_tx!(tx, |c| {
        sqlx::query(
            "UPDATE document_number_sequences SET last_number = last_number WHERE kind = 'invoice'",
        )
        .execute(c)
        .await
        .map(|_| ())
    })?;
    Ok(())
}

/// The document of `kind` of Stripe invoice `stripe_invoice_id`, read in `tx`.
pub async fn find_by_stripe_id_in(
    tx: &mut Tx,
    kind: DocumentKind,
    stripe_invoice_id: &str,
) -> Result<Option<StoredInvoiceDocument>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM invoices WHERE kind = $1 AND stripe_invoice_id = $2");
    Ok(on_tx!(tx, |c| sqlx::query_as::<_, StoredInvoiceDocument>(
        sqlx::AssertSqlSafe(sql.clone())
    )
    .bind(kind.as_str())
    .bind(stripe_invoice_id)
    .fetch_optional(c)
    .await)?)
}

/// Stores `document` (numbered `sequence_number` in its kind's sequence) with its PDF, in
/// `tx`. A credit note names `credited_invoice_id`, our id of the invoice it cancels.
#[allow(clippy::too_many_arguments)]
pub async fn insert(
    tx: &mut Tx,
    id: &str,
    org_id: &str,
    sequence_number: i64,
    document: &InvoiceDocument,
    credited_invoice_id: Option<&str>,
    pdf: &[u8],
    now: DateTime<Utc>,
) -> Result<StoredInvoiceDocument, StoreError> {
    let json = serde_json::to_string(document)
        .map_err(|e| StoreError::Corrupt(format!("invoice {id} cannot be written: {e}")))?;
    let sha = hex::encode(Sha256::digest(pdf));
    on_tx!(tx, |c| {
        sqlx::query(
        "INSERT INTO invoices (id, org_id, stripe_invoice_id, sequence_number, number, issued_on, due_on, currency, \
         total_excl_tax, vat_amount, total_incl_tax, vat_treatment, document, pdf, pdf_sha256, created_at, \
         kind, credited_invoice_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)"
    )
    .bind(id)
    .bind(org_id)
    .bind(&document.stripe_invoice_id)
    .bind(sequence_number)
    .bind(&document.number)
    .bind(document.issued_on)
    .bind(document.due_on)
    .bind(&document.currency)
    .bind(document.total_excl_tax)
    .bind(document.vat_amount)
    .bind(document.total_incl_tax)
    .bind(document.vat_treatment.as_str())
    .bind(&json)
    .bind(pdf)
    .bind(&sha)
    .bind(super::now_micros(now))
    .bind(document.kind.as_str())
    .bind(credited_invoice_id)
    .execute(c)
    .await
    .map(|_| ())
    })?;
    Ok(StoredInvoiceDocument {
        id: id.to_string(),
        org_id: org_id.to_string(),
        kind: document.kind.as_str().to_string(),
        credited_invoice_id: credited_invoice_id.map(str::to_string),
        stripe_invoice_id: document.stripe_invoice_id.clone(),
        sequence_number,
        number: document.number.clone(),
        issued_on: document.issued_on,
        due_on: document.due_on,
        currency: document.currency.clone(),
        total_excl_tax: document.total_excl_tax,
        vat_amount: document.vat_amount,
        total_incl_tax: document.total_incl_tax,
        vat_treatment: document.vat_treatment.as_str().to_string(),
        document: json,
        pdf_sha256: sha,
        created_at: super::now_micros(now),
    })
}

/// The organisation's invoice `id`.
pub async fn find(
    db: &Db,
    org_id: &str,
    id: &str,
) -> Result<Option<StoredInvoiceDocument>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM invoices WHERE org_id = $1 AND id = $2");
    Ok(on_pool!(db, |p| {
        sqlx::query_as::<_, StoredInvoiceDocument>(sqlx::AssertSqlSafe(sql.clone()))
            .bind(org_id)
            .bind(id)
            .fetch_optional(p)
            .await
    })?)
}

/// Every invoice of the organisation (not its credit notes), as (Stripe invoice id, our id,
/// our number).
pub async fn references(
    db: &Db,
    org_id: &str,
) -> Result<Vec<(String, String, String)>, StoreError> {
    Ok(on_pool!(db, |p| sqlx::query_as::<
        _,
        (String, String, String),
    >(
        "SELECT stripe_invoice_id, id, number FROM invoices WHERE org_id = $1 AND kind = 'invoice'"
    )
    .bind(org_id)
    .fetch_all(p)
    .await)?)
}

/// The PDF of the organisation's document `id`, with its kind and number.
pub async fn pdf(
    db: &Db,
    org_id: &str,
    id: &str,
) -> Result<Option<(DocumentKind, String, Vec<u8>)>, StoreError> {
    let row = on_pool!(db, |p| sqlx::query_as::<_, (String, String, Vec<u8>)>(
        "SELECT kind, number, pdf FROM invoices WHERE org_id = $1 AND id = $2"
    )
    .bind(org_id)
    .bind(id)
    .fetch_optional(p)
    .await)?;
    row.map(|(kind, number, pdf)| {
        DocumentKind::parse(&kind)
            .map(|k| (k, number, pdf))
            .ok_or_else(|| StoreError::Corrupt(format!("invoice {id}: unknown kind {kind:?}")))
    })
    .transpose()
}

/// The organisation's invoices and credit notes, newest first (ids follow issue time): `limit`
/// of those issued before document `before` (all when `None`).
pub async fn list(
    db: &Db,
    org_id: &str,
    before: Option<&str>,
    limit: i64,
) -> Result<Vec<StoredInvoiceDocument>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM invoices WHERE org_id = $1 AND (CAST($2 AS TEXT) IS NULL OR id < $2) \
         ORDER BY id DESC LIMIT $3"
    );
    Ok(on_pool!(db, |p| {
        sqlx::query_as::<_, StoredInvoiceDocument>(sqlx::AssertSqlSafe(sql.clone()))
            .bind(org_id)
            .bind(before)
            .bind(limit)
            .fetch_all(p)
            .await
    })?)
}

/// Every invoice and credit note issued from `from` to `to` (inclusive), in issue order: the
/// sales journal.
pub async fn issued_between(
    db: &Db,
    org_id: Option<&str>,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<StoredInvoiceDocument>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM invoices WHERE issued_on >= $1 AND issued_on <= $2 \
         AND ($3 IS NULL OR org_id = $3) ORDER BY id"
    );
    Ok(on_pool!(db, |p| {
        sqlx::query_as::<_, StoredInvoiceDocument>(sqlx::AssertSqlSafe(sql.clone()))
            .bind(from)
            .bind(to)
            .bind(org_id)
            .fetch_all(p)
            .await
    })?)
}
