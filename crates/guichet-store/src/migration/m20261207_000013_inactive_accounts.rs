//! `m20261207_000013_inactive_accounts`: a name databases record, so never renamed nor edited once released.

use sea_orm_migration::prelude::*;

/// The accounts that are not active, few in any tree: the candidate statements of the lookups
/// (`crate::lookups`) keep an account only when no account of its path is suspended, a `NOT
/// EXISTS` that PostgreSQL plans as one anti join against the accounts that are not active. Without
/// an index of them that is a scan of every account for each page (11 ms over 100,000 accounts,
/// most of a first page's time); with it, an index-only scan of the few.
#[derive(Debug, DeriveMigrationName)]
pub(super) struct InactiveAccounts;

#[async_trait::async_trait]
impl MigrationTrait for InactiveAccounts {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // A partial index, which sea-query's index builder does not write: the same SQL on
        // PostgreSQL and SQLite.
        manager
            .get_connection()
            .execute_unprepared("CREATE INDEX idx_accounts_not_active ON accounts (id) WHERE status <> 'active'")
            .await
            .map(|_| ())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_index(Index::drop().name("idx_accounts_not_active").table("accounts").to_owned()).await
    }
}
