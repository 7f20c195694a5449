//! Verification of inbound webhook signatures, on the raw request before anything is parsed, and
//! the matching signing functions that our simulator and tests use to sign the events they send.
//! One module per provider (Vapi, Twilio, Stripe, Google Calendar channels), plus `zencall`, the
//! signature of the events we send to our customers; they share the
//! refusal reasons of [`SignatureError`], the [`TOLERANCE_SECS`] window, secret rotation (every
//! verifier takes the list of accepted secrets, current and previous, and an empty list or an
//! empty secret never verifies anything) and constant-time comparisons.

pub mod google;
pub mod stripe;
pub mod twilio;
pub mod vapi;
pub mod zencall;

use hmac::{KeyInit, Mac};
use sha2::{Digest, Sha256};
use subtle::{Choice, ConstantTimeEq};

/// Why an inbound webhook was refused (recorded with the provider, source address and time).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The header carrying the signature (or secret, or token) is absent.
    #[error("signature header missing")]
    Missing,
    /// The header is present but cannot be read (bad encoding, wrong length, bad structure).
    #[error("signature header malformed")]
    Malformed,
    /// The signed timestamp is further than [`TOLERANCE_SECS`] from now, in either direction.
    #[error("timestamp outside the tolerance")]
    Stale,
    /// The header is well formed but matches none of the accepted secrets.
    #[error("signature does not match")]
    Mismatch,
}

impl SignatureError {
    /// A short snake_case label for metrics: `missing`, `malformed`, `stale` or `mismatch`.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::Malformed => "malformed",
            Self::Stale => "stale",
            Self::Mismatch => "mismatch",
        }
    }
}

/// How far (in seconds, either way) a signed timestamp may be from the current time.
pub const TOLERANCE_SECS: i64 = 300;

/// HMAC-SHA256, used by Vapi and Stripe.
pub(crate) type HmacSha256 = hmac::Hmac<Sha256>;

/// A MAC keyed with `key` that has absorbed every part of `parts`, in order.
///
/// HMAC accepts keys of any length, so this is `None` only if that ever stops being true.
pub(crate) fn keyed_mac<M: Mac + KeyInit>(key: &[u8], parts: &[&[u8]]) -> Option<M> {
    let mut mac = <M as KeyInit>::new_from_slice(key).ok()?;
    for part in parts {
        mac.update(part);
    }
    Some(mac)
}

/// The MAC of `parts` under `key`, hex encoded (lowercase).
pub(crate) fn mac_hex<M: Mac + KeyInit>(key: &[u8], parts: &[&[u8]]) -> String {
    keyed_mac::<M>(key, parts)
        .map(|mac| hex::encode(mac.finalize().into_bytes()))
        .unwrap_or_default()
}

/// Whether any non-empty accepted secret gives `tag` as the MAC of `parts`.
///
/// Every secret is tried, whichever matches, and each comparison is constant time.
pub(crate) fn any_mac_matches<M: Mac + KeyInit>(
    secrets: &[&[u8]],
    parts: &[&[u8]],
    tag: &[u8],
) -> bool {
    let mut matched = false;
    for secret in secrets.iter().filter(|secret| !secret.is_empty()) {
        let ok = keyed_mac::<M>(secret, parts).is_some_and(|mac| mac.verify_slice(tag).is_ok());
        matched |= ok;
    }
    matched
}

/// Whether `given` equals one of the non-empty accepted secrets, compared in constant time.
///
/// Both sides are hashed first so that neither the comparison nor its length check reveals
/// anything about the secrets' lengths; every secret is compared, whichever matches.
pub(crate) fn any_secret_equals(given: &[u8], secrets: &[&[u8]]) -> bool {
    let given_digest = Sha256::digest(given);
    let mut matched = Choice::from(0);
    for secret in secrets.iter().filter(|secret| !secret.is_empty()) {
        matched |= Sha256::digest(secret)[..].ct_eq(&given_digest[..]);
    }
    matched.into()
}

/// Parses a unix-seconds timestamp written only with ASCII digits (no sign, no spaces).
pub(crate) fn parse_unix_seconds(text: &str) -> Result<i64, SignatureError> {
    if text.is_empty() || !text.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(SignatureError::Malformed);
    }
    text.parse::<i64>().map_err(|_| SignatureError::Malformed)
}

/// Refuses a timestamp further than [`TOLERANCE_SECS`] from `now_unix` (overflow counts as stale).
pub(crate) fn check_fresh(timestamp: i64, now_unix: i64) -> Result<(), SignatureError> {
    match now_unix.checked_sub(timestamp).and_then(i64::checked_abs) {
        Some(skew) if skew <= TOLERANCE_SECS => Ok(()),
        _ => Err(SignatureError::Stale),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_reason_is_a_short_snake_case_label() {
        assert_eq!(SignatureError::Missing.reason(), "missing");
        assert_eq!(SignatureError::Malformed.reason(), "malformed");
        assert_eq!(SignatureError::Stale.reason(), "stale");
        assert_eq!(SignatureError::Mismatch.reason(), "mismatch");
    }

    #[test]
    fn timestamps_are_digits_only() {
        assert_eq!(parse_unix_seconds("1700000000"), Ok(1_700_000_000));
        for bad in [
            "",
            "+1",
            "-1",
            " 1",
            "1 ",
            "1e3",
            "0x10",
            "99999999999999999999",
        ] {
            assert_eq!(
                parse_unix_seconds(bad),
                Err(SignatureError::Malformed),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn freshness_holds_within_the_tolerance_either_way_and_never_overflows() {
        assert_eq!(check_fresh(1000, 1000 + TOLERANCE_SECS), Ok(()));
        assert_eq!(check_fresh(1000 + TOLERANCE_SECS, 1000), Ok(()));
        assert_eq!(
            check_fresh(1000, 1001 + TOLERANCE_SECS),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            check_fresh(1001 + TOLERANCE_SECS, 1000),
            Err(SignatureError::Stale)
        );
        assert_eq!(check_fresh(i64::MIN, i64::MAX), Err(SignatureError::Stale));
        assert_eq!(check_fresh(i64::MAX, i64::MIN), Err(SignatureError::Stale));
        assert_eq!(check_fresh(0, i64::MIN), Err(SignatureError::Stale));
    }

    #[test]
    fn an_empty_secret_is_never_accepted() {
        assert!(!any_secret_equals(b"", &[b""]));
        assert!(!any_secret_equals(b"x", &[]));
        assert!(any_secret_equals(b"x", &[b"", b"x"]));
        assert!(!any_mac_matches::<HmacSha256>(&[b""], &[b"body"], &[0; 32]));
    }
}
