//! Delegations: a partner account's access into one of its descendant accounts.

use guichet_domain::{
    AccountId, Delegation, DelegationId, NewDelegation, Operation, Revision, Timestamp, expiry_extends,
};
use guichet_store::{Page, PageRequest};

use super::memberships::check_expiry;
use super::{App, Call, Hidden, Without};
use crate::error::ServerError;

impl App {
    /// Enables a delegation from a partner into one of its descendant accounts. The customer side
    /// decides (`users:full` there), and the delegation's role must be within the actor's reach
    /// in the customer: a partner cannot hand itself access it does not hold.
    pub async fn create_delegation(
        &self,
        call: &Call,
        cmd: &NewDelegation,
    ) -> Result<(Delegation, Revision), ServerError> {
        check_expiry("expire_time", cmd.expires_at, self.clock.now())?;
        let op = Operation::CreateDelegation { from: cmd.from_account.clone(), to: cmd.to_account.clone() };
        self.admit(call, &op).await?;
        let role = std::slice::from_ref(&cmd.role);
        self.ensure_grant_until(call, &cmd.to_account, None, role, None, cmd.expires_at, Without::Nothing).await?;
        Ok(self.store.create_delegation(cmd, &self.audit(call)).await?)
    }

    /// One delegation.
    pub async fn get_delegation(&self, call: &Call, id: &DelegationId) -> Result<Delegation, ServerError> {
        let d = self.store.get_delegation(id).await?;
        let op = Operation::ViewDelegations(vec![d.from_account.clone(), d.to_account.clone()]);
        self.admit_object(call, &op, Hidden { entity: "delegation", id: id.as_str() }).await?;
        Ok(d)
    }

    /// Delegations from and/or to an account (with an expiry before `expiring_before`, when given).
    pub async fn list_delegations(
        &self,
        call: &Call,
        from: Option<&AccountId>,
        to: Option<&AccountId>,
        expiring_before: Option<Timestamp>,
        page: &PageRequest,
    ) -> Result<Page<Delegation>, ServerError> {
        let account = match (from, to) {
            (None, None) => {
                return Err(ServerError::invalid("from_account_id", "from_account_id or to_account_id is required"));
            }
            (Some(f), _) => f,
            (None, Some(t)) => t,
        };
        self.admit(call, &Operation::ViewDelegations(vec![account.clone()])).await?;
        Ok(self.store.list_delegations(from, to, expiring_before, page).await?)
    }

    /// Sets when a delegation stops granting (`None`: never): a time-boxed *Manage*. Shortening it
    /// is ending access sooner (either side, as DeleteDelegation); extending it
    /// ([`expiry_extends`]) is granting, decided as CreateDelegation is — by the customer side,
    /// the role within the actor's reach until the new expiry, without this delegation: the
    /// partner cannot extend its own delegation.
    pub async fn set_delegation_expiry(
        &self,
        call: &Call,
        id: &DelegationId,
        expires_at: Option<Timestamp>,
    ) -> Result<(Delegation, Revision), ServerError> {
        check_expiry("expire_time", expires_at, self.clock.now())?;
        let d = self.store.get_delegation(id).await?;
        let extends = expiry_extends(d.expires_at, expires_at);
        let op = Operation::ChangeDelegationExpiry { from: d.from_account.clone(), to: d.to_account.clone(), extends };
        self.admit_object(call, &op, Hidden { entity: "delegation", id: id.as_str() }).await?;
        if extends {
            let role = std::slice::from_ref(&d.role);
            self.ensure_grant_until(call, &d.to_account, None, role, None, expires_at, Without::Delegation(id)).await?;
        }
        Ok(self.store.set_delegation_expiry(id, expires_at, &self.audit(call)).await?)
    }

    /// Disables a delegation.
    pub async fn delete_delegation(&self, call: &Call, id: &DelegationId) -> Result<Revision, ServerError> {
        let d = self.store.get_delegation(id).await?;
        let op = Operation::DeleteDelegation { from: d.from_account.clone(), to: d.to_account.clone() };
        self.admit_object(call, &op, Hidden { entity: "delegation", id: id.as_str() }).await?;
        Ok(self.store.delete_delegation(id, &self.audit(call)).await?)
    }
}
