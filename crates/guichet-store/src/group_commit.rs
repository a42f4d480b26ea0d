//! Group commit of role changes: on PostgreSQL, the changes of memberships' roles that queue for
//! the writer connection are made in one transaction, with one lock and four round trips for all.
//!
//! **Why.** Writes are serialised by the revision lock (see the crate docs), and with one writer
//! connection per replica (the default) a replica's writes queue for that connection. Each write
//! is four round trips (`BEGIN`, the lock with the read, the change with its event, `COMMIT`), and
//! under load a round trip costs several times what it costs idle (each waits for a CPU busy with
//! checks): the queue, not the work, made a write take hundreds of milliseconds when 1% of the
//! calls were writes. A batch makes the writes waiting in the queue pay those round trips once.
//!
//! **How.** A role change that may be batched (below) joins the queue; the first to find no batch
//! running starts one, on a task of its own (a caller that goes away does not cut a batch short).
//! The batch takes the writer connection, then every queued change (at most [`MAX_BATCH`], each
//! membership at most once: a second change of the same one waits for the next batch), and:
//!
//! 1. takes the lock and reads every membership of the batch, with its account, its roles and its
//!    user's status, in one round trip (`guichet_lock_memberships`, bumping nothing yet);
//! 2. decides each change in queue order exactly as a write of its own would (the same
//!    [`RolesEdit::apply`], the same last-administrator guard), each change that writes taking the
//!    next revision;
//! 3. writes all of them — roles, rows, events, change-log rows — and the last revision in one
//!    statement, then commits.
//!
//! **Why it is the same as the writes one after the other.** The changes of a batch touch distinct
//! memberships, and a role change reads nothing another role change writes except the membership it
//! changes: its account and kind, its user's status and its account's custom roles are written by no
//! role change. So each change decides on what it would read were it made alone, in queue order,
//! and each answers with its own revision, event and change-log rows, in that order. The one rule
//! that reads other memberships is the last administrator's: a change that may remove one (it
//! counted and no longer does, [`MemberGuard::keeps`]) is not batched; it is made alone right after
//! the batch commits. Every change of a batch keeps its membership counting if it counted, so the
//! batch cannot lower an account's count of administrators. A change refused (`NOT_FOUND`,
//! `LAST_ROLE`, …) writes nothing and does not stop the others. If the batch's statement fails,
//! nothing of the batch is kept and each change is made alone, answering its own error.
//!
//! **A departure from the design** (§6: "every management call is one transaction"): the calls of a
//! batch share one. Each keeps what that sentence is for — its change, its audit event and its
//! revision are committed together or not at all, and nothing of it is seen before its commit — but
//! the calls of a batch are committed together too: a failed commit fails all of them (each answers
//! `UNAVAILABLE`, as one write whose commit fails does), and a call whose caller went away while it
//! waited in the queue is still made (as one already sent to the database would be).
//!
//! **Not batched**: writes on SQLite (the database is in the process; its writes are not round
//! trips), writes in a staged transaction, and writes whose audit asks more than a plain write: an
//! idempotency key, an admission revision (`CONCURRENT_CHANGE` compares it with the revision
//! before the write: only the batch's first could pass), a preview's revision or an access request
//! to resolve. They take the path of one write.

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;

use guichet_domain::{AccountKind, Membership, MembershipId, Revision};
use sea_orm::{ConnectionTrait, DatabaseTransaction, DbBackend, Statement};
use tokio::sync::oneshot;

use crate::administrators::MemberGuard;
use crate::events::{Also, Audit};
use crate::memberships::{
    Change, Held, KIND_ROLES_CHANGED, Locked, MembershipSnapshot, RolesEdit, load_restrictions, lock_memberships,
    roles_changed,
};
use crate::{Store, StoreError, changes, rows};

/// The most changes one batch makes.
pub(crate) const MAX_BATCH: usize = 64;

/// The queue of role changes waiting for a batch, shared by a store's clones.
#[derive(Debug, Default)]
pub(crate) struct Batches {
    queue: Mutex<Queue>,
}

#[derive(Debug, Default)]
struct Queue {
    waiting: VecDeque<Waiting>,
    /// Whether a batch task runs (it takes what is queued until the queue is empty).
    running: bool,
}

/// A role change waiting in the queue, and where its answer goes.
#[derive(Debug)]
struct Waiting {
    id: MembershipId,
    edit: RolesEdit,
    audit: Audit,
    answer: oneshot::Sender<Answer>,
}

/// What a batch answers a change.
#[derive(Debug)]
enum Answer {
    /// Made (or refused) in the batch.
    Done(Box<Result<(Membership, Revision), StoreError>>),
    /// Not made: to be made alone.
    Alone,
}

impl Batches {
    /// How many changes wait for a batch.
    #[cfg(test)]
    pub(crate) fn queued(&self) -> usize {
        self.queue().waiting.len()
    }

    fn queue(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Store {
    /// Whether a write for `audit` may join a batch (see the module docs).
    fn batchable(&self, audit: &Audit) -> bool {
        self.writer.get_database_backend() == DbBackend::Postgres
            && self.staged.is_none()
            && audit.request_id.is_none()
            && audit.admitted_at.is_none()
            && audit.unchanged_since.is_none()
            && audit.resolves.is_none()
            && tokio::runtime::Handle::try_current().is_ok()
    }

    /// Makes the role change `edit` of membership `id`: in a batch when it may join one, else
    /// alone.
    pub(crate) async fn edit_roles(
        &self,
        id: &MembershipId,
        edit: RolesEdit,
        audit: &Audit,
    ) -> Result<(Membership, Revision), StoreError> {
        if self.batchable(audit) {
            let (answer, answered) = oneshot::channel();
            let start = {
                let mut queue = self.batches.queue();
                queue.waiting.push_back(Waiting { id: id.clone(), edit: edit.clone(), audit: audit.clone(), answer });
                !std::mem::replace(&mut queue.running, true)
            };
            if start {
                let store = self.clone();
                tokio::spawn(async move { store.run_batches().await });
            }
            // Answered `Alone`, or not answered (the batch task panicked before its commit): the
            // change was not made, and is made alone.
            if let Ok(Answer::Done(result)) = answered.await {
                return *result;
            }
        }
        self.change_membership(id, audit, KIND_ROLES_CHANGED, async |txn, held| edit.apply(txn, held).await).await
    }

    /// Makes batches of what is queued until the queue is empty.
    async fn run_batches(self) {
        // Whatever ends this task, nothing stays queued with no batch to take it.
        let _running = Running(&self.batches);
        loop {
            if self.batches.queue().waiting.is_empty() {
                return;
            }
            let txn = match self.begin_unlocked().await {
                Ok(txn) => txn,
                Err(_) => {
                    // No connection: every queued change goes alone, to answer its own error.
                    for waiting in self.batches.queue().waiting.drain(..) {
                        let _ = waiting.answer.send(Answer::Alone);
                    }
                    continue;
                }
            };
            let batch = {
                let mut queue = self.batches.queue();
                let mut seen = HashSet::new();
                let mut batch = Vec::new();
                let mut later = VecDeque::new();
                while let Some(waiting) = queue.waiting.pop_front() {
                    if batch.len() < MAX_BATCH && seen.insert(waiting.id.clone()) {
                        batch.push(waiting);
                    } else {
                        later.push_back(waiting);
                    }
                }
                queue.waiting = later;
                batch
            };
            self.run_batch(txn, batch).await;
        }
    }

    /// One batch on `txn`: every change of `batch` answered.
    async fn run_batch(&self, txn: DatabaseTransaction, batch: Vec<Waiting>) {
        let mut answers: Vec<(oneshot::Sender<Answer>, Answer)> = Vec::with_capacity(batch.len());
        let mut made: Vec<(oneshot::Sender<Answer>, Membership, Revision)> = Vec::new();
        match self.decide(&txn, batch, &mut answers, &mut made).await {
            Ok(()) if made.is_empty() => drop(txn.rollback().await),
            Ok(()) => match txn.commit().await {
                Ok(()) => {
                    for (answer, changed, revision) in made {
                        answers.push((answer, Answer::Done(Box::new(Ok((changed, revision))))));
                    }
                }
                Err(e) => {
                    // The commit's outcome is not known: answered as a write alone would be.
                    let message = StoreError::from(e).to_string();
                    for (answer, _, _) in made {
                        answers.push((answer, Answer::Done(Box::new(Err(StoreError::Unavailable(message.clone()))))));
                    }
                }
            },
            Err(rest) => {
                // Nothing of the batch is kept (the transaction is dropped): each change alone.
                drop(txn);
                answers.extend(rest.into_iter().map(|answer| (answer, Answer::Alone)));
                answers.extend(made.into_iter().map(|(answer, _, _)| (answer, Answer::Alone)));
            }
        }
        for (answer, result) in answers {
            let _ = answer.send(result);
        }
    }

    /// Steps 1 to 3 of the module docs on `txn`, without the commit. Changes refused, or to be
    /// made alone, are added to `answers`; changes written to `made`. On an error of the store, the
    /// changes not yet answered are given back (the caller answers every change `Alone`).
    async fn decide(
        &self,
        txn: &DatabaseTransaction,
        batch: Vec<Waiting>,
        answers: &mut Vec<(oneshot::Sender<Answer>, Answer)>,
        made: &mut Vec<(oneshot::Sender<Answer>, Membership, Revision)>,
    ) -> Result<(), Vec<oneshot::Sender<Answer>>> {
        let ids: Vec<&str> = batch.iter().map(|w| w.id.as_str()).collect();
        let bumped = std::time::Instant::now();
        let read = lock_memberships(txn, &ids, 0).await;
        self.locked(bumped);
        let Ok((base, mut found)) = read else {
            return Err(batch.into_iter().map(|w| w.answer).collect());
        };
        let rows_: Vec<_> = found.values().map(|l| l.row.clone()).collect();
        let Ok(mut restrictions) = load_restrictions(txn, &rows_).await else {
            return Err(batch.into_iter().map(|w| w.answer).collect());
        };
        let mut next = base.map_or(0, Revision::value);
        let mut statements: Vec<Statement> = Vec::new();
        let mut logged: Vec<(Revision, Vec<String>)> = Vec::new();
        let mut pending = batch.into_iter();
        while let Some(waiting) = pending.next() {
            let Some(locked) = found.remove(waiting.id.as_str()) else {
                let missing = StoreError::not_found("membership", waiting.id.as_str());
                answers.push((waiting.answer, Answer::Done(Box::new(Err(missing)))));
                continue;
            };
            let restriction = restrictions.remove(&locked.row.id);
            let revision = Revision::new(next + 1);
            match self.prepare(txn, revision, &waiting, locked, restriction).await {
                Ok(Prepared::Write { changed, writes, scopes }) => {
                    next += 1;
                    statements.extend(writes);
                    statements.push(changes::log_statement(DbBackend::Postgres, revision, &scopes));
                    logged.push((revision, scopes));
                    made.push((waiting.answer, changed, revision));
                }
                Ok(Prepared::Unchanged(current)) => {
                    let at = base.unwrap_or(revision);
                    answers.push((waiting.answer, Answer::Done(Box::new(Ok((current, at))))));
                }
                Ok(Prepared::Alone) => answers.push((waiting.answer, Answer::Alone)),
                Err(e) if is_refusal(&e) => answers.push((waiting.answer, Answer::Done(Box::new(Err(e))))),
                Err(_) => {
                    let mut rest: Vec<_> = made.drain(..).map(|(answer, _, _)| answer).collect();
                    rest.push(waiting.answer);
                    rest.extend(pending.map(|w| w.answer));
                    return Err(rest);
                }
            }
        }
        if statements.is_empty() {
            return Ok(());
        }
        // The revision of the batch's last change: the lock's row, touched by nothing else.
        statements.push(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "UPDATE guichet_revision SET value = $1 WHERE id = 1",
            [i64::try_from(next).unwrap_or(i64::MAX).into()],
        ));
        let mut written = txn.execute_raw(changes::one_statement(statements)).await.is_ok();
        for (revision, scopes) in &logged {
            written = written && changes::recorded(self, txn, *revision, scopes).await.is_ok();
        }
        if written { Ok(()) } else { Err(made.drain(..).map(|(answer, _, _)| answer).collect()) }
    }

    /// One change of a batch, decided on what the batch read under the lock, at `revision`.
    async fn prepare(
        &self,
        txn: &DatabaseTransaction,
        revision: Revision,
        waiting: &Waiting,
        locked: Locked,
        restriction: Option<guichet_domain::Restriction>,
    ) -> Result<Prepared, StoreError> {
        let Locked { row, account, roles, user_active } = locked;
        let current = rows::membership(&row, roles, restriction)?;
        let kind = AccountKind::from_trusted(account.kind.clone());
        let mut guard = MemberGuard::before(txn, &self.catalog, kind.clone(), &current, user_active).await?;
        let held = Held { row: &row, current: &current, account: &account, kind: &kind, catalog: &self.catalog };
        let roles = match waiting.edit.apply(txn, held).await? {
            Change::Unchanged => return Ok(Prepared::Unchanged(current)),
            Change::Roles(roles) => roles,
            Change::Changed => return Ok(Prepared::Alone),
        };
        let (changed, writes) = roles_changed(DbBackend::Postgres, &row, roles, &current, &waiting.audit)?;
        if !guard.keeps(txn, &self.catalog, &changed).await? {
            return Ok(Prepared::Alone);
        }
        let before = serde_json::to_string(&MembershipSnapshot::from(&current)).ok();
        let after = serde_json::to_string(&MembershipSnapshot::from(&changed)).ok();
        let root = changes::root_of(&account);
        let also = Also { scopes: &[], root: Some(root), writes: &writes };
        let (writes, scopes) = crate::events::event_statements(
            txn,
            revision,
            &waiting.audit,
            Some(&account.id),
            KIND_ROLES_CHANGED,
            &row.id,
            before,
            after,
            also,
        )
        .await?;
        Ok(Prepared::Write { changed, writes, scopes })
    }
}

/// A change of a batch, decided.
enum Prepared {
    /// It writes: its statements (roles, row, event) and its change log's scopes.
    Write { changed: Membership, writes: Vec<Statement>, scopes: Vec<String> },
    /// It changes nothing: the membership as read.
    Unchanged(Membership),
    /// It is to be made alone (it may remove the account's last administrator).
    Alone,
}

/// Marks the batch task ended when dropped, and sends every change still queued alone.
struct Running<'a>(&'a Batches);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        let mut queue = self.0.queue();
        queue.running = false;
        for waiting in queue.waiting.drain(..) {
            let _ = waiting.answer.send(Answer::Alone);
        }
    }
}

/// Whether `e` is a change's own answer (it is refused) rather than an error of the store, which
/// fails the batch.
fn is_refusal(e: &StoreError) -> bool {
    matches!(
        e,
        StoreError::NotFound { .. }
            | StoreError::AlreadyExists { .. }
            | StoreError::Invalid(_)
            | StoreError::Precondition { .. }
    )
}
