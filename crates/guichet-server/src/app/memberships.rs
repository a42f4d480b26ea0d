//! Memberships: who holds which roles in an account, restricted to which resources.

use guichet_domain::{
    Membership, MembershipId, MembershipStatus, NewMembership, Operation, Restriction, Revision, RoleName, Timestamp,
    check_pending_frozen, check_role_limit, expiry_extends,
};
use guichet_store::{MembershipFilter, Page, PageRequest};

use super::{App, Call, Hidden, Without};
use crate::error::ServerError;

/// The longest an expiry may be set ahead: ten years (of 365.25 days).
const MAX_EXPIRY_AHEAD_MS: i64 = 10 * 36_525 * 86_400_000 / 100;

/// An expiry a request may set (on `field`): in the future, at most ten years ahead. `None`
/// (never) is always valid.
pub(crate) fn check_expiry(field: &str, expires_at: Option<Timestamp>, now: Timestamp) -> Result<(), ServerError> {
    let Some(at) = expires_at else { return Ok(()) };
    if at <= now {
        return Err(ServerError::invalid(field, "must be in the future (leave it unset for no expiry)"));
    }
    if at.as_millis() - now.as_millis() > MAX_EXPIRY_AHEAD_MS {
        return Err(ServerError::invalid(field, "must be at most 10 years ahead (leave it unset for no expiry)"));
    }
    Ok(())
}

impl App {
    /// The membership, when the call's actor may manage the memberships of its account (NOT_FOUND
    /// when out of reach); a pending membership is frozen for its requester (four-eyes).
    pub(crate) async fn managed_membership(&self, call: &Call, id: &MembershipId) -> Result<Membership, ServerError> {
        let m = self.store.get_membership(id).await?;
        let op = Operation::ManageMemberships(m.account.clone());
        self.admit_object(call, &op, Hidden { entity: "membership", id: id.as_str() }).await?;
        if let Some(actor) = call.actor.as_ref() {
            check_pending_frozen(actor, id, m.status, m.created_by.as_ref())
                .map_err(|v| Self::violation(call, format!("memberships/{id}"), v))?;
        }
        Ok(m)
    }

    /// Creates a membership. On an actor's authority the user must already be reachable by the
    /// actor (a member where it may view users) or be a profile of no account yet; others join by
    /// invitation (identity, see `guichet_domain::rules`). The account's email
    /// policy applies on every authority.
    pub async fn create_membership(
        &self,
        call: &Call,
        cmd: &NewMembership,
    ) -> Result<(Membership, Revision), ServerError> {
        check_expiry("expire_time", cmd.expires_at, self.clock.now())?;
        self.admit(call, &Operation::ManageMemberships(cmd.account.clone())).await?;
        check_role_limit(&cmd.roles).map_err(|v| Self::violation(call, format!("accounts/{}", cmd.account), v))?;
        let unknown_user = || ServerError::NotFound { entity: "user", id: cmd.user.to_string() };
        // An unknown id and a user out of the actor's reach answer alike.
        let user = self.store.get_user(&cmd.user).await?;
        if call.actor.is_some() {
            let accounts = self.store.user_accounts(&cmd.user).await?;
            // A profile of no account belongs to no tenant yet: any administrator may add it.
            if !accounts.is_empty() {
                let op = Operation::ViewUser { user: cmd.user.clone(), accounts };
                match self.admit(call, &op).await {
                    Ok(()) => {}
                    Err(ServerError::NotFound { .. } | ServerError::PermissionDenied { .. }) => {
                        return Err(unknown_user());
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        self.email_policy(&cmd.account, &user.email).await?;
        self.ensure_grant_until(
            call,
            &cmd.account,
            Some(&cmd.user),
            &cmd.roles,
            cmd.restriction.as_ref(),
            cmd.expires_at,
            Without::Nothing,
        )
        .await?;
        Ok(self.store.create_membership(cmd, &self.audit(call)).await?)
    }

    /// [`App::ensure_grant_until`] for membership `m` granting `roles` over `restriction` until
    /// `until`: a grant in its account to its user.
    async fn ensure_membership_grant(
        &self,
        call: &Call,
        m: &Membership,
        roles: &[RoleName],
        restriction: Option<&Restriction>,
        until: Option<Timestamp>,
        without: Without<'_>,
    ) -> Result<(), ServerError> {
        self.ensure_grant_until(call, &m.account, Some(&m.user), roles, restriction, until, without).await
    }

    /// One membership.
    pub async fn get_membership(&self, call: &Call, id: &MembershipId) -> Result<Membership, ServerError> {
        let m = self.store.get_membership(id).await?;
        let op = Operation::ViewMemberships { account: m.account.clone(), user: Some(m.user.clone()) };
        self.admit_object(call, &op, Hidden { entity: "membership", id: id.as_str() }).await?;
        Ok(m)
    }

    /// Memberships of an account or of a user.
    pub async fn list_memberships(
        &self,
        call: &Call,
        filter: &MembershipFilter,
        page: &PageRequest,
    ) -> Result<Page<Membership>, ServerError> {
        match (&filter.account, &filter.user) {
            (None, None) => {
                return Err(ServerError::invalid("account_id", "account_id or user_id is required"));
            }
            (Some(a), _) => self.admit(call, &Operation::ViewMemberships { account: a.clone(), user: None }).await?,
            (None, Some(u)) => {
                if call.actor.as_ref().is_some_and(|a| a != u) {
                    return Err(ServerError::invalid(
                        "account_id",
                        "required when actor_id is set and is not user_id: list the members of an account",
                    ));
                }
            }
        }
        Ok(self.store.list_memberships(filter, page).await?)
    }

    /// Replaces a membership's roles.
    pub async fn set_membership_roles(
        &self,
        call: &Call,
        id: &MembershipId,
        roles: &[RoleName],
    ) -> Result<(Membership, Revision), ServerError> {
        let m = self.managed_membership(call, id).await?;
        check_role_limit(roles).map_err(|v| Self::violation(call, format!("memberships/{id}"), v))?;
        self.ensure_membership_grant(call, &m, roles, m.restriction.as_ref(), m.expires_at, Without::Nothing).await?;
        Ok(self.store.set_membership_roles(id, roles, &self.audit(call)).await?)
    }

    /// Adds a role. The store re-reads the roles inside its write: two concurrent calls both
    /// take effect.
    pub async fn assign_role(
        &self,
        call: &Call,
        id: &MembershipId,
        role: &RoleName,
    ) -> Result<(Membership, Revision), ServerError> {
        let m = self.managed_membership(call, id).await?;
        let role = std::slice::from_ref(role);
        self.ensure_membership_grant(call, &m, role, m.restriction.as_ref(), m.expires_at, Without::Nothing).await?;
        let role = &role[0];
        Ok(self.store.assign_role(id, role, &self.audit(call)).await?)
    }

    /// Removes a role.
    pub async fn unassign_role(
        &self,
        call: &Call,
        id: &MembershipId,
        role: &RoleName,
    ) -> Result<(Membership, Revision), ServerError> {
        self.managed_membership(call, id).await?;
        Ok(self.store.unassign_role(id, role, &self.audit(call)).await?)
    }

    /// Restricts a membership to some resources, or lifts the restriction: the membership's roles
    /// over the new restriction must be within the actor's reach.
    pub async fn set_resource_restriction(
        &self,
        call: &Call,
        id: &MembershipId,
        restriction: Option<&Restriction>,
    ) -> Result<(Membership, Revision), ServerError> {
        let m = self.managed_membership(call, id).await?;
        self.ensure_membership_grant(call, &m, &m.roles, restriction, m.expires_at, Without::Nothing).await?;
        Ok(self.store.set_resource_restriction(id, restriction, &self.audit(call)).await?)
    }

    /// Suspends or reactivates a membership; reactivating gives its roles back, so they must be
    /// within the actor's reach.
    pub async fn set_membership_status(
        &self,
        call: &Call,
        id: &MembershipId,
        status: MembershipStatus,
    ) -> Result<(Membership, Revision), ServerError> {
        let m = self.managed_membership(call, id).await?;
        if status == MembershipStatus::Active {
            self.ensure_membership_grant(call, &m, &m.roles, m.restriction.as_ref(), m.expires_at, Without::Nothing)
                .await?;
        }
        Ok(self.store.set_membership_status(id, status, false, &self.audit(call)).await?)
    }

    /// Sets when a membership stops granting (`None`: never). Any change needs the right to edit
    /// the membership; extending it ([`expiry_extends`]) grants its roles to its user for longer,
    /// so it is checked as granting them is: within the actor's reach until the new expiry,
    /// without the membership itself (an actor never extends its own access), and partner reach
    /// for its user (a partner's member keeps no direct access a reactivation would be refused).
    /// An expiry set must be in the future and within ten years.
    pub async fn set_membership_expiry(
        &self,
        call: &Call,
        id: &MembershipId,
        expires_at: Option<Timestamp>,
    ) -> Result<(Membership, Revision), ServerError> {
        check_expiry("expire_time", expires_at, self.clock.now())?;
        let m = self.managed_membership(call, id).await?;
        if expiry_extends(m.expires_at, expires_at) {
            self.ensure_membership_grant(
                call,
                &m,
                &m.roles,
                m.restriction.as_ref(),
                expires_at,
                Without::Membership(id),
            )
            .await?;
        }
        Ok(self.store.set_membership_expiry(id, expires_at, &self.audit(call)).await?)
    }

    /// Removes a membership.
    pub async fn delete_membership(&self, call: &Call, id: &MembershipId) -> Result<Revision, ServerError> {
        let m = self.store.get_membership(id).await?;
        let op = Operation::ManageMemberships(m.account.clone());
        self.admit_object(call, &op, Hidden { entity: "membership", id: id.as_str() }).await?;
        Ok(self.store.delete_membership(id, &self.audit(call)).await?)
    }
}
