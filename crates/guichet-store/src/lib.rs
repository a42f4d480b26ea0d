//! guichet's persistence: sea-orm entities and migrations, one transaction per write, and the
//! revision counter.
//!
//! The store owns the tables and the queries. It runs the same migrations on SQLite (the embedded
//! default, a file) and PostgreSQL (production). It resolves role names into roles with the catalog
//! and loads the [`Facts`](guichet_domain::Facts) a decision needs in a bounded number of queries,
//! whatever the depth of the account tree: accounts keep a materialised path (`root/…/self`), so
//! the ancestors of an account are one `WHERE id IN (…)` and its descendants one `LIKE 'path/%'`.
//!
//! **Writes.** Every write is one transaction whose first statement bumps the single-row revision
//! counter. That statement takes the write lock at once (a row lock on PostgreSQL, `BEGIN
//! IMMEDIATE` on SQLite), so writes are serialised: an invariant checked inside the transaction
//! (such as "the account keeps an active administrator") cannot be broken by a concurrent write on
//! another replica, and every committed write has its own revision. A write of one membership on
//! PostgreSQL takes the lock and reads the membership in one round trip
//! (`guichet_lock_memberships`, see `memberships.rs`), and changes of roles that queue together
//! are made in one transaction, each with its own revision (`group_commit`).
//!
//! Write transactions take their connection from a pool of their own, the *writer pool*
//! ([`StoreOptions::writer_connections`], one connection by default): a write never waits behind
//! the checks' reads for a connection, and the writes of one replica queue in the process for that
//! connection instead of each holding a connection of the shared pool while it waits for the
//! revision row. What a write costs is reported to an [`Observer`] ([`Store::set_observer`]) as
//! [`WriteTiming`]s: the wait for a connection, for the revision lock, how long the lock was held
//! and the whole transaction.
//!
//! **Reads** for a decision run in one read-only transaction (repeatable read on PostgreSQL, a
//! snapshot on SQLite), so the facts and the revision they are reported at agree.
//!
//! This crate must not depend on tonic, prost or redis: it knows nothing of the API or the caches.

pub mod access_requests;
mod accounts;
mod administrators;
mod approvals;
pub mod bulk;
pub mod changes;
mod contacts;
mod delegations;
pub mod entities;
mod error;
mod events;
mod expiry;
mod facts;
mod group_commit;
pub mod idempotency;
mod invitations;
mod lookups;
mod memberships;
mod migration;
mod paging;
mod resources;
mod roles;
mod rows;
pub mod simulate;
pub mod suggestions;
mod users;

use std::collections::VecDeque;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use guichet_domain::{Catalog, Revision};
use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    AccessMode, ColumnTrait, Condition, ConnectOptions, ConnectionTrait, Database, DatabaseConnection,
    DatabaseTransaction, DbBackend, EntityTrait, IsolationLevel, PrimaryKeyTrait, QueryFilter, SqliteTransactionMode,
    Statement, TransactionOptions, TransactionTrait,
};
use sea_orm_migration::MigratorTrait;

pub use access_requests::{AccessRequestFilter, PendingItem, Resolution};
pub use accounts::{AccountFilter, MAX_DEPTH};
pub use approvals::Approval;
pub use error::StoreError;
pub use events::{Audit, EventFilter, EventsAfter};
pub use expiry::Expired;
pub use invitations::{AcceptProfile, Accepted, CreatedInvitation, InvitationFilter};
pub use lookups::{LOOKUP_CHUNK, Lookup};
pub use memberships::{MAX_MEMBERSHIP_ROLES, MembershipFilter};
pub use migration::Migrator;
pub use users::UserChanges;

/// A page request: at most `limit` items whose sort key is after `after`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageRequest {
    /// The sort key of the last item of the previous page.
    pub after: Option<String>,
    /// How many items at most (1..=1000).
    pub limit: u64,
}

/// One page of results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// The sort key to continue after, when there may be more.
    pub next_after: Option<String>,
}

impl<T> Page<T> {
    /// Builds a page from up to `limit + 1` items fetched in key order.
    pub(crate) fn from_overfetch(mut items: Vec<T>, limit: u64, key: impl Fn(&T) -> String) -> Self {
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        if items.len() > limit {
            items.truncate(limit);
            let next_after = items.last().map(key);
            Self { items, next_after }
        } else {
            Self { items, next_after: None }
        }
    }
}

/// How to open the store.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// `sqlite://path/to/file.db`, `sqlite::memory:`, or `postgres://…`.
    pub url: String,
    /// Pool size.
    pub max_connections: u32,
    /// How long to wait for a connection before answering `UNAVAILABLE`.
    pub acquire_timeout: Duration,
    /// The writer pool's size: write transactions take their connection from it, never from the
    /// pool the reads share. 0 makes writes share the reads' pool. Writes are serialised by the
    /// revision row whatever the size: one connection (the default) makes a replica's writes queue
    /// in the process, in order, rather than each holding a connection while it waits for the row.
    /// An in-memory SQLite database always shares its single connection.
    pub writer_connections: u32,
}

impl StoreOptions {
    /// Options with the defaults for `url`.
    pub fn new(url: impl Into<String>) -> Self {
        Self { url: url.into(), max_connections: 16, acquire_timeout: Duration::from_secs(5), writer_connections: 1 }
    }
}

/// One phase of a write transaction, as measured by the store (see [`Store::set_observer`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WritePhase {
    /// Getting a connection from the writer pool (the wait for a free one, or to open one) and
    /// sending `BEGIN`.
    Acquire,
    /// The revision bump: the statement that takes the revision lock, waiting for the write that
    /// holds it (on any replica) to end.
    LockWait,
    /// Holding the revision lock: from the end of the bump to the connection's return to the
    /// writer pool, after the commit or the rollback (measured when the writer pool is a pool of
    /// its own).
    Locked,
    /// The whole transaction: from the request for a connection to its return to the writer pool.
    Transaction,
}

impl WritePhase {
    /// Every phase.
    pub const ALL: [WritePhase; 4] =
        [WritePhase::Acquire, WritePhase::LockWait, WritePhase::Locked, WritePhase::Transaction];

    /// Its name, as a metric label: `acquire`, `lock_wait`, `locked`, `transaction`.
    pub const fn label(self) -> &'static str {
        match self {
            WritePhase::Acquire => "acquire",
            WritePhase::LockWait => "lock_wait",
            WritePhase::Locked => "locked",
            WritePhase::Transaction => "transaction",
        }
    }
}

/// What the store measured of one phase of one write.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WriteTiming {
    /// The phase.
    pub phase: WritePhase,
    /// How long it took, in seconds.
    pub seconds: f64,
}

/// Told about every [`WriteTiming`] as it is measured (the server turns them into metrics).
pub type Observer = Arc<dyn Fn(WriteTiming) + Send + Sync>;

/// What [`Store::begin_write`], the revision bump and the writer pool's release hook share to time
/// a write. The writes in progress are kept in the order they began: with the writer pool's one
/// connection (the default) the write a release ends is the oldest one, exactly; with more, a
/// release is attributed to the oldest write in progress, an approximation.
#[derive(Default)]
struct WriteMeter {
    /// The writes in progress: when each asked for its connection, and when it took the lock.
    open: Mutex<VecDeque<(Instant, Option<Instant>)>>,
    /// Where the timings go.
    observer: OnceLock<Observer>,
    /// Whether the writer pool is a pool of its own: when it shares the reads' pool a
    /// connection's return does not end a write, and the lock and the transaction are not timed.
    own_pool: AtomicBool,
    /// The writer pool's size: at most this many writes are in progress (a connection closed
    /// rather than returned leaves an entry behind, dropped when the next write begins).
    capacity: std::sync::atomic::AtomicUsize,
}

impl std::fmt::Debug for WriteMeter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteMeter").field("own_pool", &self.own_pool.load(Ordering::Relaxed)).finish()
    }
}

impl WriteMeter {
    fn observe(&self, phase: WritePhase, since: Instant) {
        if let Some(observer) = self.observer.get() {
            observer(WriteTiming { phase, seconds: since.elapsed().as_secs_f64() });
        }
    }

    fn open(&self) -> std::sync::MutexGuard<'_, VecDeque<(Instant, Option<Instant>)>> {
        self.open.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A write asked for its connection at `at` and began.
    fn began(&self, at: Instant) {
        self.observe(WritePhase::Acquire, at);
        if self.own_pool.load(Ordering::Relaxed) {
            let mut open = self.open();
            while open.len() >= self.capacity.load(Ordering::Relaxed).max(1) {
                open.pop_front();
            }
            open.push_back((at, None));
        }
    }

    /// A write's bump, started at `at`, returned: it holds the revision lock.
    fn locked(&self, at: Instant) {
        self.observe(WritePhase::LockWait, at);
        let now = Instant::now();
        if let Some(write) = self.open().iter_mut().find(|(_, locked)| locked.is_none()) {
            write.1 = Some(now);
        }
    }

    /// A connection of the writer pool went back to it: the oldest write in progress ended.
    fn released(&self) {
        let ended = self.open().pop_front();
        if let Some((began, locked)) = ended {
            if let Some(locked) = locked {
                self.observe(WritePhase::Locked, locked);
            }
            self.observe(WritePhase::Transaction, began);
        }
    }
}

/// How long [`Store::probe`] waits to reach the database.
pub const PROBE_TIMEOUT: Duration = Duration::from_millis(500);

/// The store: a connection pool and the catalog roles are resolved with.
#[derive(Debug, Clone)]
pub struct Store {
    db: DatabaseConnection,
    catalog: Arc<Catalog>,
    listener: changes::ListenerSlot,
    /// Set by [`Store::count_statements`]: also counts the statements sent through sqlx directly,
    /// which sea-orm's metric callback does not see.
    statements: Option<Arc<std::sync::atomic::AtomicU64>>,
    /// A pool of one connection of its own for [`Store::probe`] (none for an in-memory SQLite
    /// database, where a second pool would be another database).
    probe: Option<DatabaseConnection>,
    /// The writer pool (the reads' pool when shared, see [`StoreOptions::writer_connections`]).
    writer: DatabaseConnection,
    /// What times the writes.
    meter: Arc<WriteMeter>,
    /// A write transaction every read and write of this store runs in (see [`Store::staged`]):
    /// each write is a savepoint of it, and nothing is committed until [`Store::commit_staged`].
    staged: Option<Arc<DatabaseTransaction>>,
    /// The role changes waiting for a batch (see `group_commit`).
    batches: Arc<group_commit::Batches>,
}

impl Store {
    /// Opens the store. A SQLite file (and its folder) is created when missing, in WAL mode.
    pub async fn connect(options: &StoreOptions, catalog: Arc<Catalog>) -> Result<Self, StoreError> {
        let mut opts = ConnectOptions::new(options.url.clone());
        opts.max_connections(options.max_connections)
            .min_connections(0)
            .acquire_timeout(options.acquire_timeout)
            .connect_timeout(options.acquire_timeout)
            // The pool pings a connection before lending it only when it sat idle for a second:
            // the default pings on every acquire, a round trip more on each store call — the
            // fence query every few milliseconds and every check that misses the caches. A
            // connection that broke meanwhile fails its call with UNAVAILABLE and is replaced.
            .test_before_acquire_if_idle_for(Duration::from_secs(1))
            .sqlx_logging(false);
        if options.url.starts_with("sqlite:") {
            if let Some(parent) = sqlite_file(&options.url).and_then(|p| p.parent().map(Path::to_path_buf))
                && !parent.as_os_str().is_empty()
            {
                std::fs::create_dir_all(&parent)
                    .map_err(|e| StoreError::Unavailable(format!("cannot create {}: {e}", parent.display())))?;
            }
            let in_memory = options.url.contains(":memory:") || options.url.contains("mode=memory");
            if in_memory {
                // One in-memory database per connection: keep a single one.
                opts.max_connections(1);
            }
            opts.map_sqlx_sqlite_opts(move |o: SqliteConnectOptions| {
                let o = o.create_if_missing(true).busy_timeout(Duration::from_secs(10)).foreign_keys(true);
                if in_memory {
                    o
                } else {
                    o.journal_mode(SqliteJournalMode::Wal).synchronous(SqliteSynchronous::Normal)
                }
            });
        }
        let in_memory = options.url.contains(":memory:") || options.url.contains("mode=memory");
        // The probe's pool: one connection, lazily opened, never pinged before use (a query on a
        // broken connection fails at once), with a short bound of its own on reaching the server —
        // the main pool's acquire timeout is what the probe must not wait.
        let mut probe_opts = opts.clone();
        probe_opts
            .max_connections(1)
            .min_connections(0)
            .acquire_timeout(PROBE_TIMEOUT)
            .connect_timeout(PROBE_TIMEOUT)
            .test_before_acquire(false)
            .connect_lazy(true);
        let meter = Arc::new(WriteMeter::default());
        let writer_opts = (!in_memory && options.writer_connections > 0).then(|| {
            meter.own_pool.store(true, Ordering::Relaxed);
            meter.capacity.store(usize::try_from(options.writer_connections).unwrap_or(1), Ordering::Relaxed);
            let mut writer_opts = opts.clone();
            // A write pings its connection before using it, however briefly it sat idle: the
            // writer pool holds few connections, all broken at once when the database restarts,
            // and a write is worth a round trip more where the first after a restart must not
            // fail on a dead connection (reads only replace theirs as they fail, see above).
            writer_opts
                .max_connections(options.writer_connections)
                .min_connections(0)
                .test_before_acquire_if_idle_for(Duration::ZERO);
            let (pg, lite) = (meter.clone(), meter.clone());
            writer_opts.map_sqlx_postgres_pool_opts(move |o| {
                let meter = pg.clone();
                o.after_release(move |_, _| {
                    meter.released();
                    Box::pin(async { Ok(true) })
                })
            });
            writer_opts.map_sqlx_sqlite_pool_opts(move |o| {
                let meter = lite.clone();
                o.after_release(move |_, _| {
                    meter.released();
                    Box::pin(async { Ok(true) })
                })
            });
            writer_opts
        });
        let db = Database::connect(opts).await.map_err(StoreError::from)?;
        let probe = if in_memory { None } else { Some(Database::connect(probe_opts).await.map_err(StoreError::from)?) };
        let writer = match writer_opts {
            Some(writer_opts) => Database::connect(writer_opts).await.map_err(StoreError::from)?,
            None => db.clone(),
        };
        Ok(Self {
            db,
            catalog,
            listener: changes::ListenerSlot::default(),
            statements: None,
            probe,
            writer,
            meter,
            staged: None,
            batches: Arc::default(),
        })
    }

    /// Installs the function told about every [`WriteTiming`] the store measures. Only the first
    /// call has an effect.
    pub fn set_observer(&self, observer: Observer) {
        let _ = self.meter.observer.set(observer);
    }

    /// Applies every pending migration.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        Migrator::up(&self.db, None).await.map_err(StoreError::from)
    }

    /// Whether every migration is applied.
    pub async fn is_migrated(&self) -> Result<bool, StoreError> {
        let pending = Migrator::get_pending_migrations(&self.db).await.map_err(StoreError::from)?;
        Ok(pending.is_empty())
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.db.ping().await.map_err(StoreError::from)
    }

    /// Whether the database answers, through a connection of its own (not the pool's, which may be
    /// busy or waiting for the server): reaching the server takes at most [`PROBE_TIMEOUT`]; the
    /// caller bounds the whole call.
    pub async fn probe(&self) -> Result<(), StoreError> {
        let conn = self.probe.as_ref().unwrap_or(&self.db);
        conn.execute_unprepared("SELECT 1").await.map(|_| ()).map_err(StoreError::from)
    }

    /// The OpenTelemetry name of the database system (`postgresql`, `sqlite`), for spans.
    pub fn backend_name(&self) -> &'static str {
        match self.db.get_database_backend() {
            DbBackend::Postgres => "postgresql",
            DbBackend::Sqlite => "sqlite",
            DbBackend::MySql | _ => "other_sql",
        }
    }

    /// The database pool's usage: (open connections, idle connections, maximum).
    pub fn pool_usage(&self) -> (u32, usize, u32) {
        match self.db.get_database_backend() {
            sea_orm::DbBackend::Postgres => {
                let pool = self.db.get_postgres_connection_pool();
                (pool.size(), pool.num_idle(), pool.options().get_max_connections())
            }
            sea_orm::DbBackend::Sqlite => {
                let pool = self.db.get_sqlite_connection_pool();
                (pool.size(), pool.num_idle(), pool.options().get_max_connections())
            }
            sea_orm::DbBackend::MySql | _ => (0, 0, 0),
        }
    }

    /// Counts every statement sent to the database from now on (for metrics and for tests that
    /// check a read takes a bounded number of queries).
    pub fn count_statements(&mut self) -> Arc<std::sync::atomic::AtomicU64> {
        let counter = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let c = counter.clone();
        self.db.set_metric_callback(move |_| {
            c.fetch_add(1, Ordering::Relaxed);
        });
        if self.meter.own_pool.load(Ordering::Relaxed) {
            let c = counter.clone();
            self.writer.set_metric_callback(move |_| {
                c.fetch_add(1, Ordering::Relaxed);
            });
        }
        self.statements = Some(counter.clone());
        counter
    }

    /// The catalog roles are resolved with.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// Whether the store holds no account yet.
    pub async fn is_empty(&self) -> Result<bool, StoreError> {
        use sea_orm::PaginatorTrait;
        Ok(entities::account::Entity::find().count(&self.conn()).await? == 0)
    }

    /// The latest committed revision.
    pub async fn revision(&self) -> Result<Revision, StoreError> {
        read_revision(&self.conn()).await
    }

    /// Closes the pools.
    pub async fn close(self) -> Result<(), StoreError> {
        if self.meter.own_pool.load(Ordering::Relaxed) {
            self.writer.clone().close().await.map_err(StoreError::from)?;
        }
        self.db.close().await.map_err(StoreError::from)
    }

    /// The connection reads go through: the pool, or the staged transaction (see
    /// [`Store::staged`]).
    pub(crate) fn conn(&self) -> sea_orm::DatabaseExecutor<'_> {
        match &self.staged {
            Some(txn) => sea_orm::DatabaseExecutor::Transaction(txn),
            None => sea_orm::DatabaseExecutor::Connection(&self.db),
        }
    }

    /// Whether this store runs in a staged transaction (see [`Store::staged`]).
    pub fn is_staged(&self) -> bool {
        self.staged.is_some()
    }

    /// A store whose reads and writes all run in one write transaction, begun now with the write
    /// lock (no other write commits until it ends): each write is a savepoint of it — with its
    /// own revision, event and changes, as ever — and sees the writes before it; nothing is
    /// visible to others, or kept, until [`Store::commit_staged`]. Dropped without it, every
    /// write is rolled back. Several writes that must all be made or none (an approval's changes)
    /// run on it. Its clones share the transaction.
    pub async fn staged(&self) -> Result<Store, StoreError> {
        if self.staged.is_some() {
            return Ok(self.clone());
        }
        let backend = self.writer.get_database_backend();
        let sqlite = backend == DbBackend::Sqlite;
        let txn = self
            .writer
            .begin_with_options(TransactionOptions {
                isolation_level: None,
                access_mode: None,
                sqlite_transaction_mode: sqlite.then_some(SqliteTransactionMode::Immediate),
            })
            .await?;
        if backend == DbBackend::Postgres {
            // The write lock every write takes, taken now: nothing commits between the reads
            // that admit the staged writes and their commit.
            txn.execute_unprepared("SELECT value FROM guichet_revision WHERE id = 1 FOR UPDATE").await?;
        }
        Ok(Store { staged: Some(Arc::new(txn)), ..self.clone() })
    }

    /// Commits the transaction of a [`Store::staged`] store (its last clone).
    pub async fn commit_staged(self) -> Result<(), StoreError> {
        let Some(txn) = self.staged else { return Ok(()) };
        let txn = Arc::try_unwrap(txn)
            .map_err(|_| StoreError::Unavailable("a staged transaction is still in use".to_owned()))?;
        txn.commit().await?;
        Ok(())
    }

    /// [`Store::begin_write`] for a write made for `audit`, its idempotency key claimed first
    /// (see [`crate::idempotency`]).
    pub(crate) async fn begin_claimed(&self, audit: &Audit) -> Result<(DatabaseTransaction, Revision), StoreError> {
        let (txn, revision) = self.begin_write().await?;
        crate::idempotency::claim(&txn, revision, audit).await?;
        Ok((txn, revision))
    }

    /// Starts a write: a transaction on the writer pool holding the write lock, with the revision
    /// already bumped (on SQLite `BEGIN IMMEDIATE` takes the database's write lock first).
    pub(crate) async fn begin_write(&self) -> Result<(DatabaseTransaction, Revision), StoreError> {
        let txn = self.begin_unlocked().await?;
        let backend = txn.get_database_backend();
        let bumped = Instant::now();
        let row = txn
            .query_one_raw(Statement::from_string(
                backend,
                "UPDATE guichet_revision SET value = value + 1 WHERE id = 1 RETURNING value",
            ))
            .await?;
        self.meter.locked(bumped);
        let row = row.ok_or_else(|| StoreError::corrupt("guichet_revision", "the revision row is missing"))?;
        let value: i64 = row.try_get("", "value")?;
        let revision = Revision::new(u64::try_from(value).map_err(|e| StoreError::corrupt("guichet_revision", e))?);
        Ok((txn, revision))
    }

    /// Starts a write's transaction on the writer pool without taking the write lock on
    /// PostgreSQL: the caller's first statement bumps the revision (see [`Store::begin_write`]);
    /// on SQLite `BEGIN IMMEDIATE` holds the database's write lock already. The caller reports
    /// its bump with [`Store::locked`].
    pub(crate) async fn begin_unlocked(&self) -> Result<DatabaseTransaction, StoreError> {
        let sqlite = self.writer.get_database_backend() == DbBackend::Sqlite;
        let asked = Instant::now();
        let txn = match &self.staged {
            // A savepoint of the staged transaction, which already holds the write lock.
            Some(outer) => outer.begin().await?,
            None => {
                self.writer
                    .begin_with_options(TransactionOptions {
                        isolation_level: None,
                        access_mode: None,
                        sqlite_transaction_mode: sqlite.then_some(SqliteTransactionMode::Immediate),
                    })
                    .await?
            }
        };
        self.meter.began(asked);
        Ok(txn)
    }

    /// Reports that the bump of a write begun with [`Store::begin_unlocked`], started at `bumped`,
    /// returned: the write holds the lock.
    pub(crate) fn locked(&self, bumped: Instant) {
        self.meter.locked(bumped);
    }

    /// Starts a consistent read.
    pub(crate) async fn begin_read(&self) -> Result<DatabaseTransaction, StoreError> {
        if let Some(outer) = &self.staged {
            // The staged writes are read too.
            return Ok(outer.begin().await?);
        }
        let postgres = self.db.get_database_backend() == DbBackend::Postgres;
        let txn = if postgres {
            self.db.begin_with_config(Some(IsolationLevel::RepeatableRead), Some(AccessMode::ReadOnly)).await?
        } else {
            self.db.begin().await?
        };
        Ok(txn)
    }
}

/// The most values one `IN (…)` list binds. SQLite accepts at most 32,766 bound parameters per
/// statement and PostgreSQL 65,535; a query may hold two such lists and a few other values.
pub(crate) const MAX_IN_LIST: usize = 10_000;

/// The rows of `E` whose `column` is one of `values` and that match `also`: one query per
/// [`MAX_IN_LIST`] values, none when `values` is empty.
pub(crate) async fn find_in<E: EntityTrait>(
    conn: &impl ConnectionTrait,
    column: E::Column,
    values: impl IntoIterator<Item = String>,
    also: Condition,
) -> Result<Vec<E::Model>, StoreError> {
    let values: Vec<String> = values.into_iter().collect();
    let mut out = Vec::new();
    for part in values.chunks(MAX_IN_LIST) {
        out.extend(E::find().filter(column.is_in(part.iter().cloned())).filter(also.clone()).all(conn).await?);
    }
    Ok(out)
}

/// The row of `E` whose primary key is `key`, or `NOT_FOUND` for `entity` `id`.
pub(crate) async fn found<E: EntityTrait>(
    conn: &impl ConnectionTrait,
    key: impl Into<<E::PrimaryKey as PrimaryKeyTrait>::ValueType>,
    entity: &'static str,
    id: impl Into<String>,
) -> Result<E::Model, StoreError> {
    E::find_by_id(key).one(conn).await?.ok_or_else(|| StoreError::not_found(entity, id))
}

pub(crate) async fn read_revision(conn: &impl ConnectionTrait) -> Result<Revision, StoreError> {
    let backend = conn.get_database_backend();
    let row = conn
        .query_one_raw(Statement::from_string(backend, "SELECT value FROM guichet_revision WHERE id = 1"))
        .await?
        .ok_or_else(|| StoreError::corrupt("guichet_revision", "the revision row is missing"))?;
    let value: i64 = row.try_get("", "value")?;
    Ok(Revision::new(u64::try_from(value).map_err(|e| StoreError::corrupt("guichet_revision", e))?))
}

fn sqlite_file(url: &str) -> Option<&Path> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next()?;
    (!path.is_empty() && !path.contains(":memory:")).then(|| Path::new(path))
}

/// A fresh id with a readable prefix, e.g. `acc_0195f1c2…`.
pub(crate) fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::now_v7().simple())
}

#[cfg(test)]
mod tests;
