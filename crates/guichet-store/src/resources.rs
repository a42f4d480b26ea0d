//! Resources (folders) of an account.

use guichet_domain::{AccountId, FeatureName, NewResource, Resource, ResourceId, Revision};
use sea_orm::{ActiveModelTrait, ColumnTrait, Condition, EntityTrait, QueryFilter, Set};

use crate::entities::{membership_resource, resource};
use crate::events::{self, Audit};
use crate::paging::Keyset;
use crate::roles::account_row;
use crate::rows;
use crate::{Page, PageRequest, Store, StoreError, new_id};

impl Store {
    /// Creates a resource in an account.
    pub async fn create_resource(&self, cmd: &NewResource, audit: &Audit) -> Result<(Resource, Revision), StoreError> {
        let (txn, revision) = self.begin_write().await?;
        crate::idempotency::claim(&txn, revision, audit).await?;
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
        events::record(
            self,
            &txn,
            revision,
            audit,
            Some(&row.account_id),
            "resource.created",
            &row.id,
            None::<&()>,
            Some(&row),
        )
        .await?;
        txn.commit().await?;
        Ok((rows::resource(&row), revision))
    }

    /// One resource.
    pub async fn get_resource(&self, id: &ResourceId) -> Result<Resource, StoreError> {
        let row = resource::Entity::find_by_id(id.as_str().to_owned())
            .one(&self.db)
            .await?
            .ok_or_else(|| StoreError::not_found("resource", id.as_str()))?;
        Ok(rows::resource(&row))
    }

    /// The resources of an account, by id.
    pub async fn list_resources(
        &self,
        account: &AccountId,
        kind: Option<&FeatureName>,
        page: &PageRequest,
    ) -> Result<Page<Resource>, StoreError> {
        account_row(&self.db, account).await?;
        let mut cond = Condition::all().add(resource::Column::AccountId.eq(account.as_str()));
        if let Some(k) = kind {
            cond = cond.add(resource::Column::Kind.eq(k.as_str()));
        }
        let found = Keyset::id(resource::Column::Id).page(&self.db, cond, page).await?;
        Ok(found.map(|row| rows::resource(&row)))
    }

    /// Deletes a resource and every grant of it.
    pub async fn delete_resource(&self, id: &ResourceId, audit: &Audit) -> Result<Revision, StoreError> {
        let (txn, revision) = self.begin_write().await?;
        crate::idempotency::claim(&txn, revision, audit).await?;
        let before = resource::Entity::find_by_id(id.as_str().to_owned())
            .one(&txn)
            .await?
            .ok_or_else(|| StoreError::not_found("resource", id.as_str()))?;
        membership_resource::Entity::delete_many()
            .filter(membership_resource::Column::ResourceId.eq(id.as_str()))
            .exec(&txn)
            .await?;
        resource::Entity::delete_by_id(id.as_str().to_owned()).exec(&txn).await?;
        events::record(
            self,
            &txn,
            revision,
            audit,
            Some(&before.account_id),
            "resource.deleted",
            &before.id,
            Some(&before),
            None::<&()>,
        )
        .await?;
        txn.commit().await?;
        Ok(revision)
    }
}
