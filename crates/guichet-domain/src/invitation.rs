//! Invitations (seed 002) and the email policy as applied to a new member (seed 001).
//!
//! An [`Invitation`] asks one email address into one account with roles and an optional resource
//! restriction. Its lifecycle is a small state machine, written here as pure functions of `now`:
//!
//! ```text
//! PENDING --accept--> ACCEPTED      PENDING --revoke--> REVOKED
//! PENDING --expires_at passes--> EXPIRED (computed, never stored)
//! PENDING or EXPIRED --resend--> PENDING (new token, new expiry)
//! ACCEPTED and REVOKED are final.
//! ```
//!
//! The store keeps only `pending`, `accepted` and `revoked`; *expired* is a pending invitation
//! observed at or after its `expires_at` ([`Invitation::status_at`]), so no job has to run for an
//! invitation to expire, and a test moves time by passing another `now`.
//!
//! The secret token is an [`InvitationToken`]: random (the server draws it), URL-safe, never
//! printed by `Debug`. Only its hash is stored; a resend issues a new token, and an old token is
//! then refused as superseded ([`InvitationRefusal::TokenSuperseded`]) rather than as unknown, so
//! the invitee is told to use the latest email.

use std::fmt;

use crate::error::ParseError;
use crate::{
    AccountId, Email, EmailPolicy, EmailVerdict, GenericAddressPolicy, InvitationId, MembershipId, Restriction,
    RoleName, Timestamp, UserId,
};

/// The longest token accepted.
pub const MAX_TOKEN_LEN: usize = 256;
/// The shortest token accepted: 128 bits in base64url is 22 characters.
pub const MIN_TOKEN_LEN: usize = 22;
/// The most roles an invitation may carry.
pub const MAX_INVITATION_ROLES: usize = 16;

/// Where an invitation is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum InvitationStatus {
    /// Sent, waiting to be accepted before it expires.
    Pending,
    /// Accepted: the membership exists. Final.
    Accepted,
    /// Revoked by an administrator. Final.
    Revoked,
    /// Its expiry passed while pending; a resend reopens it. Computed, never stored.
    Expired,
}

impl InvitationStatus {
    /// Reads the stored form (`pending`, `accepted`, `revoked`; `expired` is never stored but read).
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        match s {
            "pending" => Ok(Self::Pending),
            "accepted" => Ok(Self::Accepted),
            "revoked" => Ok(Self::Revoked),
            "expired" => Ok(Self::Expired),
            _ => Err(ParseError::new("must be pending, accepted, revoked or expired")),
        }
    }

    /// The stored form.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Accepted => "accepted",
            Self::Revoked => "revoked",
            Self::Expired => "expired",
        }
    }
}

impl fmt::Display for InvitationStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An invitation, as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitation {
    /// Its id.
    pub id: InvitationId,
    /// The account the invitee will join.
    pub account: AccountId,
    /// The invitee's normalised email.
    pub email: Email,
    /// The roles the membership will hold, sorted by name.
    pub roles: Vec<RoleName>,
    /// `None`: every resource; `Some`: only these, each with its level cap.
    pub restriction: Option<Restriction>,
    /// The stored status: pending, accepted or revoked. Use [`Invitation::status_at`] to read it.
    pub status: InvitationStatus,
    /// Who sent it, or last resent it; `None` on a service's own authority.
    pub invited_by: Option<UserId>,
    /// When it was created.
    pub created_at: Timestamp,
    /// When the current token stops working.
    pub expires_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
    /// How many times it was resent.
    pub resend_count: u32,
    /// When accepted: the user who accepted it.
    pub accepted_user: Option<UserId>,
    /// When accepted: the membership created.
    pub membership: Option<MembershipId>,
    /// When revoked: who revoked it.
    pub revoked_by: Option<UserId>,
    /// When revoked: why.
    pub revocation_reason: Option<String>,
}

/// Creates an invitation (validated at the edge).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewInvitation {
    /// A client-chosen id; generated when absent.
    pub id: Option<InvitationId>,
    /// The account.
    pub account: AccountId,
    /// The invitee's email.
    pub email: Email,
    /// The roles (1..=16, no duplicates).
    pub roles: Vec<RoleName>,
    /// `None`: every resource; `Some`: only these, each with its level cap.
    pub restriction: Option<Restriction>,
}

/// How a presented token relates to the invitation it was issued for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenMatch {
    /// The invitation's current token.
    Current,
    /// A token a resend replaced.
    Superseded,
}

/// Why the lifecycle refuses a transition. Each maps to a stable precondition type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InvitationRefusal {
    /// The invitation expired (accept, revoke).
    #[error("the invitation has expired: ask for it to be resent")]
    Expired,
    /// The invitation was revoked.
    #[error("the invitation was revoked")]
    Revoked,
    /// The invitation was already accepted.
    #[error("the invitation was already accepted")]
    AlreadyAccepted,
    /// The token was replaced by a resend.
    #[error("this token was replaced by a newer one: use the latest invitation sent")]
    TokenSuperseded,
}

impl InvitationRefusal {
    /// The stable `PreconditionFailure` type.
    pub const fn kind(self) -> &'static str {
        match self {
            Self::Expired => "INVITATION_EXPIRED",
            Self::Revoked => "INVITATION_REVOKED",
            Self::AlreadyAccepted => "INVITATION_ALREADY_ACCEPTED",
            Self::TokenSuperseded => "INVITATION_TOKEN_SUPERSEDED",
        }
    }
}

impl Invitation {
    /// The status observed at `now`: a pending invitation at or after its expiry is expired.
    pub fn status_at(&self, now: Timestamp) -> InvitationStatus {
        match self.status {
            InvitationStatus::Pending if now >= self.expires_at => InvitationStatus::Expired,
            s @ (InvitationStatus::Pending
            | InvitationStatus::Accepted
            | InvitationStatus::Revoked
            | InvitationStatus::Expired) => s,
        }
    }

    /// This invitation with its status as observed at `now` (what reads return).
    #[must_use]
    pub fn observed(mut self, now: Timestamp) -> Self {
        self.status = self.status_at(now);
        self
    }

    /// Whether a token may accept it at `now`. A final state is reported before a superseded
    /// token (the invitee learns the invitation is over, not merely that the link is old).
    pub fn check_accept(&self, now: Timestamp, token: TokenMatch) -> Result<(), InvitationRefusal> {
        match (self.status_at(now), token) {
            (InvitationStatus::Accepted, _) => Err(InvitationRefusal::AlreadyAccepted),
            (InvitationStatus::Revoked, _) => Err(InvitationRefusal::Revoked),
            (_, TokenMatch::Superseded) => Err(InvitationRefusal::TokenSuperseded),
            (InvitationStatus::Expired, TokenMatch::Current) => Err(InvitationRefusal::Expired),
            (InvitationStatus::Pending, TokenMatch::Current) => Ok(()),
        }
    }

    /// Accepts it at `now` by `user`, who got `membership`.
    pub fn accept(
        &self,
        now: Timestamp,
        token: TokenMatch,
        user: UserId,
        membership: MembershipId,
    ) -> Result<Self, InvitationRefusal> {
        self.check_accept(now, token)?;
        Ok(Self {
            status: InvitationStatus::Accepted,
            accepted_user: Some(user),
            membership: Some(membership),
            updated_at: now,
            ..self.clone()
        })
    }

    /// Resends it at `now`: pending or expired → pending, with a new expiry `ttl_days` from now.
    pub fn resend(&self, now: Timestamp, ttl_days: u32, by: Option<UserId>) -> Result<Self, InvitationRefusal> {
        match self.status_at(now) {
            InvitationStatus::Accepted => Err(InvitationRefusal::AlreadyAccepted),
            InvitationStatus::Revoked => Err(InvitationRefusal::Revoked),
            InvitationStatus::Pending | InvitationStatus::Expired => Ok(Self {
                status: InvitationStatus::Pending,
                expires_at: now.plus_days(ttl_days),
                updated_at: now,
                resend_count: self.resend_count.saturating_add(1),
                invited_by: by,
                ..self.clone()
            }),
        }
    }

    /// Revokes it at `now`: only a pending invitation can be revoked.
    pub fn revoke(
        &self,
        now: Timestamp,
        by: Option<UserId>,
        reason: Option<String>,
    ) -> Result<Self, InvitationRefusal> {
        match self.status_at(now) {
            InvitationStatus::Accepted => Err(InvitationRefusal::AlreadyAccepted),
            InvitationStatus::Revoked => Err(InvitationRefusal::Revoked),
            InvitationStatus::Expired => Err(InvitationRefusal::Expired),
            InvitationStatus::Pending => Ok(Self {
                status: InvitationStatus::Revoked,
                revoked_by: by,
                revocation_reason: reason,
                updated_at: now,
                ..self.clone()
            }),
        }
    }
}

/// The secret an invitee accepts an invitation with: URL-safe (`A-Z a-z 0-9 - _`), 22 to 256
/// characters. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct InvitationToken(String);

impl InvitationToken {
    /// Validates a token as presented.
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        if s.len() < MIN_TOKEN_LEN || s.len() > MAX_TOKEN_LEN {
            return Err(ParseError::new(format!(
                "must be the {MIN_TOKEN_LEN} to {MAX_TOKEN_LEN} character token of an invitation"
            )));
        }
        if !s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            return Err(ParseError::new("must contain only letters, digits, '-' and '_' (a URL-safe token)"));
        }
        Ok(Self(s.to_owned()))
    }

    /// The secret, for the one place that hashes it or returns it once.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for InvitationToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("InvitationToken(***)")
    }
}

/// Why an account's email policy refuses an address for a new member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailRefusal {
    /// `EMAIL_DOMAIN_FORBIDDEN` or `GENERIC_ADDRESS_REJECTED`.
    pub kind: &'static str,
    /// Why, for people.
    pub reason: String,
}

/// Applies an account's email policy to a new member's address: `Ok(None)` accepted,
/// `Ok(Some(reason))` accepted but flagged, `Err` refused with the precondition type.
pub fn apply_email_policy(policy: &EmailPolicy, email: &Email) -> Result<Option<String>, EmailRefusal> {
    let domains_only = EmailPolicy {
        forbidden_domains: policy.forbidden_domains.clone(),
        generic_addresses: GenericAddressPolicy::Allow,
    };
    if let EmailVerdict::Refused { reason } = domains_only.check(email) {
        return Err(EmailRefusal { kind: "EMAIL_DOMAIN_FORBIDDEN", reason });
    }
    match policy.check(email) {
        EmailVerdict::Accepted => Ok(None),
        EmailVerdict::Flagged { reason } => Ok(Some(reason)),
        EmailVerdict::Refused { reason } => Err(EmailRefusal { kind: "GENERIC_ADDRESS_REJECTED", reason }),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const DAY: i64 = 86_400_000;

    fn invitation(created: i64, ttl: u32) -> Invitation {
        let created_at = Timestamp::from_millis(created);
        Invitation {
            id: InvitationId::parse("inv-1").unwrap(),
            account: AccountId::parse("acme").unwrap(),
            email: Email::parse("marc@example.com").unwrap(),
            roles: vec![RoleName::parse("client_user").unwrap()],
            restriction: None,
            status: InvitationStatus::Pending,
            invited_by: Some(UserId::parse("lucie").unwrap()),
            created_at,
            expires_at: created_at.plus_days(ttl),
            updated_at: created_at,
            resend_count: 0,
            accepted_user: None,
            membership: None,
            revoked_by: None,
            revocation_reason: None,
        }
    }

    fn at(ms: i64) -> Timestamp {
        Timestamp::from_millis(ms)
    }

    fn user() -> UserId {
        UserId::parse("marc").unwrap()
    }

    fn mem() -> MembershipId {
        MembershipId::parse("m-1").unwrap()
    }

    #[test]
    fn accept_before_expiry_and_not_after() {
        let inv = invitation(0, 7);
        assert_eq!(inv.status_at(at(7 * DAY - 1)), InvitationStatus::Pending);
        assert_eq!(inv.status_at(at(7 * DAY)), InvitationStatus::Expired);
        let accepted = inv.accept(at(7 * DAY - 1), TokenMatch::Current, user(), mem()).unwrap();
        assert_eq!(accepted.status, InvitationStatus::Accepted);
        assert_eq!((accepted.accepted_user, accepted.membership), (Some(user()), Some(mem())));
        assert_eq!(inv.accept(at(7 * DAY), TokenMatch::Current, user(), mem()), Err(InvitationRefusal::Expired));
    }

    #[test]
    fn double_accept_and_final_states() {
        let accepted = invitation(0, 7).accept(at(1), TokenMatch::Current, user(), mem()).unwrap();
        assert_eq!(accepted.check_accept(at(2), TokenMatch::Current), Err(InvitationRefusal::AlreadyAccepted));
        assert_eq!(accepted.resend(at(2), 7, None), Err(InvitationRefusal::AlreadyAccepted));
        assert_eq!(accepted.revoke(at(2), None, None), Err(InvitationRefusal::AlreadyAccepted));
        // Accepted stays accepted after the expiry: the membership exists.
        assert_eq!(accepted.status_at(at(100 * DAY)), InvitationStatus::Accepted);

        let revoked = invitation(0, 7).revoke(at(1), Some(user()), Some("typo".into())).unwrap();
        assert_eq!(revoked.status, InvitationStatus::Revoked);
        assert_eq!(revoked.check_accept(at(2), TokenMatch::Current), Err(InvitationRefusal::Revoked));
        assert_eq!(revoked.check_accept(at(2), TokenMatch::Superseded), Err(InvitationRefusal::Revoked));
        assert_eq!(revoked.resend(at(2), 7, None), Err(InvitationRefusal::Revoked));
        assert_eq!(revoked.revoke(at(2), None, None), Err(InvitationRefusal::Revoked));
        assert_eq!(invitation(0, 7).revoke(at(7 * DAY), None, None), Err(InvitationRefusal::Expired));
    }

    #[test]
    fn resend_reopens_and_supersedes() {
        let inv = invitation(0, 1);
        let resent = inv.resend(at(3 * DAY), 2, Some(user())).unwrap();
        assert_eq!(resent.status_at(at(3 * DAY)), InvitationStatus::Pending);
        assert_eq!(resent.expires_at, at(5 * DAY));
        assert_eq!((resent.resend_count, resent.invited_by.clone()), (1, Some(user())));
        assert_eq!(resent.check_accept(at(4 * DAY), TokenMatch::Superseded), Err(InvitationRefusal::TokenSuperseded));
        assert_eq!(resent.check_accept(at(4 * DAY), TokenMatch::Current), Ok(()));
        assert_eq!(resent.created_at, inv.created_at);
    }

    #[test]
    fn refusal_kinds_are_stable() {
        assert_eq!(InvitationRefusal::Expired.kind(), "INVITATION_EXPIRED");
        assert_eq!(InvitationRefusal::Revoked.kind(), "INVITATION_REVOKED");
        assert_eq!(InvitationRefusal::AlreadyAccepted.kind(), "INVITATION_ALREADY_ACCEPTED");
        assert_eq!(InvitationRefusal::TokenSuperseded.kind(), "INVITATION_TOKEN_SUPERSEDED");
    }

    #[test]
    fn tokens_validate_and_never_print() {
        let t = InvitationToken::parse("abcdefghijklmnopqrstuv").unwrap();
        assert_eq!(format!("{t:?}"), "InvitationToken(***)");
        assert_eq!(t.expose(), "abcdefghijklmnopqrstuv");
        assert!(InvitationToken::parse("short").is_err());
        assert!(InvitationToken::parse(&"a".repeat(257)).is_err());
        assert!(InvitationToken::parse("abcdefghijklmnopqrstu+/=").is_err());
    }

    #[test]
    fn email_policy_outcomes() {
        let mut policy = EmailPolicy { forbidden_domains: vec!["cabinet.fr".into()], ..EmailPolicy::default() };
        let e = |s: &str| Email::parse(s).unwrap();
        assert_eq!(apply_email_policy(&policy, &e("marc@client.fr")), Ok(None));
        assert_eq!(apply_email_policy(&policy, &e("marc@cabinet.fr")).unwrap_err().kind, "EMAIL_DOMAIN_FORBIDDEN");
        // A forbidden domain wins over the generic-address policy.
        assert_eq!(apply_email_policy(&policy, &e("info@cabinet.fr")).unwrap_err().kind, "EMAIL_DOMAIN_FORBIDDEN");
        assert!(apply_email_policy(&policy, &e("info@client.fr")).unwrap().is_some());
        policy.generic_addresses = GenericAddressPolicy::Reject;
        assert_eq!(apply_email_policy(&policy, &e("info@client.fr")).unwrap_err().kind, "GENERIC_ADDRESS_REJECTED");
        policy.generic_addresses = GenericAddressPolicy::Allow;
        assert_eq!(apply_email_policy(&policy, &e("info@client.fr")), Ok(None));
    }

    #[derive(Debug, Clone)]
    enum Op {
        Accept(bool),
        Resend(u32),
        Revoke,
        Wait(i64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            any::<bool>().prop_map(Op::Accept),
            (1u32..=90).prop_map(Op::Resend),
            Just(Op::Revoke),
            (0i64..=10 * DAY).prop_map(Op::Wait),
        ]
    }

    proptest! {
        /// Whatever the sequence of operations and the passing of time: at most one accept
        /// succeeds, nothing leaves a final state, an accept succeeds only with the current token
        /// before the expiry, and an expired invitation is exactly a pending one past its expiry.
        #[test]
        fn lifecycle_invariants(ttl in 1u32..=90, ops in proptest::collection::vec(op(), 0..40)) {
            let mut inv = invitation(0, ttl);
            let mut now = at(0);
            let mut accepts = 0;
            for op in ops {
                let before = inv.clone();
                let result = match op {
                    Op::Wait(ms) => { now = at(now.as_millis() + ms); Ok(inv.clone()) }
                    Op::Accept(current) => {
                        let token = if current { TokenMatch::Current } else { TokenMatch::Superseded };
                        let r = inv.accept(now, token, user(), mem());
                        if r.is_ok() {
                            accepts += 1;
                            prop_assert!(current && now < before.expires_at);
                        }
                        r
                    }
                    Op::Resend(days) => inv.resend(now, days, None).inspect(|r| {
                        assert_eq!(r.expires_at, now.plus_days(days));
                    }),
                    Op::Revoke => inv.revoke(now, None, None),
                };
                match result {
                    Ok(next) => inv = next,
                    Err(_) => prop_assert_eq!(&inv, &before),
                }
                if matches!(before.status, InvitationStatus::Accepted | InvitationStatus::Revoked) {
                    prop_assert_eq!(inv.status, before.status);
                }
                prop_assert_ne!(inv.status, InvitationStatus::Expired);
                let expired = inv.status == InvitationStatus::Pending && now >= inv.expires_at;
                prop_assert_eq!(inv.status_at(now) == InvitationStatus::Expired, expired);
            }
            prop_assert!(accepts <= 1);
        }
    }
}
