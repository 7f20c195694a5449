//! Stripe webhook verification. `Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>...][,v0=...]`,
//! where each `v1` is the hex HMAC-SHA256 of `"{t}.{raw_body}"` under an endpoint secret
//! (`whsec_...`). Unlike async-stripe, which keeps only the last `v1` and so breaks while Stripe
//! rolls a secret, ANY matching `v1` passes; `t` must be within
//! [`TOLERANCE_SECS`](super::TOLERANCE_SECS) of now. Other schemes (`v0`, unknown keys) are ignored.

use super::{
    HmacSha256, SignatureError, any_mac_matches, check_fresh, mac_hex, parse_unix_seconds,
};

/// Headers with more comma-separated elements than this are refused as malformed.
const MAX_ELEMENTS: usize = 16;

/// Length in hex digits of a `v1` signature.
const SIGNATURE_HEX_LEN: usize = 64;

/// Verifies the `Stripe-Signature` `header` of the raw `body` against the accepted endpoint
/// `secrets` (current, previous).
///
/// The header must hold exactly one `t` (ASCII digits) and at least one `v1`, every `v1` being 64
/// hex digits; otherwise it is [`SignatureError::Malformed`].
pub fn verify(
    header: Option<&str>,
    body: &[u8],
    secrets: &[&[u8]],
    now_unix: i64,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    if header.split(',').nth(MAX_ELEMENTS).is_some() {
        return Err(SignatureError::Malformed);
    }
    let mut timestamp: Option<&str> = None;
    let mut tags: Vec<Vec<u8>> = Vec::new();
    for element in header.split(',') {
        let (key, value) = element
            .trim()
            .split_once('=')
            .ok_or(SignatureError::Malformed)?;
        match key {
            "t" if timestamp.is_some() => return Err(SignatureError::Malformed),
            "t" => timestamp = Some(value),
            "v1" => {
                if value.len() != SIGNATURE_HEX_LEN {
                    return Err(SignatureError::Malformed);
                }
                tags.push(hex::decode(value).map_err(|_| SignatureError::Malformed)?);
            }
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
    let unix = parse_unix_seconds(timestamp)?;
    if tags.is_empty() {
        return Err(SignatureError::Malformed);
    }
    check_fresh(unix, now_unix)?;
    let parts: [&[u8]; 3] = [timestamp.as_bytes(), b".", body];
    let mut matched = false;
    for tag in &tags {
        matched |= any_mac_matches::<HmacSha256>(secrets, &parts, tag);
    }
    if matched {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// Signs `body` as Stripe does, giving the full `Stripe-Signature` header value `t=..,v1=..`.
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let t = timestamp.to_string();
    let v1 = mac_hex::<HmacSha256>(secret, &[t.as_bytes(), b".", body]);
    format!("t={t},v1={v1}")
}

#[cfg(test)]
mod tests {
    use super::super::TOLERANCE_SECS;
    use super::*;
    use proptest::prelude::*;

    const SECRET: &[u8] = b"whsec_test_secret";
    const PREVIOUS: &[u8] = b"whsec_previous_secret";
    const NOW: i64 = 1_700_000_000;
    const BODY: &[u8] = br#"{"id":"evt_1","object":"event"}"#;
    /// Computed independently with Python's `hmac` module.
    const BODY_V1: &str = "0c8670ed117751cc551a20e35839447075c42800ea3cf3e8a2fbda99cd1e6edd";

    #[test]
    fn signing_matches_the_known_answer() {
        assert_eq!(
            sign(SECRET, NOW, BODY),
            format!("t=1700000000,v1={BODY_V1}")
        );
    }

    #[test]
    fn the_known_answer_verifies() {
        let header = format!("t=1700000000,v1={BODY_V1}");
        assert_eq!(verify(Some(&header), BODY, &[SECRET], NOW), Ok(()));
    }

    #[test]
    fn a_signed_body_round_trips() {
        let header = sign(SECRET, NOW + 30, b"payload");
        assert_eq!(verify(Some(&header), b"payload", &[SECRET], NOW), Ok(()));
    }

    #[test]
    fn a_tampered_body_is_a_mismatch() {
        let header = sign(SECRET, NOW, BODY);
        assert_eq!(
            verify(
                Some(&header),
                br#"{"id":"evt_2","object":"event"}"#,
                &[SECRET],
                NOW
            ),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn a_changed_timestamp_is_a_mismatch() {
        let header = format!("t=1700000001,v1={BODY_V1}");
        assert_eq!(
            verify(Some(&header), BODY, &[SECRET], NOW),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn the_previous_secret_is_accepted_during_rotation() {
        let header = sign(PREVIOUS, NOW, BODY);
        assert_eq!(
            verify(Some(&header), BODY, &[SECRET, PREVIOUS], NOW),
            Ok(())
        );
    }

    #[test]
    fn one_bad_and_one_good_v1_passes_in_either_order() {
        let bad = "0".repeat(64);
        let good_last = format!("t=1700000000,v1={bad},v1={BODY_V1}");
        let good_first = format!("t=1700000000,v1={BODY_V1},v1={bad}");
        assert_eq!(verify(Some(&good_last), BODY, &[SECRET], NOW), Ok(()));
        assert_eq!(verify(Some(&good_first), BODY, &[SECRET], NOW), Ok(()));
    }

    #[test]
    fn a_header_rolled_by_stripe_with_two_secrets_passes_with_either() {
        let old = sign(PREVIOUS, NOW, BODY);
        let new = sign(SECRET, NOW, BODY);
        let old_v1 = old.rsplit("v1=").next().unwrap_or_default();
        let header = format!(
            "{new},v1={old_v1},v0=6ffbb59b2300aae63f272406069a9788598b792a944a07aba816edb039989a39"
        );
        assert_eq!(verify(Some(&header), BODY, &[SECRET], NOW), Ok(()));
        assert_eq!(verify(Some(&header), BODY, &[PREVIOUS], NOW), Ok(()));
    }

    #[test]
    fn an_empty_list_of_secrets_verifies_nothing() {
        let header = sign(SECRET, NOW, BODY);
        assert_eq!(
            verify(Some(&header), BODY, &[], NOW),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn an_old_timestamp_is_stale() {
        let header = sign(SECRET, NOW - TOLERANCE_SECS - 1, BODY);
        assert_eq!(
            verify(Some(&header), BODY, &[SECRET], NOW),
            Err(SignatureError::Stale)
        );
    }

    #[test]
    fn a_timestamp_at_the_edge_of_the_tolerance_passes() {
        let header = sign(SECRET, NOW - TOLERANCE_SECS, BODY);
        assert_eq!(verify(Some(&header), BODY, &[SECRET], NOW), Ok(()));
    }

    #[test]
    fn spaces_around_elements_are_tolerated() {
        let header = format!("t=1700000000, v1={BODY_V1} ");
        assert_eq!(verify(Some(&header), BODY, &[SECRET], NOW), Ok(()));
    }

    #[test]
    fn a_missing_header_is_missing() {
        assert_eq!(
            verify(None, BODY, &[SECRET], NOW),
            Err(SignatureError::Missing)
        );
    }

    #[test]
    fn unreadable_headers_are_malformed() {
        let v1 = format!("v1={BODY_V1}");
        let too_many = format!("t=1700000000,{}", vec![v1.as_str(); 16].join(","));
        let cases = [
            String::new(),
            "garbage".to_owned(),
            v1.clone(),
            "t=1700000000".to_owned(),
            "t=1700000000,v0=abcd".to_owned(),
            format!("t=soon,{v1}"),
            format!("t=-1,{v1}"),
            format!("t=99999999999999999999999,{v1}"),
            format!("t=1700000000,t=1700000000,{v1}"),
            format!("t=1700000000,{v1},v1=abcd"),
            format!("t=1700000000,v1={}", "zz".repeat(32)),
            format!("t=1700000000,{v1},junk"),
            too_many,
        ];
        for header in cases {
            assert_eq!(
                verify(Some(&header), BODY, &[SECRET], NOW),
                Err(SignatureError::Malformed),
                "{header:?}"
            );
        }
    }

    #[test]
    fn sixteen_elements_are_still_read() {
        let filler = "v0=x,".repeat(14);
        let header = format!("t=1700000000,{filler}v1={BODY_V1}");
        assert_eq!(verify(Some(&header), BODY, &[SECRET], NOW), Ok(()));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn arbitrary_headers_never_panic(
            header in proptest::option::of(prop_oneof![
                ".{0,200}",
                "(t=[0-9+-]{0,25},)?((v1|v0|t|x)=[0-9a-fA-Fz]{0,70},?){0,20}",
            ]),
            body in proptest::collection::vec(any::<u8>(), 0..256),
            now in any::<i64>(),
        ) {
            let _ = verify(header.as_deref(), &body, &[SECRET], now);
        }

        #[test]
        fn signing_at_any_time_never_panics(
            timestamp in any::<i64>(),
            now in any::<i64>(),
        ) {
            let header = sign(SECRET, timestamp, BODY);
            let _ = verify(Some(&header), BODY, &[SECRET], now);
        }

        #[test]
        fn signing_then_verifying_round_trips_for_any_body_and_secret(
            secret in proptest::collection::vec(any::<u8>(), 1..100),
            body in proptest::collection::vec(any::<u8>(), 0..512),
            skew in -TOLERANCE_SECS..=TOLERANCE_SECS,
        ) {
            let header = sign(&secret, NOW + skew, &body);
            prop_assert_eq!(verify(Some(&header), &body, &[PREVIOUS, &secret], NOW), Ok(()));
        }

        #[test]
        fn flipping_any_byte_of_the_body_is_a_mismatch(
            secret in proptest::collection::vec(any::<u8>(), 1..100),
            body in proptest::collection::vec(any::<u8>(), 1..512),
            index in any::<prop::sample::Index>(),
            flip in 1..=u8::MAX,
        ) {
            let header = sign(&secret, NOW, &body);
            let mut tampered = body.clone();
            let at = index.index(tampered.len());
            tampered[at] ^= flip;
            prop_assert_eq!(
                verify(Some(&header), &tampered, &[&secret], NOW),
                Err(SignatureError::Mismatch)
            );
        }
    }
}
