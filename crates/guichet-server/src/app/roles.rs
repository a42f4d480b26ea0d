//! Roles: the built-in and custom roles of an account, and the definitions a custom role must keep.

use guichet_domain::{
    AccountId, AccountRole, Operation, Revision, RoleDefinition, RoleName, check_descendant_levels,
    check_role_definition,
};

use super::{App, Call};
use crate::error::ServerError;

impl App {
    /// Built-in and custom roles of an account.
    pub async fn list_roles(&self, call: &Call, account: &AccountId) -> Result<Vec<AccountRole>, ServerError> {
        self.admit(call, &Operation::ViewRoles(account.clone())).await?;
        Ok(self.store.list_roles(account).await?)
    }

    /// One role.
    pub async fn get_role(
        &self,
        call: &Call,
        account: &AccountId,
        name: &RoleName,
    ) -> Result<AccountRole, ServerError> {
        self.admit(call, &Operation::ViewRoles(account.clone())).await?;
        Ok(self.store.get_role(account, name).await?)
    }

    /// What a role definition must keep whoever asks: descendant levels only as the kind's
    /// built-in roles carry them; and on an actor's authority, nothing beyond the actor's reach.
    async fn ensure_role_definition(&self, call: &Call, def: &RoleDefinition) -> Result<(), ServerError> {
        self.admit(call, &Operation::ManageRoles(def.account.clone())).await?;
        let account = self.store.get_account(&def.account).await?;
        let subject = format!("accounts/{}/roles/{}", def.account, def.name);
        check_descendant_levels(&self.catalog, &account.kind, &def.descendant_grants)
            .map_err(|v| Self::violation(call, subject.clone(), v))?;
        if let Some(actor) = call.actor.as_ref() {
            let reach = self.reach(actor, &def.account, None).await?;
            check_role_definition(&def.grants, &def.descendant_grants, &reach)
                .map_err(|v| Self::violation(call, subject, v))?;
        }
        Ok(())
    }

    /// Creates a custom role.
    pub async fn create_role(&self, call: &Call, def: &RoleDefinition) -> Result<(AccountRole, Revision), ServerError> {
        self.ensure_role_definition(call, def).await?;
        Ok(self.store.create_role(def, &self.audit(call)).await?)
    }

    /// Replaces a custom role.
    pub async fn update_role(&self, call: &Call, def: &RoleDefinition) -> Result<(AccountRole, Revision), ServerError> {
        self.ensure_role_definition(call, def).await?;
        Ok(self.store.update_role(def, &self.audit(call)).await?)
    }

    /// Deletes an unused custom role.
    pub async fn delete_role(
        &self,
        call: &Call,
        account: &AccountId,
        name: &RoleName,
    ) -> Result<Revision, ServerError> {
        self.admit(call, &Operation::ManageRoles(account.clone())).await?;
        Ok(self.store.delete_role(account, name, &self.audit(call)).await?)
    }
}
