//! Phone numbers in E.164 form.

use std::fmt;

use crate::error::ParseError;

/// A phone number in E.164 form: `+`, then 8 to 15 digits, the first not `0`.
///
/// [`Phone::parse`] removes the separators people type (spaces, `-`, `.`, `(`, `)`); it does not
/// guess a country code, so a national number such as `01 23 45 67 89` is refused.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Phone(String);

impl Phone {
    /// Removes separators and checks the E.164 form.
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        let compact: String = s.chars().filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')' | '\t')).collect();
        let Some(digits) = compact.strip_prefix('+') else {
            return Err(ParseError::new(
                "must be in international form: '+', then the country code, e.g. +33123456789",
            ));
        };
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ParseError::new(
                "must contain only digits after '+' (spaces, '-', '.', '(' and ')' are ignored)",
            ));
        }
        if !(8..=15).contains(&digits.len()) {
            return Err(ParseError::new("must have 8 to 15 digits after '+'"));
        }
        if digits.starts_with('0') {
            return Err(ParseError::new("the country code must not start with 0"));
        }
        Ok(Self(compact))
    }

    /// The E.164 form, e.g. `+33123456789`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

crate::error::parsed_from_text!(Phone);

impl From<Phone> for String {
    fn from(p: Phone) -> String {
        p.0
    }
}

impl fmt::Display for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Phone({:?})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_table() {
        const INTERNATIONAL: &str = "must be in international form: '+', then the country code, e.g. +33123456789";
        const DIGITS: &str = "must contain only digits after '+' (spaces, '-', '.', '(' and ')' are ignored)";
        const LENGTH: &str = "must have 8 to 15 digits after '+'";
        let table: [(&str, Result<&str, &str>); 12] = [
            ("+33 1 23 45 67 89", Ok("+33123456789")),
            ("+1 (877) 907-3002", Ok("+18779073002")),
            ("+44.20.7946.0958", Ok("+442079460958")),
            ("+12345678", Ok("+12345678")),
            ("+123456789012345", Ok("+123456789012345")),
            ("01 23 45 67 89", Err(INTERNATIONAL)),
            ("", Err(INTERNATIONAL)),
            ("+33 1 23 45 67 8x", Err(DIGITS)),
            ("++33123456789", Err(DIGITS)),
            ("+1234567", Err(LENGTH)),
            ("+1234567890123456", Err(LENGTH)),
            ("+0123456789", Err("the country code must not start with 0")),
        ];
        for (input, expected) in table {
            let parsed = Phone::parse(input).map(|p| p.to_string()).map_err(|e| e.to_string());
            assert_eq!(parsed, expected.map(str::to_owned).map_err(str::to_owned), "{input:?}");
        }
    }

    #[test]
    fn serde_validates() {
        assert_eq!(serde_json::from_str::<Phone>("\"+33 1 23 45 67 89\"").unwrap().as_str(), "+33123456789");
        assert!(serde_json::from_str::<Phone>("\"123\"").is_err());
    }
}
