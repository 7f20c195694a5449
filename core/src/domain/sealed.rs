//! Secrets sealed at rest: OAuth refresh and access tokens, PKCE verifiers. Each value is
//! encrypted with AES-256-GCM (ring) under a random 96-bit nonce, and stored as text naming the
//! key that sealed it, so keys rotate: new values are sealed with the active key, old ones
//! still open with the key they name until they are sealed again. The associated data binds a
//! sealed value to its place (`calendar_connection:{id}:refresh_token`): copied to another
//! row or column, it no longer opens.
//!
//! Stored form: `v1.{key id}.{base64url(nonce ‖ ciphertext ‖ tag)}`.

use std::collections::HashMap;
use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use secrecy::{ExposeSecret, SecretString};

/// The version tag of the stored form.
const VERSION: &str = "v1";
/// Length of a key, in bytes.
pub const KEY_LEN: usize = 32;

/// Why a value cannot be sealed or opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// No key is configured: nothing can be sealed.
    #[error(
        "no encryption key is configured for stored secrets: set calendar.encryption_keys and calendar.active_key_id"
    )]
    NoKey,
    /// A configured key is unusable.
    #[error("calendar.encryption_keys.{key_id}: {reason}")]
    BadKey {
        /// The key's id.
        key_id: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The active key id names no configured key.
    #[error("calendar.active_key_id: `{0}` is not one of calendar.encryption_keys")]
    UnknownActiveKey(String),
    /// The sealed value names a key that is not configured (any more).
    #[error("the stored secret was sealed with key `{0}`, which is not configured")]
    UnknownKey(String),
    /// The sealed value is not in the stored form.
    #[error("the stored secret is malformed")]
    Malformed,
    /// The value was altered, sealed for another place, or sealed with another key of this id.
    #[error("the stored secret cannot be opened (altered, or sealed for another record)")]
    Tampered,
}

/// Seals and opens secrets with the configured keys; cheap to share behind an `Arc`.
pub struct Sealer {
    keys: HashMap<String, LessSafeKey>,
    active: Option<String>,
    rng: SystemRandom,
}

impl fmt::Debug for Sealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ids: Vec<&String> = self.keys.keys().collect();
        ids.sort();
        f.debug_struct("Sealer")
            .field("key_ids", &ids)
            .field("active", &self.active)
            .finish()
    }
}

/// True for a usable key id: 1 to 64 characters of `A-Z a-z 0-9 - _`.
fn valid_key_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl Sealer {
    /// A sealer without keys: opening and sealing both fail with [`SealError::NoKey`] or
    /// [`SealError::UnknownKey`].
    pub fn disabled() -> Self {
        Self {
            keys: HashMap::new(),
            active: None,
            rng: SystemRandom::new(),
        }
    }

    /// A sealer from raw keys by id, sealing with `active`.
    pub fn new(keys: &[(&str, [u8; KEY_LEN])], active: &str) -> Result<Self, SealError> {
        let mut map = HashMap::new();
        for (id, bytes) in keys {
            if !valid_key_id(id) {
                return Err(SealError::BadKey {
                    key_id: (*id).to_string(),
                    reason: "a key id is 1 to 64 characters of A-Z a-z 0-9 - _".into(),
                });
            }
            let unbound = UnboundKey::new(&AES_256_GCM, bytes).map_err(|_| SealError::BadKey {
                key_id: (*id).to_string(),
                reason: "not a valid AES-256 key".into(),
            })?;
            map.insert((*id).to_string(), LessSafeKey::new(unbound));
        }
        if !map.contains_key(active) {
            return Err(SealError::UnknownActiveKey(active.to_string()));
        }
        Ok(Self {
            keys: map,
            active: Some(active.to_string()),
            rng: SystemRandom::new(),
        })
    }

    /// A sealer from configuration: key id → base64 of 32 bytes, and the active key id. No keys
    /// and no active id give a [disabled](Sealer::disabled) sealer; anything half configured
    /// or malformed is an error naming the key.
    pub fn from_config(
        keys: &HashMap<String, SecretString>,
        active_key_id: &str,
    ) -> Result<Self, SealError> {
        let active = active_key_id.trim();
        if keys.is_empty() && active.is_empty() {
            return Ok(Self::disabled());
        }
        let mut decoded = Vec::with_capacity(keys.len());
        for (id, value) in keys {
            let bytes =
                STANDARD
                    .decode(value.expose_secret().trim())
                    .map_err(|_| SealError::BadKey {
                        key_id: id.clone(),
                        reason: "must be standard base64".into(),
                    })?;
            let key: [u8; KEY_LEN] = bytes.try_into().map_err(|_| SealError::BadKey {
                key_id: id.clone(),
                reason: format!("must decode to {KEY_LEN} bytes"),
            })?;
            decoded.push((id.as_str(), key));
        }
        Self::new(&decoded, active)
    }

    /// A fresh random key, base64 encoded, as configuration holds it.
    pub fn generate_key() -> Result<SecretString, SealError> {
        let mut key = [0u8; KEY_LEN];
        SystemRandom::new()
            .fill(&mut key)
            .map_err(|_| SealError::NoKey)?;
        Ok(SecretString::from(STANDARD.encode(key)))
    }

    /// True when secrets can be sealed.
    pub fn is_enabled(&self) -> bool {
        self.active.is_some()
    }

    /// Seals `secret` for the place named by `context`, with the active key.
    pub fn seal(&self, secret: &SecretString, context: &str) -> Result<String, SealError> {
        let id = self.active.as_deref().ok_or(SealError::NoKey)?;
        let key = self.keys.get(id).ok_or(SealError::NoKey)?;
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill(&mut nonce).map_err(|_| SealError::NoKey)?;
        let mut buffer = secret.expose_secret().as_bytes().to_vec();
        key.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(context.as_bytes()),
            &mut buffer,
        )
        .map_err(|_| SealError::Malformed)?;
        let mut sealed = Vec::with_capacity(NONCE_LEN + buffer.len());
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&buffer);
        Ok(format!("{VERSION}.{id}.{}", URL_SAFE_NO_PAD.encode(sealed)))
    }

    /// Opens a value sealed for `context`, with whichever key it names.
    pub fn open(&self, sealed: &str, context: &str) -> Result<SecretString, SealError> {
        let mut parts = sealed.splitn(3, '.');
        let (Some(VERSION), Some(id), Some(body)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(SealError::Malformed);
        };
        let key = self
            .keys
            .get(id)
            .ok_or_else(|| SealError::UnknownKey(id.to_string()))?;
        let mut bytes = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| SealError::Malformed)?;
        if bytes.len() < NONCE_LEN + AES_256_GCM.tag_len() {
            return Err(SealError::Malformed);
        }
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&bytes[..NONCE_LEN]);
        let plain = key
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context.as_bytes()),
                &mut bytes[NONCE_LEN..],
            )
            .map_err(|_| SealError::Tampered)?;
        let text = String::from_utf8(plain.to_vec()).map_err(|_| SealError::Tampered)?;
        Ok(SecretString::from(text))
    }

    /// The id of the key a sealed value names, if it is in the stored form.
    pub fn key_id_of(sealed: &str) -> Option<&str> {
        let mut parts = sealed.splitn(3, '.');
        match (parts.next(), parts.next()) {
            (Some(VERSION), Some(id)) => Some(id),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn secret(text: &str) -> SecretString {
        SecretString::from(text.to_string())
    }

    fn sealer(active: &str) -> Sealer {
        Sealer::new(&[("k1", [7u8; KEY_LEN]), ("k2", [9u8; KEY_LEN])], active).unwrap()
    }

    #[test]
    fn a_sealed_secret_opens_for_its_context_and_hides_its_text() {
        let s = sealer("k1");
        let sealed = s.seal(&secret("1//refresh-token"), "conn:a").unwrap();
        assert!(sealed.starts_with("v1.k1."));
        assert!(!sealed.contains("refresh"));
        assert_eq!(
            s.open(&sealed, "conn:a").unwrap().expose_secret(),
            "1//refresh-token"
        );
    }

    #[test]
    fn each_seal_uses_a_fresh_nonce() {
        let s = sealer("k1");
        let a = s.seal(&secret("same"), "c").unwrap();
        let b = s.seal(&secret("same"), "c").unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn a_value_sealed_for_another_record_does_not_open() {
        let s = sealer("k1");
        let sealed = s.seal(&secret("token"), "conn:a").unwrap();
        assert_eq!(s.open(&sealed, "conn:b").err(), Some(SealError::Tampered));
    }

    #[test]
    fn an_altered_value_does_not_open() {
        let s = sealer("k1");
        let sealed = s.seal(&secret("token"), "c").unwrap();
        let mut bytes = sealed.into_bytes();
        let last = bytes.len() - 2;
        bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
        let altered = String::from_utf8(bytes).unwrap();
        assert_eq!(s.open(&altered, "c").err(), Some(SealError::Tampered));
        assert_eq!(s.open("v1.k1.", "c").err(), Some(SealError::Malformed));
        assert_eq!(s.open("plain text", "c").err(), Some(SealError::Malformed));
        assert_eq!(s.open("v1.k1.!!!", "c").err(), Some(SealError::Malformed));
    }

    #[test]
    fn after_a_rotation_old_values_open_and_new_ones_use_the_active_key() {
        let old = sealer("k1").seal(&secret("old"), "c").unwrap();
        let rotated = sealer("k2");
        assert_eq!(rotated.open(&old, "c").unwrap().expose_secret(), "old");
        let new = rotated.seal(&secret("new"), "c").unwrap();
        assert_eq!(Sealer::key_id_of(&new), Some("k2"));
    }

    #[test]
    fn a_value_sealed_with_a_removed_key_names_it() {
        let sealed = sealer("k2").seal(&secret("x"), "c").unwrap();
        let only_k1 = Sealer::new(&[("k1", [7u8; KEY_LEN])], "k1").unwrap();
        assert_eq!(
            only_k1.open(&sealed, "c").err(),
            Some(SealError::UnknownKey("k2".into()))
        );
    }

    #[test]
    fn a_key_under_the_same_id_but_other_bytes_does_not_open() {
        let sealed = sealer("k1").seal(&secret("x"), "c").unwrap();
        let other = Sealer::new(&[("k1", [8u8; KEY_LEN])], "k1").unwrap();
        assert_eq!(other.open(&sealed, "c").err(), Some(SealError::Tampered));
    }

    #[test]
    fn configuration_is_decoded_and_checked_naming_the_key() {
        let key = Sealer::generate_key().unwrap();
        let keys = HashMap::from([("2026-01".to_string(), key)]);
        let s = Sealer::from_config(&keys, "2026-01").unwrap();
        assert!(s.is_enabled());
        let sealed = s.seal(&secret("t"), "c").unwrap();
        assert_eq!(s.open(&sealed, "c").unwrap().expose_secret(), "t");

        assert_eq!(
            Sealer::from_config(&keys, "other").err(),
            Some(SealError::UnknownActiveKey("other".into()))
        );
        let short = HashMap::from([("k".to_string(), secret("c2hvcnQ="))]);
        let err = Sealer::from_config(&short, "k").unwrap_err();
        assert!(
            err.to_string().contains("calendar.encryption_keys.k"),
            "{err}"
        );
        let bad = HashMap::from([("k".to_string(), secret("not base64!"))]);
        assert!(matches!(
            Sealer::from_config(&bad, "k"),
            Err(SealError::BadKey { .. })
        ));
        let bad_id = HashMap::from([("a.b".to_string(), Sealer::generate_key().unwrap())]);
        assert!(matches!(
            Sealer::from_config(&bad_id, "a.b"),
            Err(SealError::BadKey { .. })
        ));
    }

    #[test]
    fn without_keys_nothing_is_sealed_and_the_error_says_what_to_configure() {
        let s = Sealer::from_config(&HashMap::new(), "").unwrap();
        assert!(!s.is_enabled());
        let err = s.seal(&secret("t"), "c").unwrap_err();
        assert_eq!(err, SealError::NoKey);
        assert!(err.to_string().contains("calendar.encryption_keys"));
    }

    #[test]
    fn debug_output_shows_key_ids_and_never_key_bytes() {
        let text = format!("{:?}", sealer("k1"));
        assert!(text.contains("k1") && text.contains("k2"), "{text}");
        assert!(!text.contains("[7"), "{text}");
    }
}
