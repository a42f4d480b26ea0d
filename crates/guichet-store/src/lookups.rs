//! Reverse lookups: which resources a set of restricted memberships reaches, and who could hold a
//! permission in an account. The caller evaluates each candidate with the decision engine.

use std::collections::BTreeSet;

use guichet_domain::{AccountId, FeatureName, MembershipId, ResourceId, UserId};
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use crate::entities::{delegation, membership, membership_resource, resource};
use crate::facts::chain;
use crate::{Page, PageRequest, Store, StoreError};

impl Store {
    /// The resources of `account` (of `kind`, when given) that one of the restricted memberships
    /// reaches, by id.
    pub async fn resources_of_memberships(
        &self,
        account: &AccountId,
        memberships: &[MembershipId],
        kind: Option<&FeatureName>,
        page: &PageRequest,
    ) -> Result<Page<ResourceId>, StoreError> {
        if memberships.is_empty() {
            return Ok(Page { items: Vec::new(), next_after: None });
        }
        let reached: BTreeSet<String> = membership_resource::Entity::find()
            .filter(membership_resource::Column::MembershipId.is_in(memberships.iter().map(|m| m.as_str().to_owned())))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|g| g.resource_id)
            .collect();
        if reached.is_empty() {
            return Ok(Page { items: Vec::new(), next_after: None });
        }
        let mut cond = Condition::all()
            .add(resource::Column::AccountId.eq(account.as_str()))
            .add(resource::Column::Id.is_in(reached));
        if let Some(k) = kind {
            cond = cond.add(resource::Column::Kind.eq(k.as_str()));
        }
        if let Some(after) = &page.after {
            cond = cond.add(resource::Column::Id.gt(after.as_str()));
        }
        let rows = resource::Entity::find()
            .filter(cond)
            .order_by_asc(resource::Column::Id)
            .limit(page.limit + 1)
            .all(&self.db)
            .await?;
        let items = rows.into_iter().map(|r| ResourceId::from_trusted(r.id)).collect();
        Ok(Page::from_overfetch(items, page.limit, |r: &ResourceId| r.as_str().to_owned()))
    }

    /// Every user who might hold a permission in `account`: members of the account and of its
    /// ancestors, and members of the accounts that delegate into it or an ancestor. Sorted by id.
    pub async fn subject_candidates(&self, account: &AccountId) -> Result<Vec<UserId>, StoreError> {
        let txn = self.begin_read().await?;
        let chain = chain(&txn, account).await?;
        if chain.is_empty() {
            txn.commit().await?;
            return Ok(Vec::new());
        }
        let chain_ids: Vec<String> = chain.iter().map(|a| a.id.as_str().to_owned()).collect();
        let mut accounts: BTreeSet<String> = chain_ids.iter().cloned().collect();
        for d in delegation::Entity::find().filter(delegation::Column::ToAccountId.is_in(chain_ids)).all(&txn).await? {
            accounts.insert(d.from_account_id);
        }
        let users: BTreeSet<String> = membership::Entity::find()
            .filter(membership::Column::AccountId.is_in(accounts))
            .all(&txn)
            .await?
            .into_iter()
            .map(|m| m.user_id)
            .collect();
        txn.commit().await?;
        Ok(users.into_iter().map(UserId::from_trusted).collect())
    }
}
