//! `m20261208_000014_membership_write_lock`: a name databases record, so never renamed nor edited once released.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

/// On PostgreSQL, `guichet_lock_membership(id)`: takes the write lock (bumps the revision) and
/// then reads the membership `id` with its account and its roles, in one round trip. A write of
/// one membership reads it only once it holds the lock — a separate statement would cost a round
/// trip while the lock is held; one plain statement would read from a snapshot taken before the
/// lock was granted (READ COMMITTED takes a statement's snapshot when it starts), missing a write
/// committed while it waited. A PL/pgSQL function is VOLATILE, and each statement in it takes a
/// snapshot of its own: the read, made after the bump returns, sees every write committed before
/// the lock was granted. It answers one row per role (one with no role when there is none), each
/// with the new revision and the membership's and account's rows as JSON; no row when the
/// membership does not exist (the caller then rolls the bump back). SQLite needs none: `BEGIN
/// IMMEDIATE` takes its lock before the first read.
#[derive(Debug, DeriveMigrationName)]
pub(super) struct MembershipWriteLock;

const CREATE: &str = r"
CREATE OR REPLACE FUNCTION guichet_lock_membership(wanted text)
RETURNS TABLE (out_revision bigint, out_membership json, out_account json, out_role text, out_position integer)
LANGUAGE plpgsql VOLATILE AS $fn$
DECLARE
    bumped bigint;
BEGIN
    UPDATE guichet_revision SET value = value + 1 WHERE id = 1 RETURNING value INTO bumped;
    RETURN QUERY
        SELECT bumped, row_to_json(m), row_to_json(a), r.role_name::text, r.position::integer
        FROM memberships m
        JOIN accounts a ON a.id = m.account_id
        LEFT JOIN membership_roles r ON r.membership_id = m.id
        WHERE m.id = wanted;
END
$fn$";

#[async_trait::async_trait]
impl MigrationTrait for MembershipWriteLock {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        manager.get_connection().execute_unprepared(CREATE).await.map(|_| ())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        manager
            .get_connection()
            .execute_unprepared("DROP FUNCTION IF EXISTS guichet_lock_membership(text)")
            .await
            .map(|_| ())
    }
}
