//! `m20261207_000009_resource_levels`: a name databases record, so never renamed nor edited once released.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{string, text};

/// Levels per resource: `membership_resources.level` is the cap of the membership on the resource
/// (`view` or `full`), and `invitations.view_resource_ids` lists the resources of a restricted
/// invitation capped at `view` (`resource_ids` keeps those at the roles' levels). Every existing
/// row gets `full` / `[]`: today's restricted memberships and invitations keep meaning what they
/// meant (the roles' levels on each listed resource).
#[derive(Debug, DeriveMigrationName)]
pub(super) struct ResourceLevels;

#[async_trait::async_trait]
impl MigrationTrait for ResourceLevels {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter().table("membership_resources").add_column(string("level").default("full")).to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter().table("invitations").add_column(text("view_resource_ids").default("[]")).to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.alter_table(Table::alter().table("membership_resources").drop_column("level").to_owned()).await?;
        manager.alter_table(Table::alter().table("invitations").drop_column("view_resource_ids").to_owned()).await
    }
}
