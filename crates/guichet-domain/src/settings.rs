//! Account settings: invitation lifetime, approval (four-eyes), email policy.
//!
//! The store keeps settings as JSON: every struct here is `#[serde(default, deny_unknown_fields)]`,
//! so a missing field takes its default and a misspelt one is an error rather than silently ignored.

use crate::email::{Email, normalize_domain};
use crate::error::FieldViolation;

/// The shortest invitation lifetime, in days.
pub const MIN_INVITATION_TTL_DAYS: u32 = 1;
/// The longest invitation lifetime, in days.
pub const MAX_INVITATION_TTL_DAYS: u32 = 90;
/// The most forbidden domains an account may list.
pub const MAX_FORBIDDEN_DOMAINS: usize = 100;

/// What to do with a generic address (`info@`, `contact@`, see
/// [`GENERIC_LOCAL_PARTS`](crate::GENERIC_LOCAL_PARTS)) given for a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GenericAddressPolicy {
    /// Accept it silently.
    Allow,
    /// Accept it and say so (seed 001: *vivement conseillé d'écarter*, strongly discouraged).
    #[default]
    Flag,
    /// Refuse it.
    Reject,
}

/// Which addresses an account accepts for its members (seed 001).
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmailPolicy {
    /// Domains refused, with all their subdomains (seed 001: the firm's own domain). Compared
    /// case-insensitively, after IDNA conversion.
    pub forbidden_domains: Vec<String>,
    /// What to do with generic addresses.
    pub generic_addresses: GenericAddressPolicy,
}

/// What an [`EmailPolicy`] says about an address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmailVerdict {
    /// Nothing to say.
    Accepted,
    /// Accepted, with a warning for the person creating the access.
    Flagged {
        /// Why, lower-case, no trailing period.
        reason: String,
    },
    /// Refused.
    Refused {
        /// Why, lower-case, no trailing period.
        reason: String,
    },
}

impl EmailPolicy {
    /// The verdict on `email`: a forbidden domain (the domain itself or any subdomain) refuses it
    /// whatever the generic-address policy; then a generic address is flagged or refused.
    ///
    /// Forbidden domains that do not normalise (invalid entries, which [`AccountSettings::validate`]
    /// keeps out) are compared as written, lower-cased.
    pub fn check(&self, email: &Email) -> EmailVerdict {
        let domain = email.domain();
        for forbidden in &self.forbidden_domains {
            let normalized = normalize_domain(forbidden).unwrap_or_else(|_| forbidden.trim().to_ascii_lowercase());
            let matches = domain == normalized
                || domain.strip_suffix(normalized.as_str()).is_some_and(|head| head.ends_with('.'));
            if matches {
                return EmailVerdict::Refused {
                    reason: format!("addresses at {normalized} are forbidden for this account"),
                };
            }
        }
        if email.is_generic() {
            let reason = format!(
                "{}@ is a generic address: the email is the person's unique login, use a nominative address",
                email.local_part()
            );
            return match self.generic_addresses {
                GenericAddressPolicy::Allow => EmailVerdict::Accepted,
                GenericAddressPolicy::Flag => EmailVerdict::Flagged { reason },
                GenericAddressPolicy::Reject => EmailVerdict::Refused { reason },
            };
        }
        EmailVerdict::Accepted
    }
}

/// An account's settings.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AccountSettings {
    /// How long an invitation stays valid, in days (seed 002: 7).
    pub invitation_ttl_days: u32,
    /// Whether a new membership waits for approval by a member holding `access_approvals:full`
    /// (seed 001: *validé par un collaborateur disposant des droits de validation*).
    pub requires_approval: bool,
    /// Which addresses the account accepts.
    pub email_policy: EmailPolicy,
}

impl Default for AccountSettings {
    fn default() -> Self {
        Self { invitation_ttl_days: 7, requires_approval: false, email_policy: EmailPolicy::default() }
    }
}

/// A change of an account's settings (UpdateAccountSettings): what it leaves out keeps its
/// current value. Applied by the store to the settings it reads inside the write, so that two
/// concurrent changes of different settings both take effect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingsChange {
    /// The new invitation lifetime; `None` keeps the current one.
    pub invitation_ttl_days: Option<u32>,
    /// Whether new memberships wait for approval (always replaced).
    pub requires_approval: bool,
    /// A new email policy; `None` keeps the current one.
    pub email_policy: Option<EmailPolicyChange>,
}

/// A new email policy: the forbidden domains are replaced (empty clears them); the generic-address
/// rule too, unless `None`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailPolicyChange {
    /// The forbidden domains, replacing the current ones.
    pub forbidden_domains: Vec<String>,
    /// The generic-address rule; `None` keeps the current one.
    pub generic_addresses: Option<GenericAddressPolicy>,
}

impl SettingsChange {
    /// The settings after the change.
    pub fn apply(&self, current: &AccountSettings) -> AccountSettings {
        AccountSettings {
            invitation_ttl_days: self.invitation_ttl_days.unwrap_or(current.invitation_ttl_days),
            requires_approval: self.requires_approval,
            email_policy: match &self.email_policy {
                None => current.email_policy.clone(),
                Some(p) => EmailPolicy {
                    forbidden_domains: p.forbidden_domains.clone(),
                    generic_addresses: p.generic_addresses.unwrap_or(current.email_policy.generic_addresses),
                },
            },
        }
    }
}

impl AccountSettings {
    /// Checks every field; all violations are returned, named by their path in the settings
    /// (`invitation_ttl_days`, `email_policy.forbidden_domains[2]`).
    pub fn validate(&self) -> Result<(), Vec<FieldViolation>> {
        let mut violations = Vec::new();
        if !(MIN_INVITATION_TTL_DAYS..=MAX_INVITATION_TTL_DAYS).contains(&self.invitation_ttl_days) {
            violations.push(FieldViolation::new(
                "invitation_ttl_days",
                format!("must be between {MIN_INVITATION_TTL_DAYS} and {MAX_INVITATION_TTL_DAYS} days"),
            ));
        }
        let domains = &self.email_policy.forbidden_domains;
        if domains.len() > MAX_FORBIDDEN_DOMAINS {
            violations.push(FieldViolation::new(
                "email_policy.forbidden_domains",
                format!("must list at most {MAX_FORBIDDEN_DOMAINS} domains"),
            ));
        }
        for (i, domain) in domains.iter().enumerate() {
            if let Err(e) = normalize_domain(domain) {
                violations.push(FieldViolation::new(format!("email_policy.forbidden_domains[{i}]"), e.to_string()));
            }
        }
        if violations.is_empty() { Ok(()) } else { Err(violations) }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_change_keeps_what_it_leaves_out() {
        let current = super::AccountSettings {
            invitation_ttl_days: 10,
            requires_approval: false,
            email_policy: super::EmailPolicy {
                forbidden_domains: vec!["cabinet.fr".into()],
                generic_addresses: super::GenericAddressPolicy::Reject,
            },
        };
        let ttl = super::SettingsChange { invitation_ttl_days: Some(3), requires_approval: true, email_policy: None };
        let after = ttl.apply(&current);
        assert_eq!((after.invitation_ttl_days, after.requires_approval), (3, true));
        assert_eq!(after.email_policy, current.email_policy);
        let policy = super::SettingsChange {
            invitation_ttl_days: None,
            requires_approval: false,
            email_policy: Some(super::EmailPolicyChange { forbidden_domains: vec![], generic_addresses: None }),
        };
        let after = policy.apply(&current);
        assert_eq!(after.invitation_ttl_days, 10);
        assert!(after.email_policy.forbidden_domains.is_empty());
        assert_eq!(after.email_policy.generic_addresses, super::GenericAddressPolicy::Reject);
    }

    use super::*;

    fn email(s: &str) -> Email {
        Email::parse(s).unwrap()
    }

    #[test]
    fn defaults() {
        let s = AccountSettings::default();
        assert_eq!(s.invitation_ttl_days, 7);
        assert!(!s.requires_approval);
        assert_eq!(s.email_policy.generic_addresses, GenericAddressPolicy::Flag);
        assert_eq!(s.validate(), Ok(()));
    }

    /// Seed 001: the firm's own domain is forbidden, subdomains included.
    #[test]
    fn forbidden_domains_cover_subdomains() {
        let policy = EmailPolicy { forbidden_domains: vec!["Deloitte.FR".into()], ..EmailPolicy::default() };
        let refused =
            EmailVerdict::Refused { reason: "addresses at deloitte.fr are forbidden for this account".into() };
        assert_eq!(policy.check(&email("jean@deloitte.fr")), refused);
        assert_eq!(policy.check(&email("jean@mail.deloitte.fr")), refused);
        assert_eq!(policy.check(&email("jean@notdeloitte.fr")), EmailVerdict::Accepted);
        assert_eq!(policy.check(&email("jean@deloitte.fr.example.com")), EmailVerdict::Accepted);
        let idn = EmailPolicy { forbidden_domains: vec!["bücher.de".into()], ..EmailPolicy::default() };
        assert!(matches!(idn.check(&email("a@xn--bcher-kva.de")), EmailVerdict::Refused { .. }));
        assert!(matches!(idn.check(&email("a@shop.BÜCHER.de")), EmailVerdict::Refused { .. }));
    }

    #[test]
    fn generic_addresses_follow_the_policy() {
        let reason = "info@ is a generic address: the email is the person's unique login, use a nominative address";
        let mut policy = EmailPolicy::default();
        assert_eq!(policy.check(&email("info@example.com")), EmailVerdict::Flagged { reason: reason.into() });
        policy.generic_addresses = GenericAddressPolicy::Reject;
        assert_eq!(policy.check(&email("info@example.com")), EmailVerdict::Refused { reason: reason.into() });
        policy.generic_addresses = GenericAddressPolicy::Allow;
        assert_eq!(policy.check(&email("info@example.com")), EmailVerdict::Accepted);
        assert_eq!(policy.check(&email("alice@example.com")), EmailVerdict::Accepted);
    }

    #[test]
    fn validate_reports_every_field() {
        let mut s = AccountSettings { invitation_ttl_days: 0, ..AccountSettings::default() };
        s.email_policy.forbidden_domains = vec!["ok.example".into(), "localhost".into()];
        assert_eq!(
            s.validate(),
            Err(vec![
                FieldViolation::new("invitation_ttl_days", "must be between 1 and 90 days"),
                FieldViolation::new(
                    "email_policy.forbidden_domains[1]",
                    "the domain must contain a dot, e.g. example.com"
                ),
            ])
        );
        s.invitation_ttl_days = 91;
        s.email_policy.forbidden_domains = (0..101).map(|i| format!("d{i}.example")).collect();
        assert_eq!(
            s.validate(),
            Err(vec![
                FieldViolation::new("invitation_ttl_days", "must be between 1 and 90 days"),
                FieldViolation::new("email_policy.forbidden_domains", "must list at most 100 domains"),
            ])
        );
        s.invitation_ttl_days = 90;
        s.email_policy.forbidden_domains.truncate(100);
        assert_eq!(s.validate(), Ok(()));
    }

    #[test]
    fn json_defaults_and_unknown_fields() {
        let s: AccountSettings = serde_json::from_str("{}").unwrap();
        assert_eq!(s, AccountSettings::default());
        let s: AccountSettings =
            serde_json::from_str(r#"{"requires_approval":true,"email_policy":{"generic_addresses":"reject"}}"#)
                .unwrap();
        assert!(s.requires_approval);
        assert_eq!(s.invitation_ttl_days, 7);
        assert_eq!(s.email_policy.generic_addresses, GenericAddressPolicy::Reject);
        let err = serde_json::from_str::<AccountSettings>(r#"{"ttl":3}"#).unwrap_err().to_string();
        assert!(err.starts_with("unknown field `ttl`"), "{err}");
        let back: AccountSettings = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        assert_eq!(back, s);
    }
}
