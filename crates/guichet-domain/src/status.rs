//! The statuses of accounts, users and memberships, as the store writes them (`active`,
//! `suspended`, `pending_approval`).

/// An enum of the API whose values are stored and sent as fixed snake-case texts: `ALL`, `parse`
/// (with the message `must be …` for any other text), `as_str`, `FromStr` and `Display`. Used for
/// the statuses here and for the contact enums (`crate::contact`).
macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident, $expected:literal, { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            /// Every value, in the order of the API.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            /// Reads the stored form.
            pub fn parse(s: &str) -> Result<Self, $crate::ParseError> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err($crate::ParseError::new(concat!("must be ", $expected))),
                }
            }

            /// The stored form.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::ParseError;

            fn from_str(s: &str) -> Result<Self, $crate::ParseError> {
                Self::parse(s)
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use text_enum;

text_enum!(
    /// Whether an account may be used. A suspended account caps every level to none in it and in
    /// its whole subtree.
    AccountStatus, "active or suspended", {
        /// In use.
        Active => "active",
        /// Suspended: nobody may do anything in it or below it.
        Suspended => "suspended",
    }
);

text_enum!(
    /// Whether a user may act. A suspended user is denied everything.
    UserStatus, "active or suspended", {
        /// May act.
        Active => "active",
        /// Denied everything.
        Suspended => "suspended",
    }
);

text_enum!(
    /// Whether a membership grants anything: only an active one does.
    MembershipStatus, "pending_approval, active or suspended", {
        /// Waiting for a member holding `access_approvals:full` (seed 001).
        PendingApproval => "pending_approval",
        /// Grants its roles.
        Active => "active",
        /// Grants nothing until reactivated.
        Suspended => "suspended",
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_errors() {
        for s in MembershipStatus::ALL {
            assert_eq!(MembershipStatus::parse(s.as_str()), Ok(*s));
            assert_eq!(serde_json::to_string(s).unwrap(), format!("\"{s}\""));
        }
        assert_eq!(MembershipStatus::PendingApproval.to_string(), "pending_approval");
        assert_eq!(AccountStatus::parse("suspended"), Ok(AccountStatus::Suspended));
        assert_eq!(
            UserStatus::parse("Active").map_err(|e| e.to_string()),
            Err("must be active or suspended".to_owned())
        );
        assert_eq!(
            MembershipStatus::parse("pending").map_err(|e| e.to_string()),
            Err("must be pending_approval, active or suspended".to_owned())
        );
    }
}
