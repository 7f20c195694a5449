//! The signature on the webhooks WE send to our customers, in the [`HEADER`] header
//! `Zencall-Signature: t=<unix seconds>,v1=<hex>`.
//!
//! The scheme is exactly Stripe's, so this module only delegates to [`super::stripe`]: `t` is the
//! time of sending in unix seconds, and `v1` is the lowercase hex HMAC-SHA256, keyed with the
//! endpoint's secret, of the text made of `t`, a dot, and the raw request body as sent.
//!
//! How a customer verifies a delivery: read the header and split it on commas into `key=value`
//! pairs; take `t` and every `v1`. Before parsing the JSON, compute the HMAC-SHA256 of
//! `"{t}.{raw body}"` with the endpoint secret (the exact bytes received, not a re-serialised
//! body), hex encode it, and compare it with each `v1` in constant time; accept the request when
//! one matches. Then refuse it when `t` is more than a few minutes away from the current time
//! (we use [`TOLERANCE_SECS`](super::TOLERANCE_SECS)), which stops replays of an old delivery.
//! While a secret is being rotated, try the new and the previous secret. Libraries that verify
//! Stripe webhooks verify ours too, given our header instead of `Stripe-Signature`.

use super::{SignatureError, stripe};

/// The name of the header that carries the signature of an outbound webhook.
pub const HEADER: &str = "Zencall-Signature";

/// Signs the raw `body` sent at `timestamp` (unix seconds) with the endpoint `secret`, giving the
/// full [`HEADER`] value `t=..,v1=..`.
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    stripe::sign(secret, timestamp, body)
}

/// Verifies a [`HEADER`] value against the raw `body` and the accepted endpoint `secrets`
/// (current, previous), refusing a timestamp further than
/// [`TOLERANCE_SECS`](super::TOLERANCE_SECS) from `now_unix`.
pub fn verify(
    header: Option<&str>,
    body: &[u8],
    secrets: &[&[u8]],
    now_unix: i64,
) -> Result<(), SignatureError> {
    stripe::verify(header, body, secrets, now_unix)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::super::TOLERANCE_SECS;
    use super::*;

    const SECRET: &[u8] = b"zc_whsec_endpoint_secret";
    const NOW: i64 = 1_700_000_000;
    const BODY: &[u8] = br#"{"type":"call.completed","id":"evt_1"}"#;

    #[test]
    fn a_signed_body_verifies() {
        let header = sign(SECRET, NOW, BODY);
        assert!(header.starts_with("t=1700000000,v1="), "{header}");
        assert_eq!(verify(Some(&header), BODY, &[SECRET], NOW + 10), Ok(()));
    }

    #[test]
    fn a_wrong_secret_or_a_tampered_body_is_a_mismatch() {
        let header = sign(SECRET, NOW, BODY);
        assert_eq!(
            verify(Some(&header), BODY, &[b"another secret"], NOW),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(
                Some(&header),
                br#"{"type":"call.completed","id":"evt_2"}"#,
                &[SECRET],
                NOW
            ),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn an_old_signature_is_stale() {
        let header = sign(SECRET, NOW - TOLERANCE_SECS - 1, BODY);
        assert_eq!(
            verify(Some(&header), BODY, &[SECRET], NOW),
            Err(SignatureError::Stale)
        );
    }
}
