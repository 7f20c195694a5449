//! Vapi server-message authentication. Vapi either echoes a shared secret in the `x-vapi-secret`
//! header (the legacy `server.secret`) or, with an HMAC credential, sends the hex HMAC-SHA256 of
//! `"{timestamp}.{body}"` in `x-signature` and the unix-seconds timestamp in `x-timestamp`. A
//! present secret header is checked first; without one the signature pair is required and its
//! timestamp must be within [`TOLERANCE_SECS`](super::TOLERANCE_SECS) of now.

use super::{
    HmacSha256, SignatureError, any_mac_matches, any_secret_equals, check_fresh, mac_hex,
    parse_unix_seconds,
};

/// Length in hex digits of an HMAC-SHA256 signature.
const SIGNATURE_HEX_LEN: usize = 64;

/// Verifies a Vapi webhook on its raw `body` against the accepted `secrets` (current, previous).
///
/// `secret_header` is `x-vapi-secret`, `signature` is `x-signature` (hex, with an optional
/// `sha256=` prefix) and `timestamp` is `x-timestamp` (unix seconds).
pub fn verify(
    secret_header: Option<&str>,
    signature: Option<&str>,
    timestamp: Option<&str>,
    body: &[u8],
    secrets: &[&[u8]],
    now_unix: i64,
) -> Result<(), SignatureError> {
    if let Some(given) = secret_header {
        return if any_secret_equals(given.trim().as_bytes(), secrets) {
            Ok(())
        } else {
            Err(SignatureError::Mismatch)
        };
    }
    let (Some(signature), Some(timestamp)) = (signature, timestamp) else {
        return Err(SignatureError::Missing);
    };
    let timestamp = timestamp.trim();
    let unix = parse_unix_seconds(timestamp)?;
    let signature = signature.trim();
    let signature = signature.strip_prefix("sha256=").unwrap_or(signature);
    if signature.len() != SIGNATURE_HEX_LEN {
        return Err(SignatureError::Malformed);
    }
    let tag = hex::decode(signature).map_err(|_| SignatureError::Malformed)?;
    check_fresh(unix, now_unix)?;
    let parts: [&[u8]; 3] = [timestamp.as_bytes(), b".", body];
    if any_mac_matches::<HmacSha256>(secrets, &parts, &tag) {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// Signs a Vapi webhook body as Vapi does: the lowercase hex HMAC-SHA256 of `"{timestamp}.{body}"`,
/// for the `x-signature` header (send `timestamp` in `x-timestamp`).
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let timestamp = timestamp.to_string();
    mac_hex::<HmacSha256>(secret, &[timestamp.as_bytes(), b".", body])
}

#[cfg(test)]
mod tests {
    use super::super::TOLERANCE_SECS;
    use super::*;
    use proptest::prelude::*;

    const SECRET: &[u8] = b"vapi-secret";
    const PREVIOUS: &[u8] = b"vapi-previous-secret";
    const NOW: i64 = 1_700_000_000;
    const BODY: &[u8] = br#"{"message":{"type":"status-update"}}"#;
    /// Computed independently with Python's `hmac` module.
    const BODY_SIGNATURE: &str = "e83fbcbe5aaef2f917162c534fc72128b9f77b8a043995a9776b92f5f8734182";

    fn verify_hmac(
        signature: &str,
        timestamp: i64,
        body: &[u8],
        secrets: &[&[u8]],
    ) -> Result<(), SignatureError> {
        verify(
            None,
            Some(signature),
            Some(&timestamp.to_string()),
            body,
            secrets,
            NOW,
        )
    }

    #[test]
    fn signing_matches_the_known_answer() {
        assert_eq!(sign(SECRET, NOW, BODY), BODY_SIGNATURE);
    }

    #[test]
    fn the_known_answer_verifies_with_and_without_the_sha256_prefix() {
        assert_eq!(verify_hmac(BODY_SIGNATURE, NOW, BODY, &[SECRET]), Ok(()));
        let prefixed = format!("sha256={BODY_SIGNATURE}");
        assert_eq!(verify_hmac(&prefixed, NOW, BODY, &[SECRET]), Ok(()));
    }

    #[test]
    fn an_uppercase_signature_is_still_read_as_hex() {
        let upper = BODY_SIGNATURE.to_uppercase();
        assert_eq!(verify_hmac(&upper, NOW, BODY, &[SECRET]), Ok(()));
    }

    #[test]
    fn a_signed_body_round_trips() {
        let signature = sign(SECRET, NOW - 10, b"hello");
        assert_eq!(
            verify_hmac(&signature, NOW - 10, b"hello", &[SECRET]),
            Ok(())
        );
    }

    #[test]
    fn a_tampered_body_is_a_mismatch() {
        assert_eq!(
            verify_hmac(
                BODY_SIGNATURE,
                NOW,
                br#"{"message":{"type":"status-updatE"}}"#,
                &[SECRET]
            ),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn a_different_timestamp_is_a_mismatch() {
        assert_eq!(
            verify_hmac(BODY_SIGNATURE, NOW + 1, BODY, &[SECRET]),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn the_previous_secret_is_accepted_during_rotation() {
        let signature = sign(PREVIOUS, NOW, BODY);
        assert_eq!(
            verify_hmac(&signature, NOW, BODY, &[SECRET, PREVIOUS]),
            Ok(())
        );
        assert_eq!(
            verify(
                Some("vapi-previous-secret"),
                None,
                None,
                BODY,
                &[SECRET, PREVIOUS],
                NOW
            ),
            Ok(())
        );
    }

    #[test]
    fn a_secret_not_in_the_list_is_a_mismatch() {
        let signature = sign(b"someone-else", NOW, BODY);
        assert_eq!(
            verify_hmac(&signature, NOW, BODY, &[SECRET]),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn an_empty_list_of_secrets_verifies_nothing() {
        assert_eq!(
            verify_hmac(BODY_SIGNATURE, NOW, BODY, &[]),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(Some(""), None, None, BODY, &[], NOW),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(Some(""), None, None, BODY, &[b""], NOW),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn an_old_timestamp_is_stale() {
        let old = NOW - TOLERANCE_SECS - 1;
        let signature = sign(SECRET, old, BODY);
        assert_eq!(
            verify_hmac(&signature, old, BODY, &[SECRET]),
            Err(SignatureError::Stale)
        );
    }

    #[test]
    fn a_future_timestamp_beyond_the_tolerance_is_stale() {
        let future = NOW + TOLERANCE_SECS + 1;
        let signature = sign(SECRET, future, BODY);
        assert_eq!(
            verify_hmac(&signature, future, BODY, &[SECRET]),
            Err(SignatureError::Stale)
        );
    }

    #[test]
    fn a_timestamp_at_the_edge_of_the_tolerance_passes() {
        let edge = NOW - TOLERANCE_SECS;
        let signature = sign(SECRET, edge, BODY);
        assert_eq!(verify_hmac(&signature, edge, BODY, &[SECRET]), Ok(()));
    }

    #[test]
    fn the_shared_secret_header_is_checked_first() {
        assert_eq!(
            verify(Some("vapi-secret"), None, None, BODY, &[SECRET], NOW),
            Ok(())
        );
        // A wrong secret header is refused even if a valid signature pair comes with it.
        assert_eq!(
            verify(
                Some("wrong"),
                Some(BODY_SIGNATURE),
                Some("1700000000"),
                BODY,
                &[SECRET],
                NOW
            ),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn without_a_secret_header_the_signature_pair_is_required() {
        assert_eq!(
            verify(None, None, None, BODY, &[SECRET], NOW),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            verify(None, Some(BODY_SIGNATURE), None, BODY, &[SECRET], NOW),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            verify(None, None, Some("1700000000"), BODY, &[SECRET], NOW),
            Err(SignatureError::Missing)
        );
    }

    #[test]
    fn unreadable_headers_are_malformed() {
        let not_hex = "z".repeat(64);
        let cases: [(&str, &str); 6] = [
            (BODY_SIGNATURE, "soon"),
            (BODY_SIGNATURE, "-1700000000"),
            (BODY_SIGNATURE, "99999999999999999999999"),
            (&not_hex, "1700000000"),
            ("abcd", "1700000000"),
            (
                "sha1=e83fbcbe5aaef2f917162c534fc72128b9f77b8a043995a9776b92f5f8734182",
                "1700000000",
            ),
        ];
        for (signature, timestamp) in cases {
            assert_eq!(
                verify(None, Some(signature), Some(timestamp), BODY, &[SECRET], NOW),
                Err(SignatureError::Malformed),
                "{signature:?} {timestamp:?}"
            );
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn arbitrary_headers_never_panic(
            secret_header in proptest::option::of(".{0,80}"),
            signature in proptest::option::of(prop_oneof![".{0,100}", "(sha256=)?[0-9a-fA-F]{0,70}"]),
            timestamp in proptest::option::of(prop_oneof![".{0,30}", "[0-9]{0,25}"]),
            body in proptest::collection::vec(any::<u8>(), 0..256),
            now in any::<i64>(),
        ) {
            let _ = verify(
                secret_header.as_deref(),
                signature.as_deref(),
                timestamp.as_deref(),
                &body,
                &[SECRET],
                now,
            );
        }

        #[test]
        fn signing_then_verifying_round_trips_for_any_body_and_secret(
            secret in proptest::collection::vec(any::<u8>(), 1..100),
            body in proptest::collection::vec(any::<u8>(), 0..512),
            skew in -TOLERANCE_SECS..=TOLERANCE_SECS,
        ) {
            let timestamp = NOW + skew;
            let signature = sign(&secret, timestamp, &body);
            prop_assert_eq!(verify_hmac(&signature, timestamp, &body, &[PREVIOUS, &secret]), Ok(()));
        }

        #[test]
        fn flipping_any_byte_of_the_body_is_a_mismatch(
            secret in proptest::collection::vec(any::<u8>(), 1..100),
            body in proptest::collection::vec(any::<u8>(), 1..512),
            index in any::<prop::sample::Index>(),
            flip in 1..=u8::MAX,
        ) {
            let signature = sign(&secret, NOW, &body);
            let mut tampered = body.clone();
            let at = index.index(tampered.len());
            tampered[at] ^= flip;
            prop_assert_eq!(
                verify_hmac(&signature, NOW, &tampered, &[&secret]),
                Err(SignatureError::Mismatch)
            );
        }
    }
}
