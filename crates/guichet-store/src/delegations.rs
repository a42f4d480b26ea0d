//! Delegated administration: a partner's members act in a customer account with a role.

use guichet_domain::{AccountId, AccountKind, Delegation, DelegationId, NewDelegation, Revision, Timestamp};
use sea_orm::{ActiveModelTrait, ColumnTrait, Condition, EntityTrait, Set};

use crate::entities::delegation;
use crate::events::{Audit, Write};
use crate::paging::Keyset;
use crate::roles::{account_row, check_name};
use crate::rows;
use crate::{Page, PageRequest, Store, StoreError, found, new_id};

impl Store {
    /// Enables delegated administration of `to_account` by `from_account`'s delegated administrators.
    pub async fn create_delegation(
        &self,
        cmd: &NewDelegation,
        audit: &Audit,
    ) -> Result<(Delegation, Revision), StoreError> {
        if cmd.from_account == cmd.to_account {
            return Err(StoreError::invalid("to_account_id", "an account cannot delegate to itself"));
        }
        let (txn, revision) = self.begin_claimed(audit).await?;
        let from = account_row(&txn, &cmd.from_account).await?;
        // An unknown account is answered as an account of another tree: nothing tells a partner
        // whether an id outside its own tree exists.
        let to = match account_row(&txn, &cmd.to_account).await {
            Ok(to) => Some(to),
            Err(StoreError::NotFound { .. }) => None,
            Err(e) => return Err(e),
        };
        let Some(to) = to.filter(|to| to.path.starts_with(&format!("{}/", from.path))) else {
            let scope = guichet_domain::delegation_out_of_scope(&cmd.from_account, &cmd.to_account);
            return Err(StoreError::precondition(scope, format!("accounts/{}", cmd.to_account)));
        };
        let to_kind = AccountKind::from_trusted(to.kind.clone());
        check_name(&txn, &self.catalog, &cmd.to_account, &to_kind, &cmd.role, "role").await?;
        let id = cmd.id.as_ref().map_or_else(|| new_id("del"), |i| i.as_str().to_owned());
        let row = delegation::ActiveModel {
            id: Set(id.clone()),
            from_account_id: Set(cmd.from_account.as_str().to_owned()),
            to_account_id: Set(cmd.to_account.as_str().to_owned()),
            role: Set(cmd.role.as_str().to_owned()),
            created_by: Set(audit.actor.as_ref().map(|a| a.as_str().to_owned())),
            created_at: Set(audit.now.as_millis()),
            expires_at: Set(cmd.expires_at.map(Timestamp::as_millis)),
            expiry_recorded: Set(false),
        }
        .insert(&txn)
        .await
        .map_err(|e| {
            let e = StoreError::from_db(e, "delegation", &id);
            if matches!(e, StoreError::AlreadyExists { .. }) {
                StoreError::AlreadyExists {
                    entity: "delegation",
                    id: format!("{id} (or from {} to {})", cmd.from_account, cmd.to_account),
                }
            } else {
                e
            }
        })?;
        Write { store: self, conn: &txn, revision, audit }
            .created(&row.to_account_id, "delegation.created", &row.id, &row)
            .await?;
        txn.commit().await?;
        Ok((rows::delegation(&row), revision))
    }

    /// One delegation.
    pub async fn get_delegation(&self, id: &DelegationId) -> Result<Delegation, StoreError> {
        let row = found::<delegation::Entity>(&self.conn(), id.as_str().to_owned(), "delegation", id.as_str()).await?;
        Ok(rows::delegation(&row))
    }

    /// Delegations from and/or to an account; with `expiring_before`, only those with an expiry
    /// strictly before it (expired ones included).
    pub async fn list_delegations(
        &self,
        from: Option<&AccountId>,
        to: Option<&AccountId>,
        expiring_before: Option<Timestamp>,
        page: &PageRequest,
    ) -> Result<Page<Delegation>, StoreError> {
        let cond = Condition::all()
            .add_option(expiring_before.map(|t| delegation::Column::ExpiresAt.lt(t.as_millis())))
            .add_option(from.map(|f| delegation::Column::FromAccountId.eq(f.as_str())))
            .add_option(to.map(|t| delegation::Column::ToAccountId.eq(t.as_str())));
        let found = Keyset::id(delegation::Column::Id).page(&self.conn(), cond, page).await?;
        Ok(found.map(|row| rows::delegation(&row)))
    }

    /// Sets when a delegation stops granting (`None`: never): the time-boxed *Manage*. No change
    /// writes nothing.
    pub async fn set_delegation_expiry(
        &self,
        id: &DelegationId,
        expires_at: Option<Timestamp>,
        audit: &Audit,
    ) -> Result<(Delegation, Revision), StoreError> {
        let (txn, revision) = self.begin_claimed(audit).await?;
        let before = found::<delegation::Entity>(&txn, id.as_str().to_owned(), "delegation", id.as_str()).await?;
        if before.expires_at == expires_at.map(Timestamp::as_millis) {
            txn.rollback().await?;
            return Ok((rows::delegation(&before), self.revision().await?));
        }
        let mut active: delegation::ActiveModel = before.clone().into();
        active.expires_at = Set(expires_at.map(Timestamp::as_millis));
        active.expiry_recorded = Set(false);
        let row = active.update(&txn).await?;
        Write { store: self, conn: &txn, revision, audit }
            .event(&row.to_account_id, "delegation.expiry_changed", &row.id, Some(&before), Some(&row))
            .await?;
        txn.commit().await?;
        Ok((rows::delegation(&row), revision))
    }

    /// Disables a delegation: the *Manage* path disappears with it.
    pub async fn delete_delegation(&self, id: &DelegationId, audit: &Audit) -> Result<Revision, StoreError> {
        let (txn, revision) = self.begin_claimed(audit).await?;
        let before = found::<delegation::Entity>(&txn, id.as_str().to_owned(), "delegation", id.as_str()).await?;
        delegation::Entity::delete_by_id(id.as_str().to_owned()).exec(&txn).await?;
        self.commit_deletion((txn, revision), audit, &before.to_account_id, "delegation.deleted", &before.id, &before)
            .await
    }
}
