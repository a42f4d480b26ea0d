//! `m20261207_000010_grant_expiry`: a name databases record, so never renamed nor edited once released.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer_null, boolean};

use super::index;

/// Access that ends by itself: `memberships.expires_at` and `delegations.expires_at` (milliseconds
/// since the epoch, null: never) — a grant stops granting at that instant, in every decision,
/// whatever else happens. `expiry_recorded` says that the expiry's audit event was written: the
/// sweeper of every replica sets it with a conditional update, so that one event is written per
/// expiry whatever the number of replicas; a new expiry clears it. The indexes serve the sweeper
/// (`expiry_recorded`, `expires_at`). Existing rows get no expiry.
#[derive(Debug, DeriveMigrationName)]
pub(super) struct GrantExpiry;

#[async_trait::async_trait]
impl MigrationTrait for GrantExpiry {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["memberships", "delegations"] {
            manager
                .alter_table(Table::alter().table(table).add_column(big_integer_null("expires_at")).to_owned())
                .await?;
            manager
                .alter_table(
                    Table::alter().table(table).add_column(boolean("expiry_recorded").default(false)).to_owned(),
                )
                .await?;
        }
        index(manager, "idx_memberships_expiry", "memberships", &["expiry_recorded", "expires_at"]).await?;
        index(manager, "idx_delegations_expiry", "delegations", &["expiry_recorded", "expires_at"]).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_index(Index::drop().name("idx_memberships_expiry").table("memberships").to_owned()).await?;
        manager.drop_index(Index::drop().name("idx_delegations_expiry").table("delegations").to_owned()).await?;
        for table in ["memberships", "delegations"] {
            manager.alter_table(Table::alter().table(table).drop_column("expiry_recorded").to_owned()).await?;
            manager.alter_table(Table::alter().table(table).drop_column("expires_at").to_owned()).await?;
        }
        Ok(())
    }
}
