//! The errors shared by the validating newtypes, and the field violation the server turns into a
//! `google.rpc.BadRequest` detail.

use std::fmt;

/// Why a value could not be parsed into one of the domain's validating types.
///
/// Its `Display` is a human description of what the value must look like, usable as is as the
/// `description` of a `google.rpc.BadRequest` field violation (the caller names the field).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{description}")]
pub struct ParseError {
    description: String,
}

impl ParseError {
    /// An error with this description (lower-case, no trailing period).
    pub fn new(description: impl Into<String>) -> Self {
        Self { description: description.into() }
    }

    /// The description, e.g. `must be 1 to 64 characters`.
    pub fn description(&self) -> String {
        self.description.clone()
    }

    /// The description, borrowed.
    pub fn as_str(&self) -> &str {
        &self.description
    }
}

/// `FromStr` and `TryFrom<String>` for a type that has `parse(&str) -> Result<Self, ParseError>`
/// (a value read from text: in the API, in configuration, through serde).
macro_rules! parsed_from_text {
    ($($t:ty),+ $(,)?) => {
        $(
            impl ::std::str::FromStr for $t {
                type Err = $crate::error::ParseError;

                fn from_str(s: &str) -> Result<Self, Self::Err> {
                    Self::parse(s)
                }
            }

            impl TryFrom<String> for $t {
                type Error = $crate::error::ParseError;

                fn try_from(s: String) -> Result<Self, Self::Error> {
                    Self::parse(&s)
                }
            }
        )+
    };
}
pub(crate) use parsed_from_text;

/// One invalid input field: the server builds a `google.rpc.BadRequest` field violation from it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct FieldViolation {
    /// The field's path in the request, e.g. `settings.invitation_ttl_days` or `roles[2]`.
    pub field: String,
    /// What is wrong and what is expected, lower-case, no trailing period.
    pub description: String,
}

impl FieldViolation {
    /// A violation of `field`.
    pub fn new(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self { field: field.into(), description: description.into() }
    }
}

impl fmt::Display for FieldViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.description)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_error_displays_its_description() {
        let e = ParseError::new("must be 1 to 64 characters");
        assert_eq!(e.to_string(), "must be 1 to 64 characters");
        assert_eq!(e.description(), "must be 1 to 64 characters");
    }

    #[test]
    fn field_violation_displays_field_and_description() {
        let v = FieldViolation::new("invitation_ttl_days", "must be between 1 and 90");
        assert_eq!(v.to_string(), "invitation_ttl_days: must be between 1 and 90");
    }
}
