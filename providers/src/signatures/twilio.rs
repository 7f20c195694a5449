//! Twilio request validation. `X-Twilio-Signature` is the base64 HMAC-SHA1, keyed with the auth
//! token, of the public URL Twilio called (as configured, query string included) followed by the
//! POST form parameters sorted by key (then by value for a repeated key), each written as the key
//! immediately followed by its value. The caller gives the public URL, not the internal one, and
//! the decoded form parameters. There is no timestamp: deduplicate on (CallSid, CallStatus).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha1::Sha1;

use super::{SignatureError, any_mac_matches, keyed_mac};

/// HMAC-SHA1, as Twilio uses it.
type HmacSha1 = Hmac<Sha1>;

/// Length in bytes of an HMAC-SHA1 tag.
const TAG_LEN: usize = 20;

/// Longest header we bother decoding (a real one is 28 base64 characters).
const MAX_HEADER_LEN: usize = 64;

/// The signed text: `url`, then every parameter sorted by key then value, as key followed by value.
fn signed_data(url: &str, params: &[(String, String)]) -> Vec<u8> {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    let len = sorted.iter().fold(url.len(), |len, (key, value)| {
        len.saturating_add(key.len()).saturating_add(value.len())
    });
    let mut data = Vec::with_capacity(len);
    data.extend_from_slice(url.as_bytes());
    for (key, value) in sorted {
        data.extend_from_slice(key.as_bytes());
        data.extend_from_slice(value.as_bytes());
    }
    data
}

/// Verifies `X-Twilio-Signature` for a form POST to the public `url` with the form `params`,
/// against the accepted auth `tokens` (current, previous).
pub fn verify(
    signature: Option<&str>,
    url: &str,
    params: &[(String, String)],
    tokens: &[&[u8]],
) -> Result<(), SignatureError> {
    let signature = signature.ok_or(SignatureError::Missing)?.trim();
    if signature.len() > MAX_HEADER_LEN {
        return Err(SignatureError::Malformed);
    }
    let tag = STANDARD
        .decode(signature)
        .map_err(|_| SignatureError::Malformed)?;
    if tag.len() != TAG_LEN {
        return Err(SignatureError::Malformed);
    }
    let data = signed_data(url, params);
    if any_mac_matches::<HmacSha1>(tokens, &[&data], &tag) {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// Signs a form POST to `url` as Twilio does, giving the `X-Twilio-Signature` header value.
pub fn sign(token: &[u8], url: &str, params: &[(String, String)]) -> String {
    let data = signed_data(url, params);
    keyed_mac::<HmacSha1>(token, &[&data])
        .map(|mac| STANDARD.encode(mac.finalize().into_bytes()))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const DOCS_TOKEN: &[u8] = b"12345";
    const DOCS_URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";
    const DOCS_SIGNATURE: &str = "GvWf1cFY/Q7PnoempGyD5oXAezc=";
    const PREVIOUS: &[u8] = b"previous-token";

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
            .collect()
    }

    /// The parameters of the worked example in Twilio's webhook security documentation, given in
    /// an unsorted order on purpose.
    fn docs_params() -> Vec<(String, String)> {
        pairs(&[
            ("To", "+18005551212"),
            ("Digits", "1234"),
            ("From", "+14158675310"),
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+14158675310"),
        ])
    }

    #[test]
    fn twilios_documented_example_verifies() {
        assert_eq!(
            verify(
                Some(DOCS_SIGNATURE),
                DOCS_URL,
                &docs_params(),
                &[DOCS_TOKEN]
            ),
            Ok(())
        );
        assert_eq!(sign(DOCS_TOKEN, DOCS_URL, &docs_params()), DOCS_SIGNATURE);
    }

    #[test]
    fn signing_matches_a_second_known_answer() {
        // Computed with Python's `hmac` module, with other caller numbers.
        let params = pairs(&[
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+12349013030"),
            ("Digits", "1234"),
            ("From", "+12349013030"),
            ("To", "+18005551212"),
        ]);
        assert_eq!(
            sign(DOCS_TOKEN, DOCS_URL, &params),
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
        );
    }

    #[test]
    fn repeated_keys_are_sorted_by_value() {
        // Python: base64(hmac(b"tok", b"https://x.test/hAbAzTo+1", sha1)).
        let params = pairs(&[("To", "+1"), ("A", "z"), ("A", "b")]);
        assert_eq!(
            sign(b"tok", "https://x.test/h", &params),
            "2tvOI559MnXeWK0tGZ93rkpgyck="
        );
    }

    #[test]
    fn a_signed_request_round_trips() {
        let params = pairs(&[("CallStatus", "completed"), ("CallSid", "CA1")]);
        let signature = sign(
            b"token",
            "https://zencall.test/twilio/status?org=1",
            &params,
        );
        assert_eq!(
            verify(
                Some(&signature),
                "https://zencall.test/twilio/status?org=1",
                &params,
                &[b"token"]
            ),
            Ok(())
        );
    }

    #[test]
    fn a_tampered_parameter_is_a_mismatch() {
        let mut params = docs_params();
        params[1].1 = "9999".to_owned();
        assert_eq!(
            verify(Some(DOCS_SIGNATURE), DOCS_URL, &params, &[DOCS_TOKEN]),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn a_tampered_url_is_a_mismatch() {
        for url in [
            "http://mycompany.com/myapp.php?foo=1&bar=2",
            "https://mycompany.com/myapp.php?foo=1&bar=3",
            "https://mycompany.com/myapp.php",
            "https://internal:8080/myapp.php?foo=1&bar=2",
        ] {
            assert_eq!(
                verify(Some(DOCS_SIGNATURE), url, &docs_params(), &[DOCS_TOKEN]),
                Err(SignatureError::Mismatch),
                "{url}"
            );
        }
    }

    #[test]
    fn the_previous_token_is_accepted_during_rotation() {
        assert_eq!(
            verify(
                Some(DOCS_SIGNATURE),
                DOCS_URL,
                &docs_params(),
                &[PREVIOUS, DOCS_TOKEN]
            ),
            Ok(())
        );
    }

    #[test]
    fn an_empty_list_of_tokens_verifies_nothing() {
        assert_eq!(
            verify(Some(DOCS_SIGNATURE), DOCS_URL, &docs_params(), &[]),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn a_missing_header_is_missing() {
        assert_eq!(
            verify(None, DOCS_URL, &docs_params(), &[DOCS_TOKEN]),
            Err(SignatureError::Missing)
        );
    }

    #[test]
    fn unreadable_headers_are_malformed() {
        let long = "A".repeat(200);
        for signature in [
            "",
            "not base64!",
            "GvWf1cFY/Q7PnoempGyD5oXAezc",
            "AAAA",
            long.as_str(),
        ] {
            assert_eq!(
                verify(Some(signature), DOCS_URL, &docs_params(), &[DOCS_TOKEN]),
                Err(SignatureError::Malformed),
                "{signature:?}"
            );
        }
    }

    fn params_strategy() -> impl Strategy<Value = Vec<(String, String)>> {
        proptest::collection::vec((".{0,12}", ".{0,24}"), 0..8)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn arbitrary_headers_never_panic(
            signature in proptest::option::of(prop_oneof![".{0,100}", "[A-Za-z0-9+/=]{0,40}"]),
            url in ".{0,60}",
            params in params_strategy(),
        ) {
            let _ = verify(signature.as_deref(), &url, &params, &[DOCS_TOKEN]);
        }

        #[test]
        fn signing_then_verifying_round_trips_for_any_request_and_token(
            token in proptest::collection::vec(any::<u8>(), 1..100),
            url in ".{0,60}",
            params in params_strategy(),
        ) {
            let signature = sign(&token, &url, &params);
            prop_assert_eq!(verify(Some(&signature), &url, &params, &[PREVIOUS, &token]), Ok(()));
        }

        #[test]
        fn changing_any_parameter_value_or_the_url_is_a_mismatch(
            token in proptest::collection::vec(any::<u8>(), 1..100),
            url in ".{0,60}",
            params in proptest::collection::vec((".{0,12}", ".{0,24}"), 1..8),
            index in any::<prop::sample::Index>(),
            extra in any::<char>(),
        ) {
            let signature = sign(&token, &url, &params);
            // Lengthening any part lengthens the signed text, so it can only match by collision.
            let mut tampered = params.clone();
            tampered[index.index(params.len())].1.push(extra);
            prop_assert_eq!(
                verify(Some(&signature), &url, &tampered, &[&token]),
                Err(SignatureError::Mismatch)
            );
            let longer_url = format!("{url}{extra}");
            prop_assert_eq!(
                verify(Some(&signature), &longer_url, &params, &[&token]),
                Err(SignatureError::Mismatch)
            );
        }
    }
}
