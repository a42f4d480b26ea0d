//! `m20261207_000012_lookup_indexes`: a name databases record, so never renamed nor edited once released.

use sea_orm_migration::prelude::*;

use super::index;

/// The members of one account in user-id order: ListAuthorizedSubjects walks, for each account
/// whose members might hold the permission (the account, its ancestors, the accounts delegating
/// into them), that account's memberships after the page's cursor, in the order of the page
/// (`crate::lookups`). Without it the walk reads the memberships of every account in user order.
#[derive(Debug, DeriveMigrationName)]
pub(super) struct LookupIndexes;

#[async_trait::async_trait]
impl MigrationTrait for LookupIndexes {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        index(manager, "idx_memberships_account_user", "memberships", &["account_id", "user_id"]).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_index(Index::drop().name("idx_memberships_account_user").table("memberships").to_owned()).await
    }
}
