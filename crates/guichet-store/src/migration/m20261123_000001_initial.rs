//! `m20261123_000001_initial`: a name databases record, so never renamed nor edited once released.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, boolean, integer, string, string_null, text};

use super::{fk, index};

/// The first schema: accounts, users, roles, memberships, resources, delegations, revision.
#[derive(Debug, DeriveMigrationName)]
pub(super) struct Initial;

#[async_trait::async_trait]
impl MigrationTrait for Initial {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("guichet_revision")
                    .col(integer("id").primary_key())
                    .col(big_integer("value"))
                    .to_owned(),
            )
            .await?;
        manager
            .exec_stmt(
                Query::insert()
                    .into_table("guichet_revision")
                    .columns(["id", "value"])
                    .values_panic([1.into(), 0i64.into()])
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("accounts")
                    .col(string("id").primary_key())
                    .col(string("name"))
                    .col(string("kind"))
                    .col(string_null("parent_id"))
                    .col(text("path"))
                    .col(integer("depth"))
                    .col(string("status"))
                    .col(string_null("suspension_reason"))
                    .col(text("modules"))
                    .col(text("settings"))
                    .col(big_integer("created_at"))
                    .col(big_integer("updated_at"))
                    .foreign_key(&mut fk("fk_accounts_parent", ("accounts", "parent_id"), ("accounts", "id")))
                    .to_owned(),
            )
            .await?;
        index(manager, "idx_accounts_parent", "accounts", &["parent_id"]).await?;
        index(manager, "idx_accounts_path", "accounts", &["path"]).await?;
        manager
            .create_table(
                Table::create()
                    .table("users")
                    .col(string("id").primary_key())
                    .col(string("email").unique_key())
                    .col(string("given_name"))
                    .col(string("family_name"))
                    .col(string_null("phone"))
                    .col(string_null("idp_subject"))
                    .col(string("status"))
                    .col(big_integer("created_at"))
                    .col(big_integer("updated_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("roles")
                    .col(string("account_id"))
                    .col(string("name"))
                    .col(string("display_name"))
                    .col(text("description"))
                    .col(text("grants"))
                    .col(text("descendant_grants"))
                    .col(big_integer("created_at"))
                    .col(big_integer("updated_at"))
                    .primary_key(Index::create().col("account_id").col("name"))
                    .foreign_key(&mut fk("fk_roles_account", ("roles", "account_id"), ("accounts", "id")))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("memberships")
                    .col(string("id").primary_key())
                    .col(string("user_id"))
                    .col(string("account_id"))
                    .col(string("status"))
                    .col(boolean("restricted"))
                    .col(string_null("created_by"))
                    .col(string_null("approved_by"))
                    .col(big_integer("created_at"))
                    .col(big_integer("updated_at"))
                    .foreign_key(&mut fk("fk_memberships_user", ("memberships", "user_id"), ("users", "id")))
                    .foreign_key(&mut fk("fk_memberships_account", ("memberships", "account_id"), ("accounts", "id")))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_memberships_user_account")
                    .table("memberships")
                    .col("user_id")
                    .col("account_id")
                    .unique()
                    .to_owned(),
            )
            .await?;
        index(manager, "idx_memberships_account", "memberships", &["account_id", "status"]).await?;
        manager
            .create_table(
                Table::create()
                    .table("membership_roles")
                    .col(string("membership_id"))
                    .col(string("role_name"))
                    .col(string("account_id"))
                    .col(integer("position"))
                    .primary_key(Index::create().col("membership_id").col("role_name"))
                    .foreign_key(&mut fk(
                        "fk_membership_roles_membership",
                        ("membership_roles", "membership_id"),
                        ("memberships", "id"),
                    ))
                    .to_owned(),
            )
            .await?;
        index(manager, "idx_membership_roles_account_role", "membership_roles", &["account_id", "role_name"]).await?;
        manager
            .create_table(
                Table::create()
                    .table("resources")
                    .col(string("id").primary_key())
                    .col(string("account_id"))
                    .col(string("kind"))
                    .col(string("name"))
                    .col(big_integer("created_at"))
                    .foreign_key(&mut fk("fk_resources_account", ("resources", "account_id"), ("accounts", "id")))
                    .to_owned(),
            )
            .await?;
        index(manager, "idx_resources_account", "resources", &["account_id", "kind"]).await?;
        manager
            .create_table(
                Table::create()
                    .table("membership_resources")
                    .col(string("membership_id"))
                    .col(string("resource_id"))
                    .primary_key(Index::create().col("membership_id").col("resource_id"))
                    .foreign_key(&mut fk(
                        "fk_membership_resources_membership",
                        ("membership_resources", "membership_id"),
                        ("memberships", "id"),
                    ))
                    .foreign_key(&mut fk(
                        "fk_membership_resources_resource",
                        ("membership_resources", "resource_id"),
                        ("resources", "id"),
                    ))
                    .to_owned(),
            )
            .await?;
        index(manager, "idx_membership_resources_resource", "membership_resources", &["resource_id"]).await?;
        manager
            .create_table(
                Table::create()
                    .table("delegations")
                    .col(string("id").primary_key())
                    .col(string("from_account_id"))
                    .col(string("to_account_id"))
                    .col(string("role"))
                    .col(string_null("created_by"))
                    .col(big_integer("created_at"))
                    .foreign_key(&mut fk("fk_delegations_from", ("delegations", "from_account_id"), ("accounts", "id")))
                    .foreign_key(&mut fk("fk_delegations_to", ("delegations", "to_account_id"), ("accounts", "id")))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_delegations_from_to")
                    .table("delegations")
                    .col("from_account_id")
                    .col("to_account_id")
                    .unique()
                    .to_owned(),
            )
            .await?;
        index(manager, "idx_delegations_to", "delegations", &["to_account_id"]).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            "delegations",
            "membership_resources",
            "resources",
            "membership_roles",
            "memberships",
            "roles",
            "users",
            "accounts",
            "guichet_revision",
        ] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
