//! `m20261123_000005_changes`: a name databases record, so never renamed nor edited once released.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, string};

/// The change log: which scopes (`tree:<root account>`, `user:<id>`, `*`) each revision touched,
/// read by the decision caches of every replica (see `guichet_server::cache`).
#[derive(Debug, DeriveMigrationName)]
pub(super) struct Changes;

#[async_trait::async_trait]
impl MigrationTrait for Changes {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("guichet_changes")
                    .col(big_integer("revision"))
                    .col(string("scope"))
                    .primary_key(Index::create().col("revision").col("scope"))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table("guichet_changes").to_owned()).await
    }
}
