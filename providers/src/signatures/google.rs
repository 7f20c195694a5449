//! Google Calendar push-notification authentication. A notification carries no body and no
//! signature; its `X-Goog-Channel-Token` header must equal the token we set when we watched the
//! calendar (`events.watch {token}`). Tokens are compared in constant time, and the accepted list
//! holds the tokens of the channels still alive (current and previous).

use super::{SignatureError, any_secret_equals};

/// Verifies a channel notification's `X-Goog-Channel-Token` against the accepted `tokens`.
pub fn verify(channel_token: Option<&str>, tokens: &[&[u8]]) -> Result<(), SignatureError> {
    let given = channel_token.ok_or(SignatureError::Missing)?;
    if any_secret_equals(given.trim().as_bytes(), tokens) {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const TOKEN: &[u8] = b"org=01JD3;cal=primary;k=3f9a";
    const PREVIOUS: &[u8] = b"org=01JD3;cal=primary;k=77c1";

    #[test]
    fn the_token_we_set_verifies() {
        assert_eq!(
            verify(Some("org=01JD3;cal=primary;k=3f9a"), &[TOKEN]),
            Ok(())
        );
    }

    #[test]
    fn the_previous_token_is_accepted_during_rotation() {
        assert_eq!(
            verify(Some("org=01JD3;cal=primary;k=77c1"), &[TOKEN, PREVIOUS]),
            Ok(())
        );
    }

    #[test]
    fn another_token_is_a_mismatch() {
        for given in [
            "org=01JD3;cal=primary;k=3f9b",
            "org=01JD3;cal=primary;k=3f9",
            "",
            "x",
        ] {
            assert_eq!(
                verify(Some(given), &[TOKEN]),
                Err(SignatureError::Mismatch),
                "{given:?}"
            );
        }
    }

    #[test]
    fn a_missing_header_is_missing() {
        assert_eq!(verify(None, &[TOKEN]), Err(SignatureError::Missing));
    }

    #[test]
    fn an_empty_list_of_tokens_verifies_nothing() {
        assert_eq!(verify(Some(""), &[]), Err(SignatureError::Mismatch));
        assert_eq!(verify(Some(""), &[b""]), Err(SignatureError::Mismatch));
        assert_eq!(
            verify(Some("org=01JD3;cal=primary;k=3f9a"), &[]),
            Err(SignatureError::Mismatch)
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn arbitrary_headers_never_panic(header in proptest::option::of(".{0,200}")) {
            let _ = verify(header.as_deref(), &[TOKEN]);
        }

        #[test]
        fn a_token_verifies_itself_and_nothing_else(
            token in "[!-~]{1,64}",
            other in "[!-~]{1,64}",
        ) {
            prop_assert_eq!(verify(Some(&token), &[PREVIOUS, token.as_bytes()]), Ok(()));
            if other != token {
                prop_assert_eq!(
                    verify(Some(&other), &[token.as_bytes()]),
                    Err(SignatureError::Mismatch)
                );
            }
        }
    }
}
