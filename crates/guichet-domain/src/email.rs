//! Email addresses: the unique identity of a user.
//!
//! [`Email::parse`] trims the input and lower-cases the **whole** address, local part included. RFC
//! 5321 allows a case-sensitive local part, but the providers people use treat it
//! case-insensitively, and the email is guichet's identity: `Alice@example.com` and
//! `alice@example.com` must not become two people with two sets of rights. The domain is converted
//! to ASCII with IDNA (`bücher.de` → `xn--bcher-kva.de`), so one domain has one spelling.
//!
//! The accepted syntax is deliberately narrower than RFC 5322 (no quoted local parts, no comments,
//! no IP-literal domains): what a person types in a portal, not what a mail server tolerates.

use std::fmt;

use crate::error::ParseError;

/// The longest address (RFC 5321's path limit minus the angle brackets).
pub const MAX_EMAIL_LEN: usize = 254;
/// The longest local part.
pub const MAX_LOCAL_PART_LEN: usize = 64;

/// Local parts that name a function rather than a person (`info@`, `contact@`, `compta@`, …).
///
/// Seed 001: the email becomes the person's unique and personal login, so generic addresses are
/// discouraged in favour of nominative ones. An account's [`EmailPolicy`](crate::EmailPolicy)
/// flags or rejects them. English and French variants; compared after removing a `+tag`.
pub const GENERIC_LOCAL_PARTS: &[&str] = &[
    "info",
    "contact",
    "admin",
    "administrator",
    "support",
    "sales",
    "noreply",
    "no-reply",
    "hello",
    "office",
    "billing",
    "accounts",
    "accounting",
    "compta",
    "comptabilite",
    "facturation",
    "webmaster",
    "postmaster",
    "hostmaster",
    "abuse",
    "team",
    "help",
    "service",
    "marketing",
    "secretariat",
    "accueil",
];

/// A validated, normalised email address.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email {
    address: String,
    at: usize,
}

/// Converts a domain to its ASCII (IDNA) form, lower-cased, and checks it: at least one dot,
/// labels of 1 to 63 characters of `a-z`, `0-9` and `-`, not starting or ending with `-`, 253
/// characters at most. Used for email domains and for an account's forbidden domains.
pub fn normalize_domain(domain: &str) -> Result<String, ParseError> {
    let domain = domain.trim();
    if domain.is_empty() {
        return Err(ParseError::new("the domain must not be empty"));
    }
    let ascii = idna::domain_to_ascii(domain)
        .map_err(|_| ParseError::new("the domain is not a valid internationalised domain name"))?;
    if ascii.len() > 253 {
        return Err(ParseError::new("the domain must be at most 253 characters"));
    }
    if !ascii.contains('.') {
        return Err(ParseError::new("the domain must contain a dot, e.g. example.com"));
    }
    for label in ascii.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(ParseError::new("each label of the domain must be 1 to 63 characters"));
        }
        if !label.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
            return Err(ParseError::new("the domain may contain only letters, digits, '-' and dots"));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(ParseError::new("a label of the domain must not start or end with '-'"));
        }
    }
    Ok(ascii)
}

fn valid_local_byte(b: u8) -> bool {
    b.is_ascii_graphic()
        && !matches!(b, b'@' | b'<' | b'>' | b'(' | b')' | b'[' | b']' | b',' | b';' | b':' | b'"' | b'\\')
}

impl Email {
    /// Trims, lower-cases and validates an address; the domain is converted to ASCII (IDNA).
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        let s = s.trim();
        if s.is_empty() {
            return Err(ParseError::new("must not be empty"));
        }
        let mut parts = s.split('@');
        let (Some(local), Some(domain), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(ParseError::new("must contain exactly one '@', e.g. name@example.com"));
        };
        if local.is_empty() || local.len() > MAX_LOCAL_PART_LEN {
            return Err(ParseError::new("the part before '@' must be 1 to 64 characters"));
        }
        if !local.bytes().all(valid_local_byte) {
            return Err(ParseError::new(
                "the part before '@' must be printable ASCII without spaces or any of < > ( ) [ ] , ; : \" \\",
            ));
        }
        let domain = normalize_domain(domain)?;
        let mut address = String::with_capacity(local.len() + 1 + domain.len());
        address.push_str(&local.to_ascii_lowercase());
        address.push('@');
        address.push_str(&domain);
        if address.len() > MAX_EMAIL_LEN {
            return Err(ParseError::new("must be at most 254 characters"));
        }
        Ok(Self { at: local.len(), address })
    }

    /// The normalised address.
    pub fn as_str(&self) -> &str {
        &self.address
    }

    /// The part before `@`, lower-cased.
    pub fn local_part(&self) -> &str {
        &self.address[..self.at]
    }

    /// The domain, in its ASCII (punycode) form.
    pub fn domain(&self) -> &str {
        &self.address[self.at + 1..]
    }

    /// Whether the local part, without a `+tag`, is one of [`GENERIC_LOCAL_PARTS`].
    pub fn is_generic(&self) -> bool {
        let local = self.local_part();
        let base = local.split_once('+').map_or(local, |(base, _)| base);
        GENERIC_LOCAL_PARTS.contains(&base)
    }
}

crate::error::parsed_from_text!(Email);

impl From<Email> for String {
    fn from(e: Email) -> String {
        e.address
    }
}

impl AsRef<str> for Email {
    fn as_ref(&self) -> &str {
        &self.address
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.address)
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Email({:?})", self.address)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises() {
        let cases = [
            ("  Alice@EXAMPLE.com ", "alice@example.com"),
            ("x@bücher.de", "x@xn--bcher-kva.de"),
            ("X@BÜCHER.DE", "x@xn--bcher-kva.de"),
            ("first.last+tag@sub.example.co.uk", "first.last+tag@sub.example.co.uk"),
            ("o'brien@example.ie", "o'brien@example.ie"),
        ];
        for (input, expected) in cases {
            let e = Email::parse(input).unwrap();
            assert_eq!(e.as_str(), expected, "{input:?}");
        }
        assert_eq!(Email::parse("  Alice@EXAMPLE.com "), Email::parse("alice@example.com"));
        let e = Email::parse("x@bücher.de").unwrap();
        assert_eq!((e.local_part(), e.domain()), ("x", "xn--bcher-kva.de"));
    }

    #[test]
    fn refuses_invalid_addresses() {
        let long_local = format!("{}@example.com", "a".repeat(65));
        let long_total = format!(
            "{}@{}.{}.{}.{}.com",
            "a".repeat(60),
            "b".repeat(63),
            "c".repeat(63),
            "d".repeat(63),
            "e".repeat(10)
        );
        let cases: Vec<(&str, &str)> = vec![
            ("", "must not be empty"),
            ("   ", "must not be empty"),
            ("alice", "must contain exactly one '@', e.g. name@example.com"),
            ("a@b@example.com", "must contain exactly one '@', e.g. name@example.com"),
            ("@example.com", "the part before '@' must be 1 to 64 characters"),
            (&long_local, "the part before '@' must be 1 to 64 characters"),
            (
                "al ice@example.com",
                "the part before '@' must be printable ASCII without spaces or any of < > ( ) [ ] , ; : \" \\",
            ),
            (
                "<a>@example.com",
                "the part before '@' must be printable ASCII without spaces or any of < > ( ) [ ] , ; : \" \\",
            ),
            (
                "é@example.com",
                "the part before '@' must be printable ASCII without spaces or any of < > ( ) [ ] , ; : \" \\",
            ),
            ("alice@", "the domain must not be empty"),
            ("alice@localhost", "the domain must contain a dot, e.g. example.com"),
            ("alice@example..com", "each label of the domain must be 1 to 63 characters"),
            ("alice@example.com.", "each label of the domain must be 1 to 63 characters"),
            ("alice@-example.com", "a label of the domain must not start or end with '-'"),
            ("alice@exa_mple.com", "the domain may contain only letters, digits, '-' and dots"),
            (&long_total, "must be at most 254 characters"),
        ];
        for (input, description) in cases {
            assert_eq!(Email::parse(input).map_err(|e| e.to_string()), Err(description.to_owned()), "{input:?}");
        }
    }

    #[test]
    fn generic_addresses() {
        for generic in ["info@example.com", "Contact@example.com", "compta+2025@example.fr", "no-reply@example.com"] {
            assert!(Email::parse(generic).unwrap().is_generic(), "{generic}");
        }
        for personal in ["alice@example.com", "information@example.com", "alice+info@example.com"] {
            assert!(!Email::parse(personal).unwrap().is_generic(), "{personal}");
        }
    }

    #[test]
    fn serde_validates() {
        let e = Email::parse("alice@example.com").unwrap();
        assert_eq!(serde_json::to_string(&e).unwrap(), "\"alice@example.com\"");
        assert_eq!(serde_json::from_str::<Email>("\"ALICE@example.com\"").unwrap(), e);
        assert!(serde_json::from_str::<Email>("\"alice\"").is_err());
        assert_eq!(e.to_string(), "alice@example.com");
    }
}
