//! Audit events: every write records what changed, by whom, through which service, in the same
//! transaction as the change — no event without its change, no change without its event.

use guichet_domain::{AccountId, Event, Timestamp, UserId};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait, Set,
    Statement,
};
use serde::Serialize;

use crate::entities::event;
use crate::paging::Keyset;
use crate::{Page, PageRequest, Store, StoreError, new_id};

/// Who and what a write is made for: recorded on its audit event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Audit {
    /// The person the calling service acts for, when there is one.
    pub actor: Option<UserId>,
    /// The calling service's identity, when known.
    pub service: Option<String>,
    /// The W3C trace id of the call, when there is one.
    pub trace_id: Option<String>,
    /// The client's idempotency key, when given.
    pub request_id: Option<String>,
    /// A fingerprint of the request body: with `request_id`, the write claims the key (see
    /// [`crate::idempotency`]).
    pub fingerprint: Option<String>,
    /// When the write happens.
    pub now: Timestamp,
    /// The store's revision when the write was admitted (its rules checked on what the store held
    /// then): the write commits only if no other write committed since, else it is refused with
    /// `CONCURRENT_CHANGE` and nothing is written, for the caller to admit it again. `None`: no
    /// such condition (a write on a calling service's own authority).
    pub admitted_at: Option<guichet_domain::Revision>,
    /// The revision of a preview (SimulateChanges) of this write: the write commits only if
    /// nothing the preview read in its account's tree changed since, else it is refused with
    /// `CHANGED_SINCE_PREVIEW` (see [`crate::simulate`]). `None`: no such condition.
    pub unchanged_since: Option<guichet_domain::Revision>,
    /// An access request the write approves: recording the write's event also marks it APPROVED,
    /// in the same transaction (see [`crate::access_requests`]).
    pub resolves: Option<crate::access_requests::Resolution>,
}

impl Audit {
    /// A write on the calling service's own authority at `now`, with nothing else known.
    pub fn system(now: Timestamp) -> Self {
        Self {
            actor: None,
            service: None,
            trace_id: None,
            request_id: None,
            fingerprint: None,
            now,
            admitted_at: None,
            unchanged_since: None,
            resolves: None,
        }
    }
}

/// Filters of [`Store::list_events`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    /// The account (required by the API).
    pub account: Option<AccountId>,
    /// Only events made for this actor.
    pub actor: Option<UserId>,
    /// Only these types (any when empty).
    pub types: Vec<String>,
    /// Only events at or after this time.
    pub since: Option<Timestamp>,
    /// Only events before this time.
    pub until: Option<Timestamp>,
}

fn json<T: Serialize>(value: Option<&T>) -> Option<String> {
    value.and_then(|v| serde_json::to_string(v).ok())
}

/// Records one event in the write's transaction.
#[expect(clippy::too_many_arguments, reason = "an event's columns, each a parameter, as every write passes them")]
pub(crate) async fn record<B: Serialize, A: Serialize>(
    store: &Store,
    conn: &impl ConnectionTrait,
    revision: guichet_domain::Revision,
    audit: &Audit,
    account: Option<&str>,
    kind: &str,
    target: &str,
    before: Option<&B>,
    after: Option<&A>,
) -> Result<(), StoreError> {
    record_scoped(store, conn, revision, audit, account, kind, target, before, after, Also::default()).await
}

/// What an event's write knows beyond its columns (see [`record_scoped`]).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Also<'a> {
    /// Scopes the write also touches that its event does not name (accepting an invitation also
    /// creates or claims a user).
    pub(crate) scopes: &'a [String],
    /// The root of the event's account, when the write has read the account's row already: its
    /// tree scope (`crate::changes::tree_scope`) is then not read again.
    pub(crate) root: Option<&'a str>,
    /// Data-modifying statements of the write itself, made with its event: in the event's
    /// statement on PostgreSQL (see [`crate::changes::record`] for what they may touch), just
    /// before it on SQLite.
    pub(crate) writes: &'a [Statement],
}

/// A write in progress — the store, the write's transaction, its revision and audit — which
/// records its events through [`record`], in an account (every write of a contact, a delegation, a
/// resource, a role or an invitation is about one).
pub(crate) struct Write<'a, C> {
    pub(crate) store: &'a Store,
    pub(crate) conn: &'a C,
    pub(crate) revision: guichet_domain::Revision,
    pub(crate) audit: &'a Audit,
}

impl<C: ConnectionTrait> Write<'_, C> {
    /// Records `kind` about `target` in `account`, from `before` to `after`.
    pub(crate) async fn event<B: Serialize, A: Serialize>(
        &self,
        account: &str,
        kind: &str,
        target: &str,
        before: Option<&B>,
        after: Option<&A>,
    ) -> Result<(), StoreError> {
        record(self.store, self.conn, self.revision, self.audit, Some(account), kind, target, before, after).await
    }

    /// [`Write::event`] in the account `row`, already read by the write, made with `writes`, the
    /// write's own statements not yet made (see [`Also::writes`]).
    pub(crate) async fn event_in<B: Serialize, A: Serialize>(
        &self,
        row: &crate::entities::account::Model,
        kind: &str,
        target: &str,
        before: Option<&B>,
        after: Option<&A>,
        writes: &[Statement],
    ) -> Result<(), StoreError> {
        let root = crate::changes::root_of(row);
        let also = Also { scopes: &[], root: Some(root), writes };
        record_scoped(
            self.store,
            self.conn,
            self.revision,
            self.audit,
            Some(&row.id),
            kind,
            target,
            before,
            after,
            also,
        )
        .await
    }

    /// Records the creation `kind` of `row`, `target`, in `account`.
    pub(crate) async fn created<A: Serialize>(
        &self,
        account: &str,
        kind: &str,
        target: &str,
        row: &A,
    ) -> Result<(), StoreError> {
        self.event(account, kind, target, None::<&()>, Some(row)).await
    }

    /// Records the deletion `kind` of `row`, `target`, in `account`.
    pub(crate) async fn deleted<B: Serialize>(
        &self,
        account: &str,
        kind: &str,
        target: &str,
        row: &B,
    ) -> Result<(), StoreError> {
        self.event(account, kind, target, Some(row), None::<&()>).await
    }
}

impl Store {
    /// Records the deletion `kind` of `row`, `target`, in `account`, and commits the write `txn`
    /// at `revision` (as [`Store::begin_write`] opened it): how every delete ends.
    pub(crate) async fn commit_deletion<B: Serialize>(
        &self,
        (txn, revision): (sea_orm::DatabaseTransaction, guichet_domain::Revision),
        audit: &Audit,
        account: &str,
        kind: &str,
        target: &str,
        row: &B,
    ) -> Result<guichet_domain::Revision, StoreError> {
        Write { store: self, conn: &txn, revision, audit }.deleted(account, kind, target, row).await?;
        txn.commit().await?;
        Ok(revision)
    }
}

/// [`record`] for a write that knows more than the event's columns ([`Also`]).
#[expect(clippy::too_many_arguments, reason = "an event's columns and the scopes it also touches")]
pub(crate) async fn record_scoped<B: Serialize, A: Serialize>(
    store: &Store,
    conn: &impl ConnectionTrait,
    revision: guichet_domain::Revision,
    audit: &Audit,
    account: Option<&str>,
    kind: &str,
    target: &str,
    before: Option<&B>,
    after: Option<&A>,
    also: Also<'_>,
) -> Result<(), StoreError> {
    write_event(store, conn, revision, audit, account, kind, target, before, after, also).await?;
    if let Some(resolution) = &audit.resolves {
        crate::access_requests::resolve(store, conn, revision, audit, resolution).await?;
    }
    Ok(())
}

/// [`record_scoped`] without resolving [`Audit::resolves`]: the event alone.
#[expect(clippy::too_many_arguments, reason = "an event's columns and the scopes it also touches")]
pub(crate) async fn write_event<B: Serialize, A: Serialize>(
    store: &Store,
    conn: &impl ConnectionTrait,
    revision: guichet_domain::Revision,
    audit: &Audit,
    account: Option<&str>,
    kind: &str,
    target: &str,
    before: Option<&B>,
    after: Option<&A>,
    also: Also<'_>,
) -> Result<(), StoreError> {
    crate::idempotency::claim(conn, revision, audit).await?;
    let (before_json, after_json) = (json(before), json(after));
    if let Some(since) = audit.unchanged_since {
        let change = crate::simulate::Previewed {
            account,
            kind,
            target,
            before: before_json.as_deref(),
            after: after_json.as_deref(),
        };
        crate::simulate::check_unchanged_since(conn, revision, since, &change).await?;
    }
    let (with, scopes) =
        event_statements(conn, revision, audit, account, kind, target, before_json, after_json, also).await?;
    crate::changes::record(store, conn, revision, &scopes, with).await?;
    Ok(())
}

/// The statements of an event's write not yet made — `also.writes`, then the event's own row (each
/// with its values numbered from `$1`) — and the scopes its change-log rows name. Reads only to
/// find the tree of `account` when `also` does not give its root.
#[expect(clippy::too_many_arguments, reason = "an event's columns and the scopes it also touches")]
pub(crate) async fn event_statements(
    conn: &impl ConnectionTrait,
    revision: guichet_domain::Revision,
    audit: &Audit,
    account: Option<&str>,
    kind: &str,
    target: &str,
    before_json: Option<String>,
    after_json: Option<String>,
    also: Also<'_>,
) -> Result<(Vec<Statement>, Vec<String>), StoreError> {
    let mut scopes = crate::changes::scopes_of(
        conn,
        account,
        also.root,
        kind,
        target,
        before_json.as_deref(),
        after_json.as_deref(),
    )
    .await?;
    let row = event::ActiveModel {
        id: Set(new_id("evt")),
        revision: Set(i64::try_from(revision.value()).unwrap_or(i64::MAX)),
        account_id: Set(account.map(str::to_owned)),
        actor_id: Set(audit.actor.as_ref().map(|a| a.as_str().to_owned())),
        service: Set(audit.service.clone()),
        kind: Set(kind.to_owned()),
        target_id: Set(target.to_owned()),
        before_json: Set(before_json),
        after_json: Set(after_json),
        trace_id: Set(audit.trace_id.clone()),
        request_id: Set(audit.request_id.clone()),
        created_at: Set(audit.now.as_millis()),
    };
    for scope in also.scopes {
        if !scopes.contains(scope) {
            scopes.push(scope.clone());
        }
    }
    // The event and its changes: one statement on PostgreSQL, two on SQLite.
    let mut with: Vec<Statement> = also.writes.to_vec();
    with.push(event::Entity::insert(row).build(conn.get_database_backend()));
    Ok((with, scopes))
}

/// Fields ending in `_id` that name no record.
const NOT_RECORD_IDS: &[&str] = &["trace_id", "request_id"];

/// The ids a change names (see [`Event::touched`]): the target, the account, then, in its before
/// and after objects, every string under `id` or a `…_id` key and every string of a `…_ids` or
/// `restricted_to` list (a list may be stored as JSON text), without repeats.
fn touched(row: &event::Model) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut add = |id: &str| {
        if !id.is_empty() && !out.iter().any(|o| o == id) {
            out.push(id.to_owned());
        }
    };
    add(&row.target_id);
    if let Some(a) = &row.account_id {
        add(a);
    }
    for json in [&row.before_json, &row.after_json].into_iter().flatten() {
        let Ok(serde_json::Value::Object(object)) = serde_json::from_str::<serde_json::Value>(json) else { continue };
        for (key, value) in &object {
            let single = key == "id" || (key.ends_with("_id") && !NOT_RECORD_IDS.contains(&key.as_str()));
            let list = key.ends_with("_ids") || key == "restricted_to";
            match value {
                serde_json::Value::String(id) if single => add(id),
                serde_json::Value::String(text) if list => {
                    if let Ok(ids) = serde_json::from_str::<Vec<String>>(text) {
                        ids.iter().for_each(|id| add(id));
                    }
                }
                serde_json::Value::Array(items) if list => {
                    items.iter().filter_map(serde_json::Value::as_str).for_each(&mut add);
                }
                serde_json::Value::Null
                | serde_json::Value::Bool(_)
                | serde_json::Value::Number(_)
                | serde_json::Value::String(_)
                | serde_json::Value::Array(_)
                | serde_json::Value::Object(_) => {}
            }
        }
    }
    out
}

fn to_event(row: event::Model) -> Event {
    let touched = touched(&row);
    Event {
        touched,
        id: row.id,
        revision: guichet_domain::Revision::new(u64::try_from(row.revision).unwrap_or(0)),
        account: row.account_id.map(AccountId::from_trusted),
        actor: row.actor_id.map(UserId::from_trusted),
        service: row.service,
        kind: row.kind,
        target: row.target_id,
        before: row.before_json,
        after: row.after_json,
        trace_id: row.trace_id,
        request_id: row.request_id,
        created_at: Timestamp::from_millis(row.created_at),
    }
}

/// What [`Store::events_after`] read, in one snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventsAfter {
    /// The latest committed revision.
    pub latest: guichet_domain::Revision,
    /// The oldest cursor the trail can serve without a gap: the revision before the oldest event
    /// kept (every write records at least one event, so nothing after it is missing), or `latest`
    /// when no event is kept.
    pub oldest_cursor: guichet_domain::Revision,
    /// The events after the cursor, in (revision, id) order, whole revisions only: the events of
    /// one write are never split.
    pub events: Vec<Event>,
    /// Whether `events` holds every event after the cursor up to `latest` (else there are more:
    /// read again after the last one).
    pub complete: bool,
}

impl Store {
    /// The audit trail after revision `after` (only `account`'s events, when given): at most
    /// about `limit` events, never part of a revision, read with the latest revision and the
    /// retention horizon in one snapshot (so a revision that commits later is in a later read,
    /// never skipped: writes commit in revision order, see the crate's docs).
    #[tracing::instrument(name = "store.events_after", skip_all, fields(otel.kind = "client", db.system.name = self.backend_name()))]
    pub async fn events_after(
        &self,
        after: guichet_domain::Revision,
        account: Option<&AccountId>,
        limit: u64,
    ) -> Result<EventsAfter, StoreError> {
        let txn = self.begin_read().await?;
        let latest = crate::read_revision(&txn).await?;
        let oldest = event::Entity::find()
            .select_only()
            .column_as(event::Column::Revision.min(), "oldest")
            .into_tuple::<Option<i64>>()
            .one(&txn)
            .await?
            .flatten();
        let oldest_cursor = match oldest {
            Some(r) => guichet_domain::Revision::new(u64::try_from(r.saturating_sub(1)).unwrap_or(0)),
            None => latest,
        };
        let after_i = i64::try_from(after.value()).unwrap_or(i64::MAX);
        let scoped = |cond: Condition| match account {
            Some(a) => cond.add(event::Column::AccountId.eq(a.as_str())),
            None => cond,
        };
        let mut rows = event::Entity::find()
            .filter(scoped(Condition::all().add(event::Column::Revision.gt(after_i))))
            .order_by_asc(event::Column::Revision)
            .order_by_asc(event::Column::Id)
            .limit(limit.max(1) + 1)
            .all(&txn)
            .await?;
        let complete = rows.len() as u64 <= limit.max(1);
        if !complete {
            // The last revision read may be cut: leave it to the next read, or, when it is the
            // only one, read it whole.
            let last = rows.last().map_or(0, |r| r.revision);
            rows.retain(|r| r.revision != last);
            if rows.is_empty() {
                rows = event::Entity::find()
                    .filter(scoped(Condition::all().add(event::Column::Revision.eq(last))))
                    .order_by_asc(event::Column::Id)
                    .all(&txn)
                    .await?;
            }
        }
        txn.commit().await?;
        Ok(EventsAfter { latest, oldest_cursor, events: rows.into_iter().map(to_event).collect(), complete })
    }

    /// Events in the order they were written, filtered.
    pub async fn list_events(&self, filter: &EventFilter, page: &PageRequest) -> Result<Page<Event>, StoreError> {
        let cond = Condition::all()
            .add_option(filter.account.as_ref().map(|a| event::Column::AccountId.eq(a.as_str())))
            .add_option(filter.actor.as_ref().map(|a| event::Column::ActorId.eq(a.as_str())))
            .add_option((!filter.types.is_empty()).then(|| event::Column::Kind.is_in(filter.types.iter().cloned())))
            .add_option(filter.since.map(|t| event::Column::CreatedAt.gte(t.as_millis())))
            .add_option(filter.until.map(|t| event::Column::CreatedAt.lt(t.as_millis())));
        Ok(Keyset::id(event::Column::Id).page(&self.conn(), cond, page).await?.map(to_event))
    }
}
