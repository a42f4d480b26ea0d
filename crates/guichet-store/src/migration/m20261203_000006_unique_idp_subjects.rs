//! `m20261203_000006_unique_idp_subjects`: a name databases record, so never renamed nor edited once released.

use sea_orm_migration::prelude::*;

/// `users.idp_subject` is unique when set (NULLs may repeat, on SQLite and PostgreSQL alike): one
/// identity-provider subject logs in as one user. A database where two users already share a
/// subject is refused with the subjects to fix, rather than silently rewritten.
#[derive(Debug, DeriveMigrationName)]
pub(super) struct UniqueSubjects;

#[async_trait::async_trait]
impl MigrationTrait for UniqueSubjects {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let shared = db
            .query_all_raw(sea_orm::Statement::from_string(
                db.get_database_backend(),
                "SELECT idp_subject FROM users WHERE idp_subject IS NOT NULL \
                 GROUP BY idp_subject HAVING COUNT(*) > 1 ORDER BY idp_subject LIMIT 10",
            ))
            .await?;
        if !shared.is_empty() {
            let subjects =
                shared.iter().map(|row| row.try_get::<String>("", "idp_subject")).collect::<Result<Vec<_>, _>>()?;
            return Err(DbErr::Migration(format!(
                "users.idp_subject must be unique before this migration: several users share the subjects \
                 {} (the first 10 shown): clear idp_subject on all but one user of each, then start again",
                subjects.join(", ")
            )));
        }
        manager
            .create_index(
                Index::create().name("uq_users_idp_subject").table("users").col("idp_subject").unique().to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_index(Index::drop().name("uq_users_idp_subject").table("users").to_owned()).await
    }
}
