//! `m20261207_000011_access_requests`: a name databases record, so never renamed nor edited once released.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, big_integer_null, string, string_null, text, text_null};

use super::{fk, index};

/// Access requests: a member asks for `permission` (optionally on `resource_id`) in an account.
/// `status` is pending, approved, rejected, expired or cancelled; `approvers` (a JSON list of user
/// ids) are those who could grant it when it was made; `first_approved_by` records the first
/// approval under four-eyes; `decided_by` / `decision_reason` / `decided_at` the end of its life;
/// `applied` (a JSON list) the calls its approval made. Times are milliseconds since the epoch.
/// The indexes serve the account's and the requester's lists (newest first) and the expiry sweep.
#[derive(Debug, DeriveMigrationName)]
pub(super) struct AccessRequests;

#[async_trait::async_trait]
impl MigrationTrait for AccessRequests {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("access_requests")
                    .col(string("id").primary_key())
                    .col(string("account_id"))
                    .col(string("requester_id"))
                    .col(string("permission"))
                    .col(string_null("resource_id"))
                    .col(text("reason"))
                    .col(string("status"))
                    .col(text("approvers"))
                    .col(big_integer("created_at"))
                    .col(big_integer("expires_at"))
                    .col(string_null("first_approved_by"))
                    .col(big_integer_null("first_approved_at"))
                    .col(string_null("decided_by"))
                    .col(text_null("decision_reason"))
                    .col(big_integer_null("decided_at"))
                    .col(text("applied"))
                    .foreign_key(&mut fk(
                        "fk_access_requests_account",
                        ("access_requests", "account_id"),
                        ("accounts", "id"),
                    ))
                    .to_owned(),
            )
            .await?;
        index(manager, "idx_access_requests_account_time", "access_requests", &["account_id", "created_at", "id"])
            .await?;
        index(manager, "idx_access_requests_requester_time", "access_requests", &["requester_id", "created_at", "id"])
            .await?;
        index(manager, "idx_access_requests_status_expiry", "access_requests", &["status", "expires_at"]).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table("access_requests").to_owned()).await
    }
}
