//! Access requests (see `guichet_domain::access_request`): a member's request for a permission,
//! its approvals, rejection, cancellation and expiry. Who may do what is the domain's rule book,
//! decided by the server before it calls here; the store keeps what only a write can: the status
//! read and changed inside the write, the version the decider reviewed, the audit event.
//!
//! **Approval in the change's own write.** The last approval of a request applies a change
//! through the management call that makes it (SetResourceRestriction, AssignRole, ...), whose
//! write is this crate's as for any caller. That write carries an [`Audit::resolves`]: recording
//! its audit event ([`crate::events`]) then also marks the request APPROVED (if it is still
//! PENDING at the version reviewed, else the whole write is refused) and records
//! `access_request.approved`, in the same transaction — no access without its approved request,
//! no approved request without its access.

use guichet_domain::{
    AccessRequestId, AccessRequestRecord, AccessRequestStatus, AccountId, NewAccessRequest, Permission, ResourceId,
    Revision, Timestamp, User, UserId,
};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, Set, Statement,
};

use crate::entities::{access_request, user};
use crate::events::{self, Audit, Write};
use crate::paging::{Direction, Keyset};
use crate::{Page, PageRequest, Store, StoreError, new_id, rows};

/// What an approving write also resolves: the request, the version the approver reviewed, and
/// the calls the approval makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    /// The access request.
    pub request: AccessRequestId,
    /// The version reviewed (`None`: on the calling service's own authority, not checked).
    pub version: Option<String>,
    /// The calls the approval makes, as they are recorded (`Service/Method ...`).
    pub applied: Vec<String>,
}

/// Filters of [`Store::list_access_requests`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccessRequestFilter {
    /// Only this account's.
    pub account: Option<AccountId>,
    /// Only this user's.
    pub requester: Option<UserId>,
    /// Only in this status.
    pub status: Option<AccessRequestStatus>,
}

/// A pending item of an account's approvals list: a membership or an access request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PendingItem {
    /// A pending membership.
    Membership(Box<crate::Approval>),
    /// A pending access request, with its requester.
    Access(Box<AccessRequestRecord>, Box<User>),
}

impl PendingItem {
    fn key(&self) -> (i64, String) {
        match self {
            PendingItem::Membership(a) => (a.membership.created_at.as_millis(), a.membership.id.to_string()),
            PendingItem::Access(r, _) => (r.created_at.as_millis(), r.id.to_string()),
        }
    }
}

fn status(s: &str) -> Result<AccessRequestStatus, StoreError> {
    AccessRequestStatus::parse(s)
        .ok_or_else(|| StoreError::corrupt("access_requests", format!("status {s:?} is not an access request status")))
}

fn ids(json: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(json).map_err(|e| StoreError::corrupt("access_requests", e))
}

pub(crate) fn record(row: &access_request::Model) -> Result<AccessRequestRecord, StoreError> {
    Ok(AccessRequestRecord {
        id: AccessRequestId::from_trusted(row.id.clone()),
        account: AccountId::from_trusted(row.account_id.clone()),
        requester: UserId::from_trusted(row.requester_id.clone()),
        permission: Permission::parse(&row.permission).map_err(|e| StoreError::corrupt("access_requests", e))?,
        resource: row.resource_id.clone().map(ResourceId::from_trusted),
        reason: row.reason.clone(),
        status: status(&row.status)?,
        approvers: ids(&row.approvers)?.into_iter().map(UserId::from_trusted).collect(),
        created_at: Timestamp::from_millis(row.created_at),
        expires_at: Timestamp::from_millis(row.expires_at),
        first_approved_by: row.first_approved_by.clone().map(UserId::from_trusted),
        first_approved_at: row.first_approved_at.map(Timestamp::from_millis),
        decided_by: row.decided_by.clone().map(UserId::from_trusted),
        decision_reason: row.decision_reason.clone(),
        decided_at: row.decided_at.map(Timestamp::from_millis),
        applied: ids(&row.applied)?,
    })
}

async fn row_of(conn: &impl ConnectionTrait, id: &AccessRequestId) -> Result<access_request::Model, StoreError> {
    crate::found::<access_request::Entity>(conn, id.as_str(), "access request", id.as_str()).await
}

/// The row, PENDING at `now` and at `expected` version (when given), read inside the write.
async fn pending_row(
    conn: &impl ConnectionTrait,
    id: &AccessRequestId,
    expected: Option<&str>,
    now: Timestamp,
) -> Result<(access_request::Model, AccessRequestRecord), StoreError> {
    let row = row_of(conn, id).await?;
    let r = record(&row)?;
    if !r.pending_at(now) {
        let st = if r.status == AccessRequestStatus::Pending { AccessRequestStatus::Expired } else { r.status };
        return Err(StoreError::Precondition {
            kind: "REQUEST_NOT_PENDING",
            subject: format!("accessRequests/{id}"),
            description: format!("access request {id} is {st}: only a pending request changes"),
        });
    }
    if let Some(expected) = expected
        && expected != r.version()
    {
        return Err(StoreError::Precondition {
            kind: "STALE_VERSION",
            subject: format!("accessRequests/{id}"),
            description: format!(
                "access request {id} changed since version {expected} was reviewed (it is now at version {}): \
                 review it again",
                r.version()
            ),
        });
    }
    Ok((row, r))
}

/// Marks the request of `resolution` APPROVED by the audit's actor, inside the write that applies
/// its change, and records `access_request.approved` (see the module docs). A write that records
/// several events resolves it once.
pub(crate) async fn resolve(
    store: &Store,
    conn: &impl ConnectionTrait,
    revision: Revision,
    audit: &Audit,
    resolution: &Resolution,
) -> Result<(), StoreError> {
    let row = row_of(conn, &resolution.request).await?;
    if row.status == AccessRequestStatus::Approved.as_str()
        && row.decided_at == Some(audit.now.as_millis())
        && row.decided_by.as_deref() == audit.actor.as_ref().map(UserId::as_str)
    {
        return Ok(());
    }
    let (row, before) = pending_row(conn, &resolution.request, resolution.version.as_deref(), audit.now).await?;
    let mut active: access_request::ActiveModel = row.clone().into();
    active.status = Set(AccessRequestStatus::Approved.as_str().to_owned());
    active.decided_by = Set(audit.actor.as_ref().map(|a| a.as_str().to_owned()));
    active.decided_at = Set(Some(audit.now.as_millis()));
    active.applied =
        Set(serde_json::to_string(&resolution.applied).map_err(|e| StoreError::corrupt("access_requests", e))?);
    let updated = active.update(conn).await?;
    let after = record(&updated)?;
    events::write_event(
        store,
        conn,
        revision,
        audit,
        Some(&row.account_id),
        "access_request.approved",
        &row.id,
        Some(&before),
        Some(&after),
        events::Also::default(),
    )
    .await
}

impl Store {
    /// Records a new PENDING access request by `requester`, with its approvers, expiring at
    /// `expires_at`.
    pub async fn create_access_request(
        &self,
        new: &NewAccessRequest,
        requester: &UserId,
        approvers: &[UserId],
        expires_at: Timestamp,
        audit: &Audit,
    ) -> Result<(AccessRequestRecord, Revision), StoreError> {
        let (txn, revision) = self.begin_claimed(audit).await?;
        crate::roles::account_row(&txn, &new.account).await?;
        let row = access_request::ActiveModel {
            id: Set(new_id("ar")),
            account_id: Set(new.account.to_string()),
            requester_id: Set(requester.to_string()),
            permission: Set(new.permission.to_string()),
            resource_id: Set(new.resource.as_ref().map(ToString::to_string)),
            reason: Set(new.reason.clone()),
            status: Set(AccessRequestStatus::Pending.as_str().to_owned()),
            approvers: Set(serde_json::to_string(&approvers.iter().map(UserId::as_str).collect::<Vec<_>>())
                .map_err(|e| StoreError::corrupt("access_requests", e))?),
            created_at: Set(audit.now.as_millis()),
            expires_at: Set(expires_at.as_millis()),
            first_approved_by: Set(None),
            first_approved_at: Set(None),
            decided_by: Set(None),
            decision_reason: Set(None),
            decided_at: Set(None),
            applied: Set("[]".to_owned()),
        }
        .insert(&txn)
        .await?;
        let r = record(&row)?;
        Write { store: self, conn: &txn, revision, audit }
            .event(&row.account_id, "access_request.created", &row.id, None::<&()>, Some(&r))
            .await?;
        txn.commit().await?;
        Ok((r, revision))
    }

    /// One access request.
    pub async fn get_access_request(&self, id: &AccessRequestId) -> Result<AccessRequestRecord, StoreError> {
        record(&row_of(&self.conn(), id).await?)
    }

    /// Access requests, newest first (by creation time, then id).
    pub async fn list_access_requests(
        &self,
        filter: &AccessRequestFilter,
        page: &PageRequest,
    ) -> Result<Page<AccessRequestRecord>, StoreError> {
        if let Some(a) = &filter.account {
            crate::roles::account_row(&self.conn(), a).await?;
        }
        let cond = Condition::all()
            .add_option(filter.account.as_ref().map(|a| access_request::Column::AccountId.eq(a.as_str())))
            .add_option(filter.requester.as_ref().map(|u| access_request::Column::RequesterId.eq(u.as_str())))
            .add_option(filter.status.map(|s| access_request::Column::Status.eq(s.as_str())));
        let newest_first =
            Keyset::time_then_id(access_request::Column::CreatedAt, access_request::Column::Id, Direction::Descending);
        newest_first.page(&self.conn(), cond, page).await?.try_map(|row| record(&row))
    }

    /// The pending memberships and the access requests pending at `now` of an account, oldest
    /// first (by request time, then id), in one keyset: both lists are paged after the same key
    /// and merged.
    pub async fn list_pending_items(
        &self,
        account: &AccountId,
        now: Timestamp,
        page: &PageRequest,
    ) -> Result<Page<PendingItem>, StoreError> {
        let memberships = self.list_pending_approvals(account, page).await?;
        let cond = Condition::all()
            .add(access_request::Column::AccountId.eq(account.as_str()))
            .add(access_request::Column::Status.eq(AccessRequestStatus::Pending.as_str()))
            .add(access_request::Column::ExpiresAt.gt(now.as_millis()));
        let oldest_first =
            Keyset::time_then_id(access_request::Column::CreatedAt, access_request::Column::Id, Direction::Ascending);
        let requests = oldest_first.page(&self.conn(), cond, page).await?;
        let requesters: std::collections::HashMap<String, user::Model> = user::Entity::find()
            .filter(user::Column::Id.is_in(requests.items.iter().map(|r| r.requester_id.clone())))
            .all(&self.conn())
            .await?
            .into_iter()
            .map(|u| (u.id.clone(), u))
            .collect();
        let more = memberships.next_after.is_some() || requests.next_after.is_some();
        let mut items: Vec<PendingItem> =
            memberships.items.into_iter().map(|a| PendingItem::Membership(Box::new(a))).collect();
        for row in &requests.items {
            let u =
                requesters.get(&row.requester_id).ok_or_else(|| StoreError::corrupt("access_requests", "no user"))?;
            items.push(PendingItem::Access(Box::new(record(row)?), Box::new(rows::user(u)?)));
        }
        items.sort_by_key(PendingItem::key);
        let limit = usize::try_from(page.limit).unwrap_or(usize::MAX);
        let more = more || items.len() > limit;
        items.truncate(limit);
        let next_after =
            if more { items.last().map(|i| i.key()).map(|(t, id)| crate::paging::time_key(t, &id)) } else { None };
        Ok(Page { items, next_after })
    }

    /// Four-eyes: records the first approval of a pending request (at the version reviewed); it
    /// stays PENDING. Records `access_request.first_approved`.
    pub async fn record_first_approval(
        &self,
        id: &AccessRequestId,
        version: Option<&str>,
        audit: &Audit,
    ) -> Result<(AccessRequestRecord, Revision), StoreError> {
        let (txn, revision) = self.begin_claimed(audit).await?;
        let (row, before) = pending_row(&txn, id, version, audit.now).await?;
        if row.first_approved_by.is_some() {
            return Err(StoreError::Precondition {
                kind: "STALE_VERSION",
                subject: format!("accessRequests/{id}"),
                description: format!("access request {id} already has its first approval: review it again"),
            });
        }
        let mut active: access_request::ActiveModel = row.clone().into();
        active.first_approved_by = Set(audit.actor.as_ref().map(|a| a.as_str().to_owned()));
        active.first_approved_at = Set(Some(audit.now.as_millis()));
        let after = record(&active.update(&txn).await?)?;
        Write { store: self, conn: &txn, revision, audit }
            .event(&row.account_id, "access_request.first_approved", &row.id, Some(&before), Some(&after))
            .await?;
        txn.commit().await?;
        Ok((after, revision))
    }

    /// Ends a pending request as REJECTED (by an approver) or CANCELLED (by its requester), with
    /// the reason, at the version reviewed when given.
    pub async fn close_access_request(
        &self,
        id: &AccessRequestId,
        to: AccessRequestStatus,
        reason: Option<&str>,
        version: Option<&str>,
        audit: &Audit,
    ) -> Result<(AccessRequestRecord, Revision), StoreError> {
        let kind = match to {
            AccessRequestStatus::Rejected => "access_request.rejected",
            AccessRequestStatus::Cancelled => "access_request.cancelled",
            AccessRequestStatus::Pending | AccessRequestStatus::Approved | AccessRequestStatus::Expired => {
                return Err(StoreError::corrupt("access_requests", format!("{to} is not closed by a call")));
            }
        };
        let (txn, revision) = self.begin_claimed(audit).await?;
        let (row, before) = pending_row(&txn, id, version, audit.now).await?;
        let mut active: access_request::ActiveModel = row.clone().into();
        active.status = Set(to.as_str().to_owned());
        active.decided_by = Set(audit.actor.as_ref().map(|a| a.as_str().to_owned()));
        active.decision_reason = Set(reason.map(str::to_owned));
        active.decided_at = Set(Some(audit.now.as_millis()));
        let after = record(&active.update(&txn).await?)?;
        events::record(self, &txn, revision, audit, Some(&row.account_id), kind, &row.id, Some(&before), Some(&after))
            .await?;
        txn.commit().await?;
        Ok((after, revision))
    }
}

/// The most access requests one sweep expires.
const SWEEP_LIMIT: u32 = 200;

/// Whether some request is pending past its expiry at `now`.
pub(crate) async fn expiries_due(conn: &impl ConnectionTrait, now: Timestamp) -> Result<bool, StoreError> {
    Ok(access_request::Entity::find()
        .filter(access_request::Column::Status.eq(AccessRequestStatus::Pending.as_str()))
        .filter(access_request::Column::ExpiresAt.lte(now.as_millis()))
        .one(conn)
        .await?
        .is_some())
}

/// Marks the pending requests whose expiry passed at `now` EXPIRED (at most [`SWEEP_LIMIT`]),
/// each with its `access_request.expired` event, inside the sweep's write: a conditional update,
/// so that one replica records each (see `crate::expiry`).
pub(crate) async fn expire(
    store: &Store,
    txn: &sea_orm::DatabaseTransaction,
    revision: Revision,
    audit: &Audit,
) -> Result<Vec<String>, StoreError> {
    let backend = txn.get_database_backend();
    let (p1, p2) = if backend == DbBackend::Postgres { ("$1", "$2") } else { ("?", "?") };
    let now = audit.now.as_millis();
    let sql = format!(
        "UPDATE access_requests SET status = 'expired', decided_at = {p1} WHERE status = 'pending' AND id IN (\
         SELECT id FROM access_requests WHERE status = 'pending' AND expires_at <= {p2} \
         ORDER BY expires_at, id LIMIT {SWEEP_LIMIT}) RETURNING id"
    );
    let rows = txn.query_all_raw(Statement::from_sql_and_values(backend, sql, [now.into(), now.into()])).await?;
    let mut expired = rows.iter().map(|r| r.try_get::<String>("", "id")).collect::<Result<Vec<_>, _>>()?;
    expired.sort();
    for id in &expired {
        let row = row_of(txn, &AccessRequestId::from_trusted(id.clone())).await?;
        let after = record(&row)?;
        let mut before = after.clone();
        before.status = AccessRequestStatus::Pending;
        before.decided_at = None;
        Write { store, conn: txn, revision, audit }
            .event(&row.account_id, "access_request.expired", &row.id, Some(&before), Some(&after))
            .await?;
    }
    Ok(expired)
}
