//! Invitations, four-eyes approvals, and the rules they share with direct creation: the email
//! policy and no escalation.
//!
//! **Tokens.** [`new_token`] draws 32 bytes (256 bits) from the operating system's generator and
//! encodes them base64url (43 characters). The token is returned once, by CreateInvitation or
//! ResendInvitation; the store keeps only its SHA-256 ([`token_hash`]), so a database dump reveals
//! no usable token. A token is never logged: [`InvitationToken`] does not print itself.
//!
//! **No escalation** and **four-eyes** are the rule book's (`guichet_domain::rules`): an invitation
//! hands out nothing beyond the inviter's reach, and its sender is the requester of the membership
//! it yields — fixed at creation, unchanged by resends.
//!
//! **Four-eyes.** Approving or rejecting a pending membership needs `access_approvals:full` in its
//! account, and an actor who is neither the membership's requester (its creator, or the sender of
//! the invitation it came from) nor its user. On the calling service's own authority (no actor)
//! the rule does not apply.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use guichet_domain::{
    AccountId, Email, Invitation, InvitationId, InvitationToken, Membership, MembershipId, MembershipStatus,
    NewInvitation, Operation, Revision, apply_email_policy, check_four_eyes, check_role_limit,
};
use guichet_store::{AcceptProfile, Accepted, Approval, CreatedInvitation, InvitationFilter, Page, PageRequest};
use rand::TryRngCore;
use sha2::Digest;

use super::{App, Call, Hidden};
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
    /// policy's flag. The grant must be within the inviter's reach; an existing user on the
    /// partner side of the account is not invited into it (a delegation is the way).
    pub async fn create_invitation(
        &self,
        call: &Call,
        cmd: &NewInvitation,
    ) -> Result<(CreatedInvitation, InvitationToken, Revision), ServerError> {
        self.admit(call, &Operation::ManageInvitations(cmd.account.clone())).await?;
        self.store.get_account(&cmd.account).await?;
        check_role_limit(&cmd.roles).map_err(|v| Self::violation(call, format!("accounts/{}", cmd.account), v))?;
        self.ensure_grant(call, &cmd.account, None, &cmd.roles, cmd.restriction.as_ref()).await?;
        if call.actor.is_some()
            && let Ok(existing) = self.store.find_user_by_email(&cmd.email).await
        {
            self.ensure_partner_reach(call, &cmd.account, &existing.id).await?;
        }
        let token = new_token()?;
        let (created, revision) = self.store.create_invitation(cmd, &token_hash(&token), &self.audit(call)).await?;
        Ok((created, token, revision))
    }

    /// The invitation, when the call's actor may perform `op_of(account)` on it (NOT_FOUND when
    /// out of reach).
    async fn reached_invitation(
        &self,
        call: &Call,
        id: &InvitationId,
        op_of: fn(AccountId) -> Operation,
    ) -> Result<Invitation, ServerError> {
        let inv = self.store.get_invitation(id, self.clock.now()).await?;
        self.admit_object(call, &op_of(inv.account.clone()), Hidden { entity: "invitation", id: id.as_str() }).await?;
        Ok(inv)
    }

    /// One invitation (never its token).
    pub async fn get_invitation(&self, call: &Call, id: &InvitationId) -> Result<Invitation, ServerError> {
        self.reached_invitation(call, id, Operation::ViewInvitations).await
    }

    /// The invitations of an account, newest first.
    pub async fn list_invitations(
        &self,
        call: &Call,
        filter: &InvitationFilter,
        page: &PageRequest,
    ) -> Result<Page<Invitation>, ServerError> {
        self.admit(call, &Operation::ViewInvitations(filter.account.clone())).await?;
        self.store.get_account(&filter.account).await?;
        Ok(self.store.list_invitations(filter, self.clock.now(), page).await?)
    }

    /// A new token and expiry for a pending or expired invitation. The requester stays who it
    /// was (four-eyes); extending the life of a grant needs the grant within the actor's reach.
    pub async fn resend_invitation(
        &self,
        call: &Call,
        id: &InvitationId,
    ) -> Result<(Invitation, InvitationToken, Revision), ServerError> {
        let inv = self.reached_invitation(call, id, Operation::ManageInvitations).await?;
        self.ensure_grant(call, &inv.account, None, &inv.roles, inv.restriction.as_ref()).await?;
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
        self.reached_invitation(call, id, Operation::ManageInvitations).await?;
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
        self.admit(call, &Operation::ViewApprovals(account.clone())).await?;
        self.store.get_account(account).await?;
        Ok(self.store.list_pending_approvals(account, page).await?)
    }

    /// Checks what approving and rejecting share: the permission, then that the membership is
    /// pending, then the four-eyes rule.
    async fn authorize_decision(&self, call: &Call, id: &MembershipId) -> Result<Membership, ServerError> {
        let m = self.store.get_membership(id).await?;
        let op = Operation::DecideApproval(m.account.clone());
        self.admit_object(call, &op, Hidden { entity: "membership", id: id.as_str() }).await?;
        if m.status != MembershipStatus::PendingApproval {
            return Err(ServerError::FailedPrecondition {
                kind: "MEMBERSHIP_NOT_PENDING",
                subject: format!("memberships/{id}"),
                description: format!("membership {id} is not waiting for approval"),
            });
        }
        if let Some(a) = call.actor.as_ref() {
            check_four_eyes(a, id, m.created_by.as_ref(), &m.user)
                .map_err(|v| Self::violation(call, format!("memberships/{id}"), v))?;
        }
        Ok(m)
    }

    /// Approves a pending membership: it becomes active, `approved_by` the actor. An actor names
    /// the `version` it reviewed; the grant must be within the approver's reach.
    pub async fn approve_membership(
        &self,
        call: &Call,
        id: &MembershipId,
        version: Option<&str>,
    ) -> Result<(Membership, Revision), ServerError> {
        let m = self.authorize_decision(call, id).await?;
        require_version(call, version)?;
        self.ensure_grant(call, &m.account, Some(&m.user), &m.roles, m.restriction.as_ref()).await?;
        Ok(self
            .store
            .set_membership_status_if_version(id, MembershipStatus::Active, true, version, &self.audit(call))
            .await?)
    }

    /// Rejects a pending membership: it is deleted, the reason on the audit event.
    pub async fn reject_membership(
        &self,
        call: &Call,
        id: &MembershipId,
        reason: &str,
        version: Option<&str>,
    ) -> Result<(Membership, Revision), ServerError> {
        self.authorize_decision(call, id).await?;
        require_version(call, version)?;
        Ok(self.store.reject_membership_if_version(id, reason, version, &self.audit(call)).await?)
    }
}

/// An actor's approval or rejection names the version it reviewed.
fn require_version(call: &Call, version: Option<&str>) -> Result<(), ServerError> {
    if call.actor.is_some() && version.is_none() {
        return Err(ServerError::invalid(
            "version",
            "required when actor_id is set: the version of the membership the approver reviewed",
        ));
    }
    Ok(())
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
