//! Delegations: a partner account's access into one of its descendant accounts.

use guichet_domain::{AccountId, Delegation, DelegationId, NewDelegation, Operation, Revision};
use guichet_store::{Page, PageRequest};

use super::{App, Call, Hidden};
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
        let op = Operation::CreateDelegation { from: cmd.from_account.clone(), to: cmd.to_account.clone() };
        self.admit(call, &op).await?;
        self.ensure_grant(call, &cmd.to_account, None, std::slice::from_ref(&cmd.role), None).await?;
        Ok(self.store.create_delegation(cmd, &self.audit(call)).await?)
    }

    /// One delegation.
    pub async fn get_delegation(&self, call: &Call, id: &DelegationId) -> Result<Delegation, ServerError> {
        let d = self.store.get_delegation(id).await?;
        let op = Operation::ViewDelegations(vec![d.from_account.clone(), d.to_account.clone()]);
        self.admit_object(call, &op, Hidden { entity: "delegation", id: id.as_str() }).await?;
        Ok(d)
    }

    /// Delegations from and/or to an account.
    pub async fn list_delegations(
        &self,
        call: &Call,
        from: Option<&AccountId>,
        to: Option<&AccountId>,
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
        Ok(self.store.list_delegations(from, to, page).await?)
    }

    /// Disables a delegation.
    pub async fn delete_delegation(&self, call: &Call, id: &DelegationId) -> Result<Revision, ServerError> {
        let d = self.store.get_delegation(id).await?;
        let op = Operation::DeleteDelegation { from: d.from_account.clone(), to: d.to_account.clone() };
        self.admit_object(call, &op, Hidden { entity: "delegation", id: id.as_str() }).await?;
        Ok(self.store.delete_delegation(id, &self.audit(call)).await?)
    }
}
