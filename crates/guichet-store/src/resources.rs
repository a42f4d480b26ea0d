//! Resources (folders) of an account.

use guichet_domain::{AccountId, FeatureName, NewResource, Resource, ResourceId, Revision};
use sea_orm::{ActiveModelTrait, ColumnTrait, Condition, EntityTrait, QueryFilter, Set};

use crate::entities::{membership_resource, resource};
use crate::events::{Audit, Write};
use crate::paging::Keyset;
use crate::roles::account_row;
use crate::rows;
use crate::{Page, PageRequest, Store, StoreError, found, new_id};

impl Store {
    /// Creates a resource in an account.
    pub async fn create_resource(&self, cmd: &NewResource, audit: &Audit) -> Result<(Resource, Revision), StoreError> {
        let (txn, revision) = self.begin_claimed(audit).await?;
        account_row(&txn, &cmd.account).await?;
        let id = cmd.id.as_ref().map_or_else(|| new_id("res"), |i| i.as_str().to_owned());
        let row = resource::ActiveModel {
            id: Set(id.clone()),
            account_id: Set(cmd.account.as_str().to_owned()),
            kind: Set(cmd.kind.as_str().to_owned()),
            name: Set(cmd.name.clone()),
            created_at: Set(audit.now.as_millis()),
        }
        .insert(&txn)
        .await
        .map_err(|e| StoreError::from_db(e, "resource", &id))?;
        Write { store: self, conn: &txn, revision, audit }
            .created(&row.account_id, "resource.created", &row.id, &row)
            .await?;
        txn.commit().await?;
        Ok((rows::resource(&row), revision))
    }

    /// One resource.
    pub async fn get_resource(&self, id: &ResourceId) -> Result<Resource, StoreError> {
        let row = found::<resource::Entity>(&self.conn(), id.as_str().to_owned(), "resource", id.as_str()).await?;
        Ok(rows::resource(&row))
    }

    /// The resources of an account, by id.
    pub async fn list_resources(
        &self,
        account: &AccountId,
        kind: Option<&FeatureName>,
        page: &PageRequest,
    ) -> Result<Page<Resource>, StoreError> {
        account_row(&self.conn(), account).await?;
        let mut cond = Condition::all().add(resource::Column::AccountId.eq(account.as_str()));
        if let Some(k) = kind {
            cond = cond.add(resource::Column::Kind.eq(k.as_str()));
        }
        let found = Keyset::id(resource::Column::Id).page(&self.conn(), cond, page).await?;
        Ok(found.map(|row| rows::resource(&row)))
    }

    /// Deletes a resource and every grant of it.
    pub async fn delete_resource(&self, id: &ResourceId, audit: &Audit) -> Result<Revision, StoreError> {
        let (txn, revision) = self.begin_claimed(audit).await?;
        let before = found::<resource::Entity>(&txn, id.as_str().to_owned(), "resource", id.as_str()).await?;
        membership_resource::Entity::delete_many()
            .filter(membership_resource::Column::ResourceId.eq(id.as_str()))
            .exec(&txn)
            .await?;
        resource::Entity::delete_by_id(id.as_str().to_owned()).exec(&txn).await?;
        self.commit_deletion((txn, revision), audit, &before.account_id, "resource.deleted", &before.id, &before).await
    }
}
