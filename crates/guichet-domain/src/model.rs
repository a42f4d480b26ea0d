//! The records guichet keeps — accounts, users, roles, memberships, resources, delegations — and
//! the commands that create or change them.
//!
//! Records are what the store returns and what the API shows; commands are what the API accepts once
//! validated. Both only hold validated newtypes: an invalid id, email or name cannot reach them.

use std::collections::BTreeSet;
use std::fmt;

use crate::level::Level;
use crate::{
    AccountId, AccountKind, AccountSettings, AccountStatus, DelegationId, Email, FeatureName, Grants, MembershipId,
    MembershipStatus, Phone, ResourceId, Restriction, RoleName, UserId, UserStatus,
};

/// A point in time, in milliseconds since the Unix epoch (UTC).
///
/// The domain never reads the clock: callers pass `now` in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    /// The end of time: an instant no expiry reaches (what "never expires" is compared with).
    pub const NEVER: Timestamp = Timestamp(i64::MAX);

    /// A timestamp from milliseconds since the Unix epoch.
    pub const fn from_millis(millis: i64) -> Self {
        Self(millis)
    }

    /// Milliseconds since the Unix epoch.
    pub const fn as_millis(self) -> i64 {
        self.0
    }

    /// This timestamp moved forward by `days` days.
    pub const fn plus_days(self, days: u32) -> Self {
        Self(self.0.saturating_add(days as i64 * 86_400_000))
    }
}

/// A revision of the store: every write bumps it, and every answer says which revision it was
/// evaluated at.
///
/// Clients see it as an opaque token (`Revision::token`), which they may hand back to ask for an
/// answer at least as fresh as that write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Revision(u64);

/// Why a revision token could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be a revision token returned by guichet, e.g. r42")]
pub struct RevisionTokenError;

impl Revision {
    /// The revision of an empty store.
    pub const ZERO: Revision = Revision(0);

    /// A revision from its number.
    pub const fn new(value: u64) -> Self {
        Self(value)
    }

    /// The revision's number.
    pub const fn value(self) -> u64 {
        self.0
    }

    /// The opaque token clients see.
    pub fn token(self) -> String {
        format!("r{}", self.0)
    }

    /// Reads a token produced by [`Revision::token`].
    pub fn parse_token(token: &str) -> Result<Self, RevisionTokenError> {
        let digits = token.strip_prefix('r').ok_or(RevisionTokenError)?;
        if digits.is_empty() || digits.len() > 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(RevisionTokenError);
        }
        digits.parse().map(Self).map_err(|_| RevisionTokenError)
    }
}

impl fmt::Display for Revision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.token())
    }
}

/// How fresh an access decision must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Consistency {
    /// Any tier that is never stale with respect to completed writes (the default).
    #[default]
    MinimizeLatency,
    /// Evaluated at a revision at least this one.
    AtLeastAsFresh(Revision),
    /// Evaluated at the store's latest revision, bypassing caches.
    FullyConsistent,
}

/// A billable entity: a company, an organisation, a portfolio.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// Its id.
    pub id: AccountId,
    /// Its display name.
    pub name: String,
    /// Its kind, from the catalog.
    pub kind: AccountKind,
    /// Its parent, if any (partner → sub-partner → customer; affiliate → customer).
    pub parent: Option<AccountId>,
    /// Active or suspended.
    pub status: AccountStatus,
    /// Why it was suspended, when it is.
    pub suspension_reason: Option<String>,
    /// The module features enabled for it.
    pub modules: BTreeSet<FeatureName>,
    /// Its settings.
    pub settings: AccountSettings,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it was last changed.
    pub updated_at: Timestamp,
}

/// A person who can log in. The email is the identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Its id.
    pub id: UserId,
    /// The normalised email, unique across guichet.
    pub email: Email,
    /// Given (first) name.
    pub given_name: String,
    /// Family (last) name.
    pub family_name: String,
    /// Phone number in E.164 form.
    pub phone: Option<Phone>,
    /// The subject at the external identity provider.
    pub idp_subject: Option<String>,
    /// Active or suspended.
    pub status: UserStatus,
    /// When the person proved the email (accepted an invitation, or was created on a calling
    /// service's own authority); `None` while unclaimed. A claimed profile belongs to its owner.
    pub claimed_at: Option<Timestamp>,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it was last changed.
    pub updated_at: Timestamp,
}

/// A role as the store keeps it: a built-in role of a kind, or a custom role of one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountRole {
    /// The account that defined it; `None` for a built-in role.
    pub account: Option<AccountId>,
    /// The role itself.
    pub role: crate::Role,
    /// When it was created (custom roles only).
    pub created_at: Option<Timestamp>,
    /// When it was last changed (custom roles only).
    pub updated_at: Option<Timestamp>,
}

/// A user's place in an account: roles, status, and the resources it may reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    /// Its id.
    pub id: MembershipId,
    /// The member.
    pub user: UserId,
    /// The account.
    pub account: AccountId,
    /// The roles held, by name (built-in of the account's kind, or custom of the account).
    pub roles: Vec<RoleName>,
    /// Pending approval, active or suspended.
    pub status: MembershipStatus,
    /// `None`: every resource of the account; `Some`: only these, each with its level cap.
    pub restriction: Option<Restriction>,
    /// The user who created it, when a person did.
    pub created_by: Option<UserId>,
    /// The user who approved it, when it needed approval.
    pub approved_by: Option<UserId>,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it was last changed.
    pub updated_at: Timestamp,
    /// When it stops granting, its roles with it; `None`: never.
    pub expires_at: Option<Timestamp>,
}

impl Membership {
    /// A fingerprint of what a reviewer approves — user, account, roles (sorted), restriction
    /// (none, or the sorted resource ids) and status — as 16 hexadecimal digits (FNV-1a, 64
    /// bits, over a canonical length-prefixed text). Any change to those gives another version;
    /// the id, the authors and the times are not part of it.
    pub fn version(&self) -> String {
        const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
        const PRIME: u64 = 0x0000_0100_0000_01b3;
        let mut roles: Vec<&str> = self.roles.iter().map(RoleName::as_str).collect();
        roles.sort_unstable();
        roles.dedup();
        let mut text = String::new();
        let mut field = |name: &str, value: &str| {
            use std::fmt::Write as _;
            let _ = write!(text, "{name}:{}:{value};", value.len());
        };
        field("user", self.user.as_str());
        field("account", self.account.as_str());
        field("roles", &roles.len().to_string());
        for r in &roles {
            field("role", r);
        }
        match &self.restriction {
            None => field("restriction", "none"),
            Some(ids) => {
                field("restriction", &ids.len().to_string());
                // In id order. A `full` cap writes what a restriction always wrote, so versions
                // of memberships without `view` caps are unchanged.
                for (id, cap) in ids.iter() {
                    field("resource", id.as_str());
                    if cap < Level::Full {
                        field("cap", cap.as_str());
                    }
                }
            }
        }
        field("status", self.status.as_str());
        // Only when set, so that versions of memberships without an expiry are unchanged.
        if let Some(at) = self.expires_at {
            field("expires_at", &at.as_millis().to_string());
        }
        let hash = text.bytes().fold(OFFSET, |h, b| (h ^ u64::from(b)).wrapping_mul(PRIME));
        format!("{hash:016x}")
    }
}

/// An object inside an account reached one by one, such as a folder (*dossier*).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    /// Its id.
    pub id: ResourceId,
    /// The account it belongs to.
    pub account: AccountId,
    /// Its kind, e.g. `folder`.
    pub kind: FeatureName,
    /// Its display name.
    pub name: String,
    /// When it was created.
    pub created_at: Timestamp,
}

/// Delegated administration of one account by another (the partner's *Manage* button).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delegation {
    /// Its id.
    pub id: DelegationId,
    /// The account whose members act (the partner).
    pub from_account: AccountId,
    /// The account they act in (the customer).
    pub to_account: AccountId,
    /// The role they act with, resolved in the customer account.
    pub role: RoleName,
    /// The user who enabled it, when a person did.
    pub created_by: Option<UserId>,
    /// When it was enabled.
    pub created_at: Timestamp,
    /// When it stops granting (a time-boxed *Manage*); `None`: never.
    pub expires_at: Option<Timestamp>,
}

/// An audit event: one change, recorded in the transaction that made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Its id; ids sort in the order events were written.
    pub id: String,
    /// The revision of the write.
    pub revision: Revision,
    /// The account concerned; `None` for changes to a user, who may belong to several.
    pub account: Option<AccountId>,
    /// The person the calling service acted for.
    pub actor: Option<UserId>,
    /// The calling service's identity.
    pub service: Option<String>,
    /// What happened, e.g. `membership.created`.
    pub kind: String,
    /// The id of the changed object.
    pub target: String,
    /// Every id the change names: the target, the account, then the ids the object holds before
    /// and after (its `id`, `…_id` fields and `…_ids` lists), in order of first mention.
    pub touched: Vec<String>,
    /// The object before, as JSON (none for a creation).
    pub before: Option<String>,
    /// The object after, as JSON (none for a deletion).
    pub after: Option<String>,
    /// The W3C trace id of the call.
    pub trace_id: Option<String>,
    /// The client's idempotency key.
    pub request_id: Option<String>,
    /// When.
    pub created_at: Timestamp,
}

/// Creates an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAccount {
    /// A client-chosen id; generated when absent.
    pub id: Option<AccountId>,
    /// Display name (1..=256 characters).
    pub name: String,
    /// Kind from the catalog.
    pub kind: AccountKind,
    /// Parent account, when the kind has one.
    pub parent: Option<AccountId>,
    /// Enabled modules; `None` enables every module of the catalog.
    pub modules: Option<BTreeSet<FeatureName>>,
    /// Settings; `None` takes the kind's defaults.
    pub settings: Option<AccountSettings>,
}

/// Creates a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser {
    /// A client-chosen id; generated when absent.
    pub id: Option<UserId>,
    /// The email, the identity.
    pub email: Email,
    /// Given name.
    pub given_name: String,
    /// Family name.
    pub family_name: String,
    /// Phone.
    pub phone: Option<Phone>,
    /// Identity-provider subject.
    pub idp_subject: Option<String>,
}

/// Creates a membership.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMembership {
    /// A client-chosen id; generated when absent.
    pub id: Option<MembershipId>,
    /// The account.
    pub account: AccountId,
    /// The member.
    pub user: UserId,
    /// The roles (at least one).
    pub roles: Vec<RoleName>,
    /// `None`: every resource; `Some`: only these, each with its level cap.
    pub restriction: Option<Restriction>,
    /// When it stops granting; `None`: never.
    pub expires_at: Option<Timestamp>,
}

/// Creates a resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewResource {
    /// A client-chosen id; generated when absent.
    pub id: Option<ResourceId>,
    /// The account it belongs to.
    pub account: AccountId,
    /// Its kind, e.g. `folder`.
    pub kind: FeatureName,
    /// Display name.
    pub name: String,
}

/// Enables a delegation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDelegation {
    /// A client-chosen id; generated when absent.
    pub id: Option<DelegationId>,
    /// The partner account.
    pub from_account: AccountId,
    /// The customer account.
    pub to_account: AccountId,
    /// The role, resolved in the customer account.
    pub role: RoleName,
    /// When it stops granting; `None`: never.
    pub expires_at: Option<Timestamp>,
}

/// Creates or replaces a custom role of an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleDefinition {
    /// The account defining it.
    pub account: AccountId,
    /// Its name; must not be a built-in role name of the account's kind.
    pub name: RoleName,
    /// Display name.
    pub display_name: String,
    /// Description.
    pub description: String,
    /// Levels on the account itself.
    pub grants: Grants,
    /// Levels on the account's descendants.
    pub descendant_grants: Grants,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revision_tokens_round_trip() {
        assert_eq!(Revision::new(42).token(), "r42");
        assert_eq!(Revision::parse_token("r42"), Ok(Revision::new(42)));
        for bad in ["", "r", "42", "r-1", "rx", "r 1", "r99999999999999999999999"] {
            assert_eq!(Revision::parse_token(bad), Err(RevisionTokenError), "{bad:?}");
        }
    }

    #[test]
    fn plus_days_adds_whole_days() {
        assert_eq!(Timestamp::from_millis(0).plus_days(7).as_millis(), 604_800_000);
    }

    fn membership(roles: &[&str], restriction: Option<&[&str]>, status: MembershipStatus) -> Membership {
        Membership {
            id: MembershipId::from_trusted("m1".to_owned()),
            user: UserId::from_trusted("u1".to_owned()),
            account: AccountId::from_trusted("a1".to_owned()),
            roles: roles.iter().map(|r| RoleName::from_trusted((*r).to_owned())).collect(),
            status,
            restriction: restriction.map(|ids| ids.iter().map(|i| ResourceId::from_trusted((*i).to_owned())).collect()),
            created_by: None,
            approved_by: None,
            created_at: Timestamp::from_millis(1),
            updated_at: Timestamp::from_millis(2),
            expires_at: None,
        }
    }

    #[test]
    fn a_membership_version_names_what_is_approved() {
        let pending = MembershipStatus::PendingApproval;
        let base = membership(&["client_user", "billing"], Some(&["f1", "f2"]), pending);
        let v = base.version();
        // Approvers hold versions across releases: the fingerprint of a given content never changes.
        assert_eq!(v, "70252a44f7c263f1");
        // The order of the roles, the id, the authors and the times are not part of it.
        let same = Membership {
            id: MembershipId::from_trusted("m2".to_owned()),
            created_by: Some(UserId::from_trusted("x".to_owned())),
            updated_at: Timestamp::from_millis(99),
            ..membership(&["billing", "client_user"], Some(&["f2", "f1"]), pending)
        };
        assert_eq!(same.version(), v);
        // Everything a reviewer approves is.
        let others = [
            membership(&["client_user"], Some(&["f1", "f2"]), pending),
            membership(&["client_user", "billing", "admin"], Some(&["f1", "f2"]), pending),
            membership(&["client_user", "billing"], Some(&["f1"]), pending),
            membership(&["client_user", "billing"], Some(&[]), pending),
            membership(&["client_user", "billing"], None, pending),
            membership(&["client_user", "billing"], Some(&["f1", "f2"]), MembershipStatus::Active),
            Membership { user: UserId::from_trusted("u2".to_owned()), ..base.clone() },
            Membership { account: AccountId::from_trusted("a2".to_owned()), ..base.clone() },
        ];
        for other in &others {
            assert_ne!(other.version(), v, "{other:?}");
        }
        // An expiry is part of what is approved, and only when set.
        let timed = Membership { expires_at: Some(Timestamp::from_millis(5)), ..base.clone() };
        assert_ne!(timed.version(), v);
        // The empty restriction and no restriction differ; so do the empty texts.
        assert_ne!(others[3].version(), others[4].version());
        assert_eq!(base.version(), v, "deterministic");
    }
}
