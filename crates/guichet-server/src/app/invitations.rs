//! Invitations, four-eyes approvals, and the rules they share with direct creation: the email
//! policy and no escalation.
//!
//! **Tokens.** [`new_token`] draws 32 bytes (256 bits) from the operating system's generator and
//! encodes them base64url (43 characters). The token is returned once, by CreateInvitation or
//! ResendInvitation; the store keeps only its SHA-256 ([`token_hash`]), so a database dump reveals
//! no usable token. A token is never logged: [`InvitationToken`] does not print itself.
//!
//! **No escalation.** An actor may hand out a role only when every level it gives — on the
//! account and on its descendants — is at most the actor's own *effective* level on that feature
//! in the account, as the decision engine computes it (direct, inherited and delegated paths,
//! caps included). A feature that is a module the account has not enabled is skipped: the role
//! gives nothing there either. The first level out of reach is named in the PERMISSION_DENIED.
//!
//! **Four-eyes.** Approving or rejecting a pending membership needs `access_approvals:full` in its
//! account, and an actor who is neither the membership's requester (its creator, or the sender of
//! the invitation it came from) nor its user. On the calling service's own authority (no actor)
//! the rule does not apply.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use guichet_domain::{
    AccessRequest, AccountId, AccountStatus, Cap, Email, FeatureName, Invitation, InvitationId, InvitationToken, Level,
    Membership, MembershipId, MembershipStatus, NewInvitation, Permission, Revision, RoleName, UserId, UserStatus,
    apply_email_policy, evaluate,
};
use guichet_store::{AcceptProfile, Accepted, Approval, CreatedInvitation, InvitationFilter, Page, PageRequest};
use rand::TryRngCore;
use sha2::Digest;

use super::{App, Call, needs};
use crate::error::ServerError;

/// A fresh invitation token: 256 random bits from the OS, base64url without padding.
pub(crate) fn new_token() -> Result<InvitationToken, ServerError> {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng
        .try_fill_bytes(&mut bytes)
        .map_err(|e| ServerError::Internal(format!("the operating system's random generator failed: {e}")))?;
    InvitationToken::parse(&URL_SAFE_NO_PAD.encode(bytes)).map_err(|e| ServerError::Internal(e.to_string()))
}

/// The SHA-256 of a token, hex: what the store keeps.
pub(crate) fn token_hash(token: &InvitationToken) -> String {
    sha2::Sha256::digest(token.expose().as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

impl App {
    /// Now, by the application's clock.
    pub fn now(&self) -> guichet_domain::Timestamp {
        self.clock.now()
    }

    /// Refuses when `actor` would hand out, through `roles` in `account`, a level it does not hold
    /// there itself (see the module docs). Role names the account does not know are left to the
    /// store, which reports them on the request's field.
    pub(crate) async fn ensure_no_escalation(
        &self,
        actor: Option<&UserId>,
        account: &AccountId,
        roles: &[RoleName],
    ) -> Result<(), ServerError> {
        let Some(actor) = actor else { return Ok(()) };
        let known = self.store.list_roles(account).await?;
        let mut wanted: BTreeMap<FeatureName, Level> = BTreeMap::new();
        for r in known.iter().filter(|r| roles.contains(&r.role.name)) {
            for (feature, level) in r.role.grants.iter().chain(r.role.descendant_grants.iter()) {
                let entry = wanted.entry(feature.clone()).or_insert(Level::None);
                *entry = (*entry).max(*level);
            }
        }
        wanted.retain(|_, l| *l > Level::None);
        let Some((first, _)) = wanted.first_key_value() else { return Ok(()) };
        let probe = |feature: &FeatureName| AccessRequest {
            subject: actor.clone(),
            account: account.clone(),
            permission: Permission { feature: feature.clone(), level: Level::View },
            resource: None,
        };
        let (facts, _) = self.store.load_facts(&probe(first)).await?;
        for (feature, level) in &wanted {
            let decision = evaluate(&self.catalog, &probe(feature), &facts);
            if decision.caps.iter().any(|c| matches!(c, Cap::ModuleDisabled(_))) {
                continue;
            }
            if decision.effective < *level {
                return Err(ServerError::PermissionDenied {
                    actor: actor.to_string(),
                    permission: format!("{feature}:{level}"),
                    account: account.to_string(),
                    reason: format!(
                        "no escalation: the roles give {feature}:{level} but the actor holds {feature}:{} here",
                        decision.effective
                    ),
                });
            }
        }
        Ok(())
    }

    /// The account's email policy applied to a new member's address: the flag reason when it is
    /// flagged; FAILED_PRECONDITION when refused.
    pub(crate) async fn email_policy(&self, account: &AccountId, email: &Email) -> Result<Option<String>, ServerError> {
        let acc = self.store.get_account(account).await?;
        apply_email_policy(&acc.settings.email_policy, email).map_err(|r| ServerError::FailedPrecondition {
            kind: r.kind,
            subject: format!("accounts/{account}"),
            description: format!("{email}: {}", r.reason),
        })
    }

    // ---- invitations ----

    /// Invites an email into an account; returns the invitation, the one-time token and the
    /// policy's flag.
    pub async fn create_invitation(
        &self,
        call: &Call,
        cmd: &NewInvitation,
    ) -> Result<(CreatedInvitation, InvitationToken, Revision), ServerError> {
        let actor = call.actor.as_ref();
        self.store.get_account(&cmd.account).await?;
        self.authorize(actor, &cmd.account, needs::INVITE_USERS).await?;
        self.ensure_no_escalation(actor, &cmd.account, &cmd.roles).await?;
        let token = new_token()?;
        let (created, revision) = self.store.create_invitation(cmd, &token_hash(&token), &self.audit(call)).await?;
        Ok((created, token, revision))
    }

    /// One invitation (never its token).
    pub async fn get_invitation(&self, call: &Call, id: &InvitationId) -> Result<Invitation, ServerError> {
        let inv = self.store.get_invitation(id, self.clock.now()).await?;
        self.authorize_object(call.actor.as_ref(), &inv.account, needs::VIEW_USERS, "invitation", id.as_str()).await?;
        Ok(inv)
    }

    /// The invitations of an account, newest first.
    pub async fn list_invitations(
        &self,
        call: &Call,
        filter: &InvitationFilter,
        page: &PageRequest,
    ) -> Result<Page<Invitation>, ServerError> {
        self.store.get_account(&filter.account).await?;
        self.authorize(call.actor.as_ref(), &filter.account, needs::VIEW_USERS).await?;
        Ok(self.store.list_invitations(filter, self.clock.now(), page).await?)
    }

    /// A new token and expiry for a pending or expired invitation.
    pub async fn resend_invitation(
        &self,
        call: &Call,
        id: &InvitationId,
    ) -> Result<(Invitation, InvitationToken, Revision), ServerError> {
        let inv = self.store.get_invitation(id, self.clock.now()).await?;
        self.authorize_object(call.actor.as_ref(), &inv.account, needs::INVITE_USERS, "invitation", id.as_str())
            .await?;
        let token = new_token()?;
        let (inv, revision) = self.store.resend_invitation(id, &token_hash(&token), &self.audit(call)).await?;
        Ok((inv, token, revision))
    }

    /// Ends a pending invitation.
    pub async fn revoke_invitation(
        &self,
        call: &Call,
        id: &InvitationId,
        reason: Option<&str>,
    ) -> Result<(Invitation, Revision), ServerError> {
        let inv = self.store.get_invitation(id, self.clock.now()).await?;
        self.authorize_object(call.actor.as_ref(), &inv.account, needs::INVITE_USERS, "invitation", id.as_str())
            .await?;
        Ok(self.store.revoke_invitation(id, reason, &self.audit(call)).await?)
    }

    /// Accepts an invitation with its token: the token is the authority, there is no actor.
    pub async fn accept_invitation(
        &self,
        call: &Call,
        token: &InvitationToken,
        profile: &AcceptProfile,
    ) -> Result<(Accepted, Revision), ServerError> {
        let call = Call { actor: None, ..call.clone() };
        Ok(self.store.accept_invitation(&token_hash(token), profile, &self.audit(&call)).await?)
    }

    // ---- approvals ----

    /// The pending memberships of an account, oldest first.
    pub async fn list_pending_approvals(
        &self,
        call: &Call,
        account: &AccountId,
        page: &PageRequest,
    ) -> Result<Page<Approval>, ServerError> {
        self.store.get_account(account).await?;
        self.authorize(call.actor.as_ref(), account, needs::VIEW_APPROVALS).await?;
        Ok(self.store.list_pending_approvals(account, page).await?)
    }

    /// Checks what approving and rejecting share: the permission, then that the membership is
    /// pending, then the four-eyes rule.
    async fn authorize_decision(&self, call: &Call, id: &MembershipId) -> Result<Membership, ServerError> {
        let actor = call.actor.as_ref();
        let m = self.authorize_membership(actor, id, needs::APPROVE_ACCESS).await?;
        if m.status != MembershipStatus::PendingApproval {
            return Err(ServerError::FailedPrecondition {
                kind: "MEMBERSHIP_NOT_PENDING",
                subject: format!("memberships/{id}"),
                description: format!("membership {id} is not waiting for approval"),
            });
        }
        if let Some(a) = actor {
            let requester = m.created_by.as_ref() == Some(a);
            if requester || m.user == *a {
                return Err(ServerError::FailedPrecondition {
                    kind: "FOUR_EYES",
                    subject: format!("memberships/{id}"),
                    description: format!(
                        "{a} {} membership {id}: another member holding access_approvals:full must decide",
                        if requester { "requested" } else { "is the user of" }
                    ),
                });
            }
        }
        Ok(m)
    }

    /// Approves a pending membership: it becomes active, `approved_by` the actor.
    pub async fn approve_membership(
        &self,
        call: &Call,
        id: &MembershipId,
    ) -> Result<(Membership, Revision), ServerError> {
        let m = self.authorize_decision(call, id).await?;
        let user = self.store.get_user(&m.user).await?;
        if user.status == UserStatus::Suspended {
            return Err(ServerError::FailedPrecondition {
                kind: "USER_SUSPENDED",
                subject: format!("users/{}", m.user),
                description: format!("user {} is suspended: reactivate the user first", m.user),
            });
        }
        if self.store.get_account(&m.account).await?.status == AccountStatus::Suspended {
            return Err(ServerError::FailedPrecondition {
                kind: "ACCOUNT_SUSPENDED",
                subject: format!("accounts/{}", m.account),
                description: format!("account {} is suspended", m.account),
            });
        }
        Ok(self.store.set_membership_status(id, MembershipStatus::Active, true, &self.audit(call)).await?)
    }

    /// Rejects a pending membership: it is deleted, the reason on the audit event.
    pub async fn reject_membership(
        &self,
        call: &Call,
        id: &MembershipId,
        reason: &str,
    ) -> Result<(Membership, Revision), ServerError> {
        self.authorize_decision(call, id).await?;
        Ok(self.store.reject_membership(id, reason, &self.audit(call)).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_256_bits_url_safe_and_distinct() {
        let a = new_token().unwrap();
        let b = new_token().unwrap();
        assert_eq!(a.expose().len(), 43);
        assert_ne!(a, b);
        assert_eq!(token_hash(&a).len(), 64);
        assert_ne!(token_hash(&a), token_hash(&b));
        assert_eq!(token_hash(&a), token_hash(&InvitationToken::parse(a.expose()).unwrap()));
    }
}
