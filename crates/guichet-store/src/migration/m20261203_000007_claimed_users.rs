//! `m20261203_000007_claimed_users`: a name databases record, so never renamed nor edited once released.

use sea_orm_migration::prelude::*;

/// `users.claimed_at`: when the person proved the email. Users already created on a service's own
/// authority (their `user.created` event has no actor; accepting an invitation is one of them) or
/// who accepted an invitation are claimed; the others — created by an administrator for someone
/// else — stay unclaimed until their owner accepts an invitation.
#[derive(Debug, DeriveMigrationName)]
pub(super) struct ClaimedUsers;

#[async_trait::async_trait]
impl MigrationTrait for ClaimedUsers {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("users")
                    .add_column(sea_orm_migration::schema::big_integer_null("claimed_at"))
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        let backend = db.get_database_backend();
        for sql in [
            "UPDATE users SET claimed_at = (SELECT MIN(i.updated_at) FROM invitations i \
             WHERE i.accepted_user_id = users.id AND i.status = 'accepted') \
             WHERE claimed_at IS NULL AND EXISTS (SELECT 1 FROM invitations i \
             WHERE i.accepted_user_id = users.id AND i.status = 'accepted')",
            "UPDATE users SET claimed_at = created_at WHERE claimed_at IS NULL AND EXISTS (SELECT 1 FROM events e \
             WHERE e.kind = 'user.created' AND e.target_id = users.id AND e.actor_id IS NULL)",
        ] {
            db.execute_raw(sea_orm::Statement::from_string(backend, sql)).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.alter_table(Table::alter().table("users").drop_column("claimed_at").to_owned()).await
    }
}
