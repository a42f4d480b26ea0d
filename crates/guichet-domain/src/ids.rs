//! Validating newtypes for identifiers and names.
//!
//! Two shapes:
//! - **ids** ([`AccountId`], [`UserId`], [`MembershipId`], [`ResourceId`], [`DelegationId`],
//!   [`InvitationId`], [`ContactId`], [`AccessRequestId`]): 1 to 64 characters, the first an ASCII letter or digit, the
//!   others ASCII letters, digits, `_`, `-`, `.`, `:` or `@`. Never `/`: account ids are joined with
//!   `/` in the store's materialised paths. Case is kept (ids are opaque).
//! - **names** ([`RoleName`], [`FeatureName`], [`AccountKind`]): 1 to 64 characters of
//!   `[a-z][a-z0-9_]*` (snake case, as in the catalog and in permission strings).
//!
//! `parse` validates; `from_trusted` does not, and is only for values read back from the store
//! (validated when written). Deserialising validates too, so an invalid value cannot enter through
//! JSON or TOML either.

use std::borrow::Borrow;
use std::fmt;
use std::str::FromStr;

use crate::error::ParseError;

/// The longest id or name.
pub const MAX_ID_LEN: usize = 64;

const LEN_DESCRIPTION: &str = "must be 1 to 64 characters";
const ID_DESCRIPTION: &str =
    "must start with a letter or digit and contain only letters, digits, '_', '-', '.', ':' or '@'";
const NAME_DESCRIPTION: &str =
    "must start with a lower-case letter and contain only lower-case letters, digits and '_'";

fn check_len(s: &str) -> Result<(), ParseError> {
    if s.is_empty() || s.len() > MAX_ID_LEN {
        return Err(ParseError::new(LEN_DESCRIPTION));
    }
    Ok(())
}

fn validate_id(s: &str) -> Result<(), ParseError> {
    check_len(s)?;
    let mut bytes = s.bytes();
    let first_ok = bytes.next().is_some_and(|b| b.is_ascii_alphanumeric());
    let rest_ok = bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':' | b'@'));
    if first_ok && rest_ok { Ok(()) } else { Err(ParseError::new(ID_DESCRIPTION)) }
}

fn validate_name(s: &str) -> Result<(), ParseError> {
    check_len(s)?;
    let mut bytes = s.bytes();
    let first_ok = bytes.next().is_some_and(|b| b.is_ascii_lowercase());
    let rest_ok = bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if first_ok && rest_ok { Ok(()) } else { Err(ParseError::new(NAME_DESCRIPTION)) }
}

macro_rules! newtype {
    ($(#[$meta:meta])* $name:ident, $validate:ident) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Validates `s` (taken as is: no trimming, no case change).
            pub fn parse(s: &str) -> Result<Self, ParseError> {
                $validate(s)?;
                Ok(Self(s.to_owned()))
            }

            /// For values read back from the store, already validated when written: no validation.
            pub fn from_trusted(s: impl Into<String>) -> Self {
                Self(s.into())
            }

            /// The value.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The value, owned.
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = ParseError;

            fn try_from(s: String) -> Result<Self, ParseError> {
                $validate(&s)?;
                Ok(Self(s))
            }
        }

        impl TryFrom<&str> for $name {
            type Error = ParseError;

            fn try_from(s: &str) -> Result<Self, ParseError> {
                Self::parse(s)
            }
        }

        impl FromStr for $name {
            type Err = ParseError;

            fn from_str(s: &str) -> Result<Self, ParseError> {
                Self::parse(s)
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }
    };
}

newtype!(
    /// The id of an account (a billable entity).
    AccountId,
    validate_id
);
newtype!(
    /// The id of a user (a person who can log in).
    UserId,
    validate_id
);
newtype!(
    /// The id of a membership (a user's place in an account).
    MembershipId,
    validate_id
);
newtype!(
    /// The id of a resource reached one by one inside an account, such as a folder (*dossier*).
    ResourceId,
    validate_id
);
newtype!(
    /// The id of a delegation (an account administering another).
    DelegationId,
    validate_id
);
newtype!(
    /// The id of an invitation.
    InvitationId,
    validate_id
);
newtype!(
    /// The id of a contact (a person attached to an account who cannot log in).
    ContactId,
    validate_id
);
newtype!(
    /// The id of an access request (a member asking for a permission in an account).
    AccessRequestId,
    validate_id
);
newtype!(
    /// The name of a role, e.g. `billing_manager`.
    RoleName,
    validate_name
);
newtype!(
    /// The name of a feature (a portal section or an administrative right), e.g. `billing`.
    FeatureName,
    validate_name
);
newtype!(
    /// The kind of an account, from the catalog, e.g. `partner` or `customer`.
    AccountKind,
    validate_name
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_accept_the_documented_alphabet() {
        for ok in ["a", "A1", "acc_01H", "nuage-partenaires", "x.y:z@w", "0", &"a".repeat(64)] {
            assert_eq!(AccountId::parse(ok).map(|v| v.as_str().to_owned()), Ok(ok.to_owned()), "{ok:?}");
        }
    }

    #[test]
    fn ids_refuse_bad_values_with_a_description() {
        let too_long = "a".repeat(65);
        let cases: &[(&str, &str)] = &[
            ("", LEN_DESCRIPTION),
            (&too_long, LEN_DESCRIPTION),
            ("-a", ID_DESCRIPTION),
            ("_a", ID_DESCRIPTION),
            ("a/b", ID_DESCRIPTION),
            ("a b", ID_DESCRIPTION),
            ("é", ID_DESCRIPTION),
            ("a\n", ID_DESCRIPTION),
        ];
        for (bad, description) in cases {
            assert_eq!(UserId::parse(bad).map_err(|e| e.to_string()), Err((*description).to_owned()), "{bad:?}");
        }
    }

    #[test]
    fn names_are_snake_case() {
        for ok in ["billing", "voip_911", "a", "account_manager"] {
            assert!(FeatureName::parse(ok).is_ok(), "{ok:?}");
        }
        for bad in ["", "Billing", "1billing", "_x", "bill-ing", "bill ing", "billing:view"] {
            assert!(RoleName::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(AccountKind::parse("Partner").map_err(|e| e.to_string()), Err(NAME_DESCRIPTION.to_owned()));
    }

    #[test]
    fn serde_is_transparent_and_validating() {
        let id = AccountId::parse("acc-1").unwrap();
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"acc-1\"");
        assert_eq!(serde_json::from_str::<AccountId>("\"acc-1\"").unwrap(), id);
        let err = serde_json::from_str::<AccountId>("\"a/b\"").unwrap_err().to_string();
        assert!(err.starts_with(ID_DESCRIPTION), "{err}");
    }

    #[test]
    fn display_debug_and_borrow() {
        let f = FeatureName::parse("billing").unwrap();
        assert_eq!(f.to_string(), "billing");
        assert_eq!(format!("{f:?}"), "FeatureName(\"billing\")");
        let set: std::collections::BTreeSet<FeatureName> = [f].into();
        assert!(set.contains("billing"));
        assert_eq!(FeatureName::from_trusted("Not Valid").as_str(), "Not Valid");
    }
}
