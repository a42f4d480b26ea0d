//! Accounts: creation, reading, renaming, lifecycle (suspension, modules) and settings.

use std::collections::BTreeSet;

use guichet_domain::{Account, AccountId, AccountStatus, FeatureName, NewAccount, Operation, Revision, SettingsChange};
use guichet_store::{AccountFilter, Page, PageRequest};

use super::{App, Call, Hidden};
use crate::error::ServerError;

impl App {
    /// Creates an account.
    pub async fn create_account(&self, call: &Call, cmd: &NewAccount) -> Result<(Account, Revision), ServerError> {
        self.admit(call, &Operation::CreateAccount { parent: cmd.parent.clone() }).await?;
        Ok(self.store.create_account(cmd, &self.audit(call)).await?)
    }

    /// One account.
    pub async fn get_account(&self, call: &Call, id: &AccountId) -> Result<Account, ServerError> {
        self.admit(call, &Operation::GetAccount(id.clone())).await?;
        Ok(self.store.get_account(id).await?)
    }

    /// Accounts; an actor must name a parent it may view the children of.
    pub async fn list_accounts(
        &self,
        call: &Call,
        filter: &AccountFilter,
        page: &PageRequest,
    ) -> Result<Page<Account>, ServerError> {
        if call.actor.is_some() && filter.parent.is_none() {
            return Err(ServerError::invalid(
                "parent_id",
                "required when actor_id is set: list the children of an account the actor may view",
            ));
        }
        self.admit(call, &Operation::ListAccounts { parent: filter.parent.clone() }).await?;
        Ok(self.store.list_accounts(filter, page).await?)
    }

    /// Children (or all descendants) of an account.
    pub async fn list_children(
        &self,
        call: &Call,
        id: &AccountId,
        recursive: bool,
        page: &PageRequest,
    ) -> Result<Page<Account>, ServerError> {
        self.admit(call, &Operation::ListChildAccounts(id.clone())).await?;
        Ok(self.store.list_children(id, recursive, page).await?)
    }

    /// Renames an account.
    pub async fn rename_account(
        &self,
        call: &Call,
        id: &AccountId,
        name: Option<&str>,
    ) -> Result<(Account, Revision), ServerError> {
        self.admit(call, &Operation::EditAccount(id.clone())).await?;
        match name {
            Some(n) => Ok(self.store.rename_account(id, n, &self.audit(call)).await?),
            None => {
                let account = self.store.get_account(id).await?;
                Ok((account, self.store.revision().await?))
            }
        }
    }

    /// The lifecycle operation of an account: decided in its parent. An actor who cannot reach
    /// the account at all gets NOT_FOUND, as for an unknown id.
    async fn admit_lifecycle(&self, call: &Call, id: &AccountId) -> Result<(), ServerError> {
        let account = self.store.get_account(id).await?;
        if let (Some(actor), None) = (call.actor.as_ref(), &account.parent) {
            // A root is managed by the calling service only; an actor who cannot reach it at all
            // is not told that it exists (nor that it is a root).
            if self.reaches_at_all(actor, id).await? {
                let op = Operation::AccountLifecycle { account: id.clone(), parent: None };
                return self.admit(call, &op).await;
            }
            return Err(ServerError::NotFound { entity: "account", id: id.to_string() });
        }
        let op = Operation::AccountLifecycle { account: id.clone(), parent: account.parent.clone() };
        match call.actor.as_ref() {
            // A member of the account is told what it lacks in the parent.
            Some(actor) if self.reaches_at_all(actor, id).await? => self.admit_visible(call, &op).await,
            Some(_) | None => self.admit_object(call, &op, Hidden { entity: "account", id: id.as_str() }).await,
        }
    }

    /// Suspends or reactivates an account.
    pub async fn set_account_status(
        &self,
        call: &Call,
        id: &AccountId,
        status: AccountStatus,
        reason: Option<String>,
    ) -> Result<(Account, Revision), ServerError> {
        self.admit_lifecycle(call, id).await?;
        Ok(self.store.set_account_status(id, status, reason, &self.audit(call)).await?)
    }

    /// Replaces an account's enabled modules. Not an escalation: every grant was compared without
    /// the module cap (see `guichet_domain::rules`).
    pub async fn set_account_modules(
        &self,
        call: &Call,
        id: &AccountId,
        modules: &BTreeSet<FeatureName>,
    ) -> Result<(Account, Revision), ServerError> {
        self.admit_lifecycle(call, id).await?;
        Ok(self.store.set_account_modules(id, modules, &self.audit(call)).await?)
    }

    /// Changes an account's settings (what the change leaves out keeps its value).
    pub async fn set_account_settings(
        &self,
        call: &Call,
        id: &AccountId,
        change: &SettingsChange,
    ) -> Result<(Account, Revision), ServerError> {
        self.admit(call, &Operation::EditAccount(id.clone())).await?;
        Ok(self.store.set_account_settings(id, change, &self.audit(call)).await?)
    }
}
