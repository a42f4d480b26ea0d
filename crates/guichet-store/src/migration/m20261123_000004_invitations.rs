//! `m20261123_000004_invitations`: a name databases record, so never renamed nor edited once released.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, boolean, integer, string, string_null, text};

use super::{fk, index};

/// Invitations and every token issued for them (by hash).
#[derive(Debug, DeriveMigrationName)]
pub(super) struct Invitations;

#[async_trait::async_trait]
impl MigrationTrait for Invitations {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("invitations")
                    .col(string("id").primary_key())
                    .col(string("account_id"))
                    .col(string("email"))
                    .col(text("roles"))
                    .col(boolean("restricted"))
                    .col(text("resource_ids"))
                    .col(string("status"))
                    .col(string("token_hash").unique_key())
                    .col(string_null("invited_by"))
                    .col(big_integer("created_at"))
                    .col(big_integer("expires_at"))
                    .col(big_integer("updated_at"))
                    .col(integer("resend_count"))
                    .col(string_null("accepted_user_id"))
                    .col(string_null("membership_id"))
                    .col(string_null("revoked_by"))
                    .col(sea_orm_migration::schema::text_null("revocation_reason"))
                    .foreign_key(&mut fk("fk_invitations_account", ("invitations", "account_id"), ("accounts", "id")))
                    .to_owned(),
            )
            .await?;
        index(manager, "idx_invitations_account_time", "invitations", &["account_id", "created_at", "id"]).await?;
        index(manager, "idx_invitations_account_email", "invitations", &["account_id", "email"]).await?;
        index(manager, "idx_invitations_membership", "invitations", &["membership_id"]).await?;
        manager
            .create_table(
                Table::create()
                    .table("invitation_tokens")
                    .col(string("token_hash").primary_key())
                    .col(string("invitation_id"))
                    .col(big_integer("created_at"))
                    .foreign_key(&mut fk(
                        "fk_invitation_tokens_invitation",
                        ("invitation_tokens", "invitation_id"),
                        ("invitations", "id"),
                    ))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table("invitation_tokens").to_owned()).await?;
        manager.drop_table(Table::drop().table("invitations").to_owned()).await
    }
}
