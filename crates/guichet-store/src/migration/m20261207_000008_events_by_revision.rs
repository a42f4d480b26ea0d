//! `m20261207_000008_events_by_revision`: a name databases record, so never renamed nor edited once released.

use sea_orm_migration::prelude::*;

use super::index;

/// Indexes that let WatchEvents read the audit trail in revision order, whole or for one account.
#[derive(Debug, DeriveMigrationName)]
pub(super) struct EventsByRevision;

#[async_trait::async_trait]
impl MigrationTrait for EventsByRevision {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        index(manager, "idx_events_revision", "events", &["revision", "id"]).await?;
        index(manager, "idx_events_account_revision", "events", &["account_id", "revision", "id"]).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for name in ["idx_events_account_revision", "idx_events_revision"] {
            manager.drop_index(Index::drop().name(name).table("events").to_owned()).await?;
        }
        Ok(())
    }
}
