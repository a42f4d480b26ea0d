//! Recording expiries: the audit event (`membership.expired`, `delegation.expired`) and the change
//! of every grant whose `expires_at` has passed, written once whatever the number of replicas; and
//! the end of every access request still pending at its `expires_at` (`access_request.expired`,
//! its status EXPIRED), by the same conditional update.
//!
//! A grant stops granting at its expiry by itself — the decision compares `expires_at` with the
//! instant it evaluates at, whether or not anything here has run. What this adds is the record:
//! every replica runs [`Store::record_expiries`] periodically, and a conditional
//! `UPDATE … SET expiry_recorded = TRUE WHERE expiry_recorded = FALSE AND expires_at <= now …
//! RETURNING id` inside a write decides which replica writes each event: writes are serialised by
//! the revision row (`begin_write`), and a replica that waited for another's sweep sees its rows
//! already recorded (the update's condition is evaluated on the committed rows), so it writes
//! nothing. Setting a new expiry clears the flag: the next expiry is recorded again.

use guichet_domain::{MembershipId, Revision, Timestamp};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait, QueryFilter, QuerySelect, Statement,
};

use crate::entities::{delegation, membership};
use crate::events::{Audit, Write};
use crate::memberships::{MembershipSnapshot, load_details, membership_row};
use crate::{Store, StoreError};

/// The most grants of each kind one sweep records.
const SWEEP_LIMIT: u32 = 200;

/// What one sweep recorded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expired {
    /// The revision of the sweep's write, when it wrote anything.
    pub revision: Option<Revision>,
    /// The memberships whose expiry it recorded.
    pub memberships: Vec<String>,
    /// The delegations whose expiry it recorded.
    pub delegations: Vec<String>,
    /// The access requests it expired (pending past their `expires_at`).
    pub access_requests: Vec<String>,
}

/// Marks the expired, unrecorded rows of `table` as recorded and returns their ids (at most
/// [`SWEEP_LIMIT`]), in one conditional statement.
async fn claim(txn: &DatabaseTransaction, table: &str, now: Timestamp) -> Result<Vec<String>, StoreError> {
    let backend = txn.get_database_backend();
    let p = if backend == DbBackend::Postgres { "$1" } else { "?" };
    let sql = format!(
        "UPDATE {table} SET expiry_recorded = TRUE WHERE expiry_recorded = FALSE AND id IN (\
         SELECT id FROM {table} WHERE expiry_recorded = FALSE AND expires_at IS NOT NULL AND expires_at <= {p} \
         ORDER BY expires_at, id LIMIT {SWEEP_LIMIT}) RETURNING id"
    );
    let rows = txn.query_all_raw(Statement::from_sql_and_values(backend, sql, [now.as_millis().into()])).await?;
    let mut ids = rows.iter().map(|r| r.try_get::<String>("", "id")).collect::<Result<Vec<_>, _>>()?;
    ids.sort();
    Ok(ids)
}

/// Whether some row of `E` expired at or before `now` without its expiry recorded (`recorded`
/// false, `expires_at` at or before `now`), given `E`'s columns `[id, recorded, expires_at]`.
async fn unrecorded<E: EntityTrait>(
    conn: &impl ConnectionTrait,
    [id, recorded, expires_at]: [E::Column; 3],
    now: Timestamp,
) -> Result<bool, StoreError> {
    let due = E::find()
        .select_only()
        .column(id)
        .filter(recorded.eq(false))
        .filter(expires_at.lte(now.as_millis()))
        .into_tuple::<String>()
        .one(conn)
        .await?;
    Ok(due.is_some())
}

impl Store {
    /// Whether some grant expired at or before `now` without its expiry recorded (one cheap read,
    /// so that an idle sweep writes nothing, not even a revision).
    async fn expiries_due(&self, now: Timestamp) -> Result<bool, StoreError> {
        use delegation::Column as D;
        use membership::Column as M;
        let conn = self.conn();
        if unrecorded::<membership::Entity>(&conn, [M::Id, M::ExpiryRecorded, M::ExpiresAt], now).await?
            || unrecorded::<delegation::Entity>(&conn, [D::Id, D::ExpiryRecorded, D::ExpiresAt], now).await?
        {
            return Ok(true);
        }
        crate::access_requests::expiries_due(&conn, now).await
    }

    /// Records the expiries passed at `now`: for each membership and delegation whose
    /// `expires_at <= now` and whose expiry is not recorded yet, one audit event
    /// (`membership.expired`, `delegation.expired`, on the calling service's own authority) and its
    /// change, in one write. Several replicas may call it at once: each expiry is recorded by
    /// exactly one of them (see the module docs). Writes nothing when nothing is due.
    pub async fn record_expiries(&self, now: Timestamp) -> Result<Expired, StoreError> {
        if !self.expiries_due(now).await? {
            return Ok(Expired::default());
        }
        let (txn, revision) = self.begin_write().await?;
        let audit = Audit::system(now);
        let memberships = claim(&txn, "memberships", now).await?;
        for id in &memberships {
            let row = membership_row(&txn, &MembershipId::from_trusted(id.clone())).await?;
            let details = load_details(&txn, std::slice::from_ref(&row)).await?;
            let snapshot = details.first().map(MembershipSnapshot::from);
            Write { store: self, conn: &txn, revision, audit: &audit }
                .event(&row.account_id, "membership.expired", &row.id, snapshot.as_ref(), snapshot.as_ref())
                .await?;
        }
        let delegations = claim(&txn, "delegations", now).await?;
        for id in &delegations {
            let Some(row) = delegation::Entity::find_by_id(id.clone()).one(&txn).await? else { continue };
            Write { store: self, conn: &txn, revision, audit: &audit }
                .event(&row.to_account_id, "delegation.expired", &row.id, Some(&row), Some(&row))
                .await?;
        }
        let access_requests = crate::access_requests::expire(self, &txn, revision, &audit).await?;
        if memberships.is_empty() && delegations.is_empty() && access_requests.is_empty() {
            // Another replica recorded them first.
            txn.rollback().await?;
            return Ok(Expired::default());
        }
        txn.commit().await?;
        Ok(Expired { revision: Some(revision), memberships, delegations, access_requests })
    }
}
