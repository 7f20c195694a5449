//! Email addresses as billing keeps them: checked for their shape only (whether a mailbox
//! exists is for the mail server to say).

/// True for a plausible address: `name@domain` with a dot in the domain, no spaces, at most
/// 254 characters (Stripe's limit).
pub fn is_plausible(text: &str) -> bool {
    let Some((local, domain)) = text.split_once('@') else {
        return false;
    };
    text.len() <= 254
        && !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains('@')
        && text.chars().all(|c| c.is_ascii_graphic() || !c.is_ascii())
        && !text.chars().any(char::is_whitespace)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_checked_for_their_shape() {
        for good in ["compta@dupont.fr", "a.b+c@sub.example.com", "élise@café.fr"] {
            assert!(is_plausible(good), "{good}");
        }
        for bad in [
            "",
            "dupont.fr",
            "@dupont.fr",
            "a@dupont",
            "a@.fr",
            "a@b.fr.",
            "a b@c.fr",
            "a@b@c.fr",
        ] {
            assert!(!is_plausible(bad), "{bad}");
        }
    }
}
