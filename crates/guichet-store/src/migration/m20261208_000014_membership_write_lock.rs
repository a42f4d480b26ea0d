//! `m20261208_000014_membership_write_lock`: a name databases record, so never renamed nor edited once released.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

/// On PostgreSQL, `guichet_lock_memberships(ids, bump)`: takes the write lock (adds `bump` to the
/// revision: 1 for one write, 0 for a batch that sets it at the end) and then reads the
/// memberships `ids` with their accounts, their users' status and their roles, in one round trip.
/// A write of memberships reads them only once it holds the lock — a separate statement would
/// cost a round trip while the lock is held; one plain statement would read from a snapshot taken
/// before the lock was granted (READ COMMITTED takes a statement's snapshot when it starts),
/// missing a write committed while it waited. A PL/pgSQL function is VOLATILE, and each statement
/// in it takes a snapshot of its own: the read, made after the bump returns, sees every write
/// committed before the lock was granted. It answers one row per role of each membership found
/// (one with no role when it has none), each with the revision after the bump, the membership's
/// id, its row and its account's row as JSON, and its user's status. Its read is planned once per
/// connection (`plan_cache_mode = force_generic_plan`: the plan of `id = ANY(…)` is the same
/// primary-key lookup whatever the ids; PostgreSQL would otherwise plan it again on every call,
/// measured at 0.7–1.0 ms a call against 0.1–0.3 ms). SQLite needs none: `BEGIN IMMEDIATE` takes
/// its lock before the first read.
#[derive(Debug, DeriveMigrationName)]
pub(super) struct MembershipWriteLock;

const CREATE: &str = r"
CREATE OR REPLACE FUNCTION guichet_lock_memberships(wanted text[], bump bigint)
RETURNS TABLE (
    out_revision bigint, out_id text, out_membership json, out_account json, out_user_status text,
    out_role text, out_position integer
)
LANGUAGE plpgsql VOLATILE SET plan_cache_mode = force_generic_plan AS $fn$
DECLARE
    bumped bigint;
BEGIN
    UPDATE guichet_revision SET value = value + bump WHERE id = 1 RETURNING value INTO bumped;
    RETURN QUERY
        SELECT bumped, m.id::text, row_to_json(m), row_to_json(a), u.status::text, r.role_name::text,
               r.position::integer
        FROM memberships m
        JOIN accounts a ON a.id = m.account_id
        LEFT JOIN users u ON u.id = m.user_id
        LEFT JOIN membership_roles r ON r.membership_id = m.id
        WHERE m.id = ANY(wanted);
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
            .execute_unprepared("DROP FUNCTION IF EXISTS guichet_lock_memberships(text[], bigint)")
            .await
            .map(|_| ())
    }
}
