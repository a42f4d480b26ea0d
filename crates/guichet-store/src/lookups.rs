//! Reverse lookups: which resources a set of restricted memberships reaches, and the walk behind
//! ListAuthorizedSubjects and ListAccessibleAccounts — the candidates that might hold a permission,
//! in id order, with the facts of each, for the caller to evaluate with the decision engine.
//!
//! A walk reads its candidates a chunk at a time (`id > cursor ORDER BY id LIMIT n`, so a later
//! page does not read the earlier ones again; one query per chunk, more only when the candidates'
//! accounts do not fit one `IN` list or the subject's trees one query) and loads the facts of a
//! whole chunk with [`load_many`] — a bounded number of queries per chunk, however many candidates
//! it holds. It stops as soon as the caller has kept what it wants, and it runs in one read
//! transaction: every answer of a page and the revision it reports come from one snapshot.

use std::collections::{BTreeSet, VecDeque};

use guichet_domain::{
    AccessRequest, AccountId, Facts, FeatureName, Level, MembershipId, Permission, ResourceId, Revision, UserId,
};
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use crate::accounts::below;
use crate::entities::{account, delegation, membership, membership_resource, resource};
use crate::facts::{chain, load_many};
use crate::{MAX_IN_LIST, Page, PageRequest, Store, StoreError, find_in, read_revision};

/// The most candidates whose facts one step of a walk loads.
pub const LOOKUP_CHUNK: usize = 500;

/// The fewest candidates one step of a walk loads.
const MIN_CHUNK: usize = 16;

/// The account trees one candidate query covers (two bound parameters each).
const TREES_PER_QUERY: usize = 128;

/// A reverse lookup: which candidates to walk, and the question asked about each.
#[derive(Debug, Clone, Copy)]
pub enum Lookup<'a> {
    /// The users who might hold `permission` in `account` (on `resource`, when given): the members
    /// of the account and of its ancestors, and of the accounts that delegate into one of them.
    Subjects {
        /// The account.
        account: &'a AccountId,
        /// The permission.
        permission: &'a Permission,
        /// The resource, for a resource check.
        resource: Option<&'a ResourceId>,
    },
    /// The accounts where `subject` might hold `permission`: those of its memberships, the targets
    /// of the delegations from them, and all their descendants.
    Accounts {
        /// The subject.
        subject: &'a UserId,
        /// The permission.
        permission: &'a Permission,
    },
}

impl Lookup<'_> {
    /// The question about the candidate `id`.
    fn request(&self, id: &str) -> AccessRequest {
        match *self {
            Lookup::Subjects { account, permission, resource } => AccessRequest {
                subject: UserId::from_trusted(id),
                account: account.clone(),
                permission: permission.clone(),
                resource: resource.cloned(),
            },
            Lookup::Accounts { subject, permission } => AccessRequest {
                subject: subject.clone(),
                account: AccountId::from_trusted(id),
                permission: permission.clone(),
                resource: None,
            },
        }
    }
}

/// One query of a walk's candidates, read in id order a chunk at a time.
enum Source {
    /// The users with a membership in one of these accounts.
    MembersOf(Vec<String>),
    /// These accounts and their descendants: the (id, path) of each root, none inside another.
    Trees(Vec<(String, String)>),
}

impl Source {
    /// The first `n` candidate ids after `after`, in id order.
    async fn fetch(
        &self,
        conn: &impl ConnectionTrait,
        after: Option<&str>,
        n: usize,
    ) -> Result<Vec<String>, StoreError> {
        let limit = u64::try_from(n).unwrap_or(u64::MAX);
        match self {
            Self::MembersOf(accounts) => {
                let mut cond = Condition::all().add(membership::Column::AccountId.is_in(accounts.iter().cloned()));
                if let Some(a) = after {
                    cond = cond.add(membership::Column::UserId.gt(a));
                }
                Ok(membership::Entity::find()
                    .select_only()
                    .column(membership::Column::UserId)
                    .distinct()
                    .filter(cond)
                    .order_by_asc(membership::Column::UserId)
                    .limit(limit)
                    .into_tuple()
                    .all(conn)
                    .await?)
            }
            Self::Trees(trees) => {
                let mut within =
                    Condition::any().add(account::Column::Id.is_in(trees.iter().map(|(id, _)| id.clone())));
                for (_, path) in trees {
                    within = within.add(below(path));
                }
                let mut cond = Condition::all().add(within);
                if let Some(a) = after {
                    cond = cond.add(account::Column::Id.gt(a));
                }
                Ok(account::Entity::find()
                    .select_only()
                    .column(account::Column::Id)
                    .filter(cond)
                    .order_by_asc(account::Column::Id)
                    .limit(limit)
                    .into_tuple()
                    .all(conn)
                    .await?)
            }
        }
    }
}

/// A source and what has been read from it but not walked yet.
struct Stream {
    source: Source,
    /// Read, not walked yet, in id order.
    buffer: VecDeque<String>,
    /// The last id read.
    cursor: Option<String>,
    /// Whether the source has nothing after `cursor`.
    done: bool,
}

/// A walk's candidates: usually one source; more when its `IN` list or its trees do not fit one
/// query, merged in id order. Each source is read forward only, so a walk reads every candidate
/// after its start at most once.
struct Candidates(Vec<Stream>);

impl Candidates {
    /// The sources of `lookup`'s candidates after `after`, read in the walk's snapshot.
    async fn read(conn: &impl ConnectionTrait, lookup: &Lookup<'_>, after: Option<&str>) -> Result<Self, StoreError> {
        let sources: Vec<Source> = match *lookup {
            Lookup::Subjects { account, .. } => {
                let chain_ids: Vec<String> =
                    chain(conn, account).await?.iter().map(|a| a.id.as_str().to_owned()).collect();
                let mut accounts: BTreeSet<String> = chain_ids.iter().cloned().collect();
                for d in
                    find_in::<delegation::Entity>(conn, delegation::Column::ToAccountId, chain_ids, Condition::all())
                        .await?
                {
                    accounts.insert(d.from_account_id);
                }
                let accounts: Vec<String> = accounts.into_iter().collect();
                accounts.chunks(MAX_IN_LIST).map(|part| Source::MembersOf(part.to_vec())).collect()
            }
            Lookup::Accounts { subject, .. } => {
                let mut roots: BTreeSet<String> = membership::Entity::find()
                    .select_only()
                    .column(membership::Column::AccountId)
                    .filter(membership::Column::UserId.eq(subject.as_str()))
                    .into_tuple::<String>()
                    .all(conn)
                    .await?
                    .into_iter()
                    .collect();
                let targets = find_in::<delegation::Entity>(
                    conn,
                    delegation::Column::FromAccountId,
                    roots.iter().cloned(),
                    Condition::all(),
                )
                .await?;
                roots.extend(targets.into_iter().map(|d| d.to_account_id));
                let rows =
                    find_in::<account::Entity>(conn, account::Column::Id, roots.clone(), Condition::all()).await?;
                // A root inside another root's tree adds nothing (a delegation's target is a
                // descendant of its source).
                let mut trees: Vec<(String, String)> = rows
                    .into_iter()
                    .filter(|a| !a.path.split('/').any(|p| p != a.id && roots.contains(p)))
                    .map(|a| (a.id, a.path))
                    .collect();
                trees.sort();
                trees.chunks(TREES_PER_QUERY).map(|part| Source::Trees(part.to_vec())).collect()
            }
        };
        let cursor = after.map(str::to_owned);
        Ok(Self(
            sources
                .into_iter()
                .map(|source| Stream { source, buffer: VecDeque::new(), cursor: cursor.clone(), done: false })
                .collect(),
        ))
    }

    /// The next `n` candidate ids (fewer at the end), in id order, each once.
    async fn next(&mut self, conn: &impl ConnectionTrait, n: usize) -> Result<Vec<String>, StoreError> {
        // Every stream holds at least `n` ids or is done: the `n` smallest are among the buffers.
        for s in &mut self.0 {
            if !s.done && s.buffer.len() < n {
                let ids = s.source.fetch(conn, s.cursor.as_deref(), n).await?;
                s.done = ids.len() < n;
                if let Some(last) = ids.last() {
                    s.cursor = Some(last.clone());
                }
                s.buffer.extend(ids);
            }
        }
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            let Some(smallest) = self.0.iter().filter_map(|s| s.buffer.front()).min().cloned() else { break };
            for s in &mut self.0 {
                if s.buffer.front() == Some(&smallest) {
                    s.buffer.pop_front();
                }
            }
            out.push(smallest);
        }
        Ok(out)
    }
}

impl Store {
    /// The resources of `account` (of `kind`, when given) that one of the restricted memberships
    /// reaches with a cap of at least `at_least`, by id.
    pub async fn resources_of_memberships(
        &self,
        account: &AccountId,
        memberships: &[MembershipId],
        at_least: Level,
        kind: Option<&FeatureName>,
        page: &PageRequest,
    ) -> Result<Page<ResourceId>, StoreError> {
        if memberships.is_empty() {
            return Ok(Page { items: Vec::new(), next_after: None });
        }
        let caps: Vec<&str> = Level::ALL.iter().filter(|l| **l >= at_least).map(|l| l.as_str()).collect();
        let reached: BTreeSet<String> = membership_resource::Entity::find()
            .filter(membership_resource::Column::MembershipId.is_in(memberships.iter().map(|m| m.as_str().to_owned())))
            .filter(membership_resource::Column::Level.is_in(caps))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|g| g.resource_id)
            .collect();
        if reached.is_empty() {
            return Ok(Page { items: Vec::new(), next_after: None });
        }
        let mut cond = Condition::all()
            .add(resource::Column::AccountId.eq(account.as_str()))
            .add(resource::Column::Id.is_in(reached));
        if let Some(k) = kind {
            cond = cond.add(resource::Column::Kind.eq(k.as_str()));
        }
        if let Some(after) = &page.after {
            cond = cond.add(resource::Column::Id.gt(after.as_str()));
        }
        let rows = resource::Entity::find()
            .filter(cond)
            .order_by_asc(resource::Column::Id)
            .limit(page.limit + 1)
            .all(&self.db)
            .await?;
        let items = rows.into_iter().map(|r| ResourceId::from_trusted(r.id)).collect();
        Ok(Page::from_overfetch(items, page.limit, |r: &ResourceId| r.as_str().to_owned()))
    }

    /// Walks the candidates of `lookup` in id order, after `after`, and keeps what `keep` makes of
    /// each (its question and its facts), until `want` are kept or the candidates run out. Returns
    /// them in candidate order with the revision of the walk's snapshot.
    ///
    /// One read transaction whatever the number of candidates; each step reads the next chunk of
    /// candidates and their facts in a bounded number of queries. The first step loads `want`
    /// candidates (at least a few), the next ones as many as the share kept so far says are needed,
    /// at most [`LOOKUP_CHUNK`].
    #[tracing::instrument(name = "store.lookup", skip_all, fields(otel.kind = "client", db.system.name = self.backend_name(), want = want))]
    pub async fn lookup<T, F>(
        &self,
        lookup: Lookup<'_>,
        after: Option<&str>,
        want: usize,
        mut keep: F,
    ) -> Result<(Vec<T>, Revision), StoreError>
    where
        T: Send,
        F: FnMut(&AccessRequest, &Facts) -> Option<T> + Send,
    {
        let txn = self.begin_read().await?;
        let revision = read_revision(&txn).await?;
        let mut kept = Vec::new();
        if want > 0 {
            let mut candidates = Candidates::read(&txn, &lookup, after).await?;
            let mut scanned = 0;
            let mut step = want.clamp(MIN_CHUNK, LOOKUP_CHUNK);
            loop {
                let ids = candidates.next(&txn, step).await?;
                let requests: Vec<AccessRequest> = ids.iter().map(|id| lookup.request(id)).collect();
                let refs: Vec<&AccessRequest> = requests.iter().collect();
                let facts = load_many(&txn, self, &refs).await?;
                for (request, facts) in requests.iter().zip(&facts) {
                    if kept.len() == want {
                        break;
                    }
                    kept.extend(keep(request, facts));
                }
                scanned += ids.len();
                if kept.len() == want || ids.len() < step {
                    break;
                }
                let missing = want - kept.len();
                step = if kept.is_empty() { LOOKUP_CHUNK } else { (missing * scanned).div_ceil(kept.len()) }
                    .clamp(MIN_CHUNK, LOOKUP_CHUNK);
            }
        }
        txn.commit().await?;
        Ok((kept, revision))
    }
}
