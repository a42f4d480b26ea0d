//! `m20261123_000003_contacts`: a name databases record, so never renamed nor edited once released.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, string, string_null, text};

use super::{fk, index};

/// Contacts and the communication orders of an account.
#[derive(Debug, DeriveMigrationName)]
pub(super) struct Contacts;

#[async_trait::async_trait]
impl MigrationTrait for Contacts {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("contacts")
                    .col(string("id").primary_key())
                    .col(string("account_id"))
                    .col(string("given_name"))
                    .col(string("family_name"))
                    .col(string_null("email"))
                    .col(string_null("phone"))
                    .col(string("title"))
                    .col(text("subscriptions"))
                    .col(text("permissions"))
                    .col(string_null("user_id"))
                    .col(big_integer("created_at"))
                    .col(big_integer("updated_at"))
                    .foreign_key(&mut fk("fk_contacts_account", ("contacts", "account_id"), ("accounts", "id")))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_contacts_user")
                            .from("contacts", "user_id")
                            .to("users", "id")
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        index(manager, "idx_contacts_account_name", "contacts", &["account_id", "family_name", "given_name", "id"])
            .await?;
        index(manager, "idx_contacts_user", "contacts", &["user_id"]).await?;
        manager
            .create_table(
                Table::create()
                    .table("communication_orders")
                    .col(string("account_id"))
                    .col(string("kind"))
                    .col(text("contact_ids"))
                    .col(big_integer("updated_at"))
                    .primary_key(Index::create().col("account_id").col("kind"))
                    .foreign_key(&mut fk(
                        "fk_communication_orders_account",
                        ("communication_orders", "account_id"),
                        ("accounts", "id"),
                    ))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table("communication_orders").to_owned()).await?;
        manager.drop_table(Table::drop().table("contacts").to_owned()).await
    }
}
