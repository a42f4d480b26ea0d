//! `m20261123_000002_events`: a name databases record, so never renamed nor edited once released.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, string, string_null};

use super::index;

/// Audit events and idempotency keys.
#[derive(Debug, DeriveMigrationName)]
pub(super) struct Events;

#[async_trait::async_trait]
impl MigrationTrait for Events {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("events")
                    .col(string("id").primary_key())
                    .col(big_integer("revision"))
                    .col(string_null("account_id"))
                    .col(string_null("actor_id"))
                    .col(string_null("service"))
                    .col(string("kind"))
                    .col(string("target_id"))
                    .col(sea_orm_migration::schema::text_null("before_json"))
                    .col(sea_orm_migration::schema::text_null("after_json"))
                    .col(string_null("trace_id"))
                    .col(string_null("request_id"))
                    .col(big_integer("created_at"))
                    .to_owned(),
            )
            .await?;
        index(manager, "idx_events_account", "events", &["account_id", "id"]).await?;
        index(manager, "idx_events_account_time", "events", &["account_id", "created_at"]).await?;
        index(manager, "idx_events_actor", "events", &["actor_id", "id"]).await?;
        manager
            .create_table(
                Table::create()
                    .table("idempotency_keys")
                    .col(string("service"))
                    .col(string("request_id"))
                    .col(string("fingerprint"))
                    .col(sea_orm_migration::schema::blob_null("response"))
                    .col(big_integer("revision"))
                    .col(big_integer("created_at"))
                    .primary_key(Index::create().col("service").col("request_id"))
                    .to_owned(),
            )
            .await?;
        index(manager, "idx_idempotency_keys_created", "idempotency_keys", &["created_at"]).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table("idempotency_keys").to_owned()).await?;
        manager.drop_table(Table::drop().table("events").to_owned()).await
    }
}
