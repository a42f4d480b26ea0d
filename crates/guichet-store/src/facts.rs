//! Loading what decisions need, in a bounded number of queries whatever the depth of the tree and
//! the number of requests: the accounts and their ancestors (two queries, through the materialised
//! path), the subjects, the delegations into the chains and their source accounts, the subjects'
//! memberships in all those accounts with their roles, the custom roles they name, and — for a
//! resource check — the resources and the restricted memberships that reach them.
//!
//! One loader, [`Store::load`], serves a single check and a batch alike: it reads the [`Rows`]
//! (with [`read_rows`] in one read transaction, about ten queries; on PostgreSQL a single
//! request's rows are one statement, see [`read_rows_postgres`]) and turns them into each request's
//! [`Facts`] with the one assembly, [`assemble`].

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};

use guichet_domain::{
    AccessRequest, AccountFacts, AccountId, AccountKind, Catalog, DelegationFacts, DelegationId, Facts, FeatureName,
    MembershipFacts, MembershipId, ResourceFacts, ResourceId, Restriction, Revision, RoleName, SubjectFacts, Timestamp,
    UserId, UserStatus,
};
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, DbBackend};

use crate::entities::{account, delegation, membership, membership_resource, membership_role, resource, role, user};
use crate::roles::{custom_accounts, resolve_rows};
use crate::rows::{account_status, cap_level, membership_status};
use crate::{MAX_IN_LIST, Store, StoreError, find_in, read_revision};

fn account_facts(row: &account::Model) -> Result<AccountFacts, StoreError> {
    let modules: BTreeSet<String> =
        serde_json::from_str(&row.modules).map_err(|e| StoreError::corrupt("accounts", e))?;
    Ok(AccountFacts {
        id: AccountId::from_trusted(row.id.clone()),
        kind: AccountKind::from_trusted(row.kind.clone()),
        status: account_status(&row.status)?,
        parent: row.parent_id.clone().map(AccountId::from_trusted),
        modules: modules.into_iter().map(FeatureName::from_trusted).collect(),
    })
}

/// The rows of the accounts `targets` and of their ancestors (through the materialised paths), by
/// id, in two queries while the lists fit one `IN`; none for a target that does not exist.
async fn read_chains(
    conn: &impl ConnectionTrait,
    targets: impl IntoIterator<Item = String>,
) -> Result<HashMap<String, account::Model>, StoreError> {
    let targets: BTreeSet<String> = targets.into_iter().collect();
    let mut accounts: HashMap<String, account::Model> = HashMap::new();
    for a in find_in::<account::Entity>(conn, account::Column::Id, targets, Condition::all()).await? {
        accounts.insert(a.id.clone(), a);
    }
    let ancestors: BTreeSet<String> = accounts
        .values()
        .flat_map(|t| t.path.split('/').filter(|p| *p != t.id).map(str::to_owned).collect::<Vec<_>>())
        .filter(|id| !accounts.contains_key(id))
        .collect();
    for a in find_in::<account::Entity>(conn, account::Column::Id, ancestors, Condition::all()).await? {
        accounts.insert(a.id.clone(), a);
    }
    Ok(accounts)
}

/// The chain of `target`, its accounts found by `account`: the target first, then its ancestors
/// from the deepest up to the root; empty when the target is not there.
fn chain_of<'a>(target: &str, account: impl Fn(&str) -> Option<&'a account::Model>) -> Vec<&'a account::Model> {
    let Some(target) = account(target) else {
        return Vec::new();
    };
    let mut out = Vec::with_capacity(usize::try_from(target.depth).unwrap_or(0) + 1);
    out.push(target);
    out.extend(target.path.split('/').filter(|p| *p != target.id).filter_map(&account));
    out[1..].sort_by_key(|a| std::cmp::Reverse(a.depth));
    out
}

/// The rows the decisions on some requests read, however they were read: each row once, in any
/// order but the delegations' (by id).
#[derive(Debug, Default)]
struct Rows {
    /// The target accounts, their ancestors and the accounts the delegations come from.
    accounts: Vec<account::Model>,
    /// The subjects that exist.
    subjects: Vec<user::Model>,
    /// The resources asked about that exist.
    resources: Vec<resource::Model>,
    /// The delegations into the chains of the live requests (a known account and a known
    /// subject), by id.
    delegations: Vec<delegation::Model>,
    /// The memberships of the live requests' subjects in their chains and the delegations' sources.
    memberships: Vec<membership::Model>,
    /// The roles those memberships hold.
    membership_roles: Vec<membership_role::Model>,
    /// The custom roles of the accounts that name one (at least every one named and not built in).
    custom_roles: Vec<role::Model>,
    /// The cap of each restricted membership on each resource asked about that it reaches.
    reached: Vec<membership_resource::Model>,
}

/// How [`assemble`] finds rows by key. A single request's rows are few (its chain, the delegations
/// into it, its subject's memberships there), so they are scanned, with no map to build; a batch's
/// are indexed once, in maps that borrow them, so that its work stays linear in the number of
/// requests and of rows.
struct Index<'a> {
    rows: &'a Rows,
    /// `None`: a single request, whose rows are scanned.
    maps: Option<Maps<'a>>,
}

/// A batch's rows by key.
struct Maps<'a> {
    accounts: HashMap<&'a str, &'a account::Model>,
    subjects: HashMap<&'a str, &'a user::Model>,
    resources: HashMap<&'a str, &'a resource::Model>,
    /// The delegations into each account, by id.
    delegations_into: HashMap<&'a str, Vec<&'a delegation::Model>>,
    /// One membership per (user, account) at most.
    membership_of: HashMap<(&'a str, &'a str), &'a membership::Model>,
    /// The role names of each membership, by position.
    roles_of: HashMap<&'a str, Vec<(i32, &'a str)>>,
    /// The cap of a (membership, resource).
    reached: HashMap<(&'a str, &'a str), &'a str>,
}

impl<'a> Index<'a> {
    fn new(rows: &'a Rows, requests: usize) -> Self {
        if requests <= 1 {
            return Index { rows, maps: None };
        }
        let mut delegations_into: HashMap<&str, Vec<&delegation::Model>> = HashMap::new();
        for d in &rows.delegations {
            delegations_into.entry(d.to_account_id.as_str()).or_default().push(d);
        }
        let mut roles_of: HashMap<&str, Vec<(i32, &str)>> = HashMap::new();
        for r in &rows.membership_roles {
            roles_of.entry(r.membership_id.as_str()).or_default().push((r.position, r.role_name.as_str()));
        }
        for names in roles_of.values_mut() {
            names.sort_unstable();
        }
        let maps = Maps {
            accounts: rows.accounts.iter().map(|a| (a.id.as_str(), a)).collect(),
            subjects: rows.subjects.iter().map(|u| (u.id.as_str(), u)).collect(),
            resources: rows.resources.iter().map(|r| (r.id.as_str(), r)).collect(),
            delegations_into,
            membership_of: rows.memberships.iter().map(|m| ((m.user_id.as_str(), m.account_id.as_str()), m)).collect(),
            roles_of,
            reached: rows
                .reached
                .iter()
                .map(|g| ((g.membership_id.as_str(), g.resource_id.as_str()), g.level.as_str()))
                .collect(),
        };
        Index { rows, maps: Some(maps) }
    }

    fn account(&self, id: &str) -> Option<&'a account::Model> {
        match &self.maps {
            Some(maps) => maps.accounts.get(id).copied(),
            None => self.rows.accounts.iter().find(|a| a.id == id),
        }
    }

    fn subject(&self, id: &str) -> Option<&'a user::Model> {
        match &self.maps {
            Some(maps) => maps.subjects.get(id).copied(),
            None => self.rows.subjects.iter().find(|u| u.id == id),
        }
    }

    fn resource(&self, id: &str) -> Option<&'a resource::Model> {
        match &self.maps {
            Some(maps) => maps.resources.get(id).copied(),
            None => self.rows.resources.iter().find(|r| r.id == id),
        }
    }

    /// The delegations into the accounts of `chain`, by id.
    fn delegations_into(&self, chain: &[AccountFacts]) -> Vec<&'a delegation::Model> {
        match &self.maps {
            Some(maps) => {
                let mut mine: Vec<&delegation::Model> = chain
                    .iter()
                    .flat_map(|a| maps.delegations_into.get(a.id.as_str()).into_iter().flatten().copied())
                    .collect();
                mine.sort_by(|a, b| a.id.cmp(&b.id));
                mine
            }
            // The rows are by id already.
            None => self
                .rows
                .delegations
                .iter()
                .filter(|d| chain.iter().any(|a| a.id.as_str() == d.to_account_id))
                .collect(),
        }
    }

    fn membership(&self, user: &str, account: &str) -> Option<&'a membership::Model> {
        match &self.maps {
            Some(maps) => maps.membership_of.get(&(user, account)).copied(),
            None => self.rows.memberships.iter().find(|m| m.user_id == user && m.account_id == account),
        }
    }

    /// The names of the roles `membership` holds, by position.
    fn role_names(&self, membership: &str) -> Cow<'_, [(i32, &'a str)]> {
        match &self.maps {
            Some(maps) => Cow::Borrowed(maps.roles_of.get(membership).map_or(&[][..], Vec::as_slice)),
            None => {
                let mut names: Vec<(i32, &str)> = self
                    .rows
                    .membership_roles
                    .iter()
                    .filter(|r| r.membership_id == membership)
                    .map(|r| (r.position, r.role_name.as_str()))
                    .collect();
                names.sort_unstable();
                Cow::Owned(names)
            }
        }
    }

    /// The cap of `membership` on `resource`, when it reaches it.
    fn cap(&self, membership: &str, resource: &str) -> Option<&'a str> {
        match &self.maps {
            Some(maps) => maps.reached.get(&(membership, resource)).copied(),
            None => self
                .rows
                .reached
                .iter()
                .find(|g| g.membership_id == membership && g.resource_id == resource)
                .map(|g| g.level.as_str()),
        }
    }

    /// Whether `request` goes past its account and subject: both exist.
    fn live(&self, request: &AccessRequest) -> bool {
        self.account(request.account.as_str()).is_some() && self.subject(request.subject.as_str()).is_some()
    }
}

/// What a batch builds once and hands to each request, by key: a clone each time. A single
/// request builds each value once and keeps it (`None`).
struct Memo<'a, T>(Option<HashMap<&'a str, T>>);

impl<'a, T: Clone> Memo<'a, T> {
    fn new(index: &Index<'_>) -> Self {
        Memo(index.maps.as_ref().map(|_| HashMap::new()))
    }

    fn get(&mut self, key: &'a str, make: impl FnOnce() -> Result<T, StoreError>) -> Result<T, StoreError> {
        match &mut self.0 {
            None => make(),
            Some(memo) => match memo.get(key) {
                Some(value) => Ok(value.clone()),
                None => {
                    let value = make()?;
                    memo.insert(key, value.clone());
                    Ok(value)
                }
            },
        }
    }
}

/// Reads the rows of `requests` on any backend, in a bounded number of queries whatever their
/// number: ten at most while every `IN` list holds up to [`MAX_IN_LIST`] values (a batch of 1,000
/// requests into 16-deep trees stays under it); a longer list is split into several queries, so
/// that no statement passes the bound-parameter limit of the backend.
async fn read_rows(
    conn: &impl ConnectionTrait,
    catalog: &Catalog,
    requests: &[&AccessRequest],
) -> Result<Rows, StoreError> {
    let mut accounts = read_chains(conn, requests.iter().map(|r| r.account.as_str().to_owned())).await?;
    let mut rows = Rows::default();
    let subject_ids: BTreeSet<String> = requests.iter().map(|r| r.subject.as_str().to_owned()).collect();
    rows.subjects = find_in::<user::Entity>(conn, user::Column::Id, subject_ids, Condition::all()).await?;
    let resource_ids: BTreeSet<String> =
        requests.iter().filter_map(|r| r.resource.as_ref().map(|x| x.as_str().to_owned())).collect();
    rows.resources = find_in::<resource::Entity>(conn, resource::Column::Id, resource_ids, Condition::all()).await?;

    let subjects: BTreeSet<&str> = rows.subjects.iter().map(|u| u.id.as_str()).collect();
    let live: Vec<&AccessRequest> = requests
        .iter()
        .copied()
        .filter(|r| accounts.contains_key(r.account.as_str()) && subjects.contains(r.subject.as_str()))
        .collect();
    let chain_ids: BTreeSet<String> =
        live.iter().flat_map(|r| chain_of(r.account.as_str(), |a| accounts.get(a))).map(|a| a.id.clone()).collect();
    rows.delegations = find_in::<delegation::Entity>(
        conn,
        delegation::Column::ToAccountId,
        chain_ids.iter().cloned(),
        Condition::all(),
    )
    .await?;
    rows.delegations.sort_by(|a, b| a.id.cmp(&b.id));
    let missing_sources: BTreeSet<String> =
        rows.delegations.iter().map(|d| d.from_account_id.clone()).filter(|id| !accounts.contains_key(id)).collect();
    for a in find_in::<account::Entity>(conn, account::Column::Id, missing_sources, Condition::all()).await? {
        accounts.insert(a.id.clone(), a);
    }
    // The accounts where a membership counts: the live chains and the delegations' sources.
    let reach: BTreeSet<String> =
        chain_ids.into_iter().chain(rows.delegations.iter().map(|d| d.from_account_id.clone())).collect();
    let subjects: Vec<String> =
        live.iter().map(|r| r.subject.as_str().to_owned()).collect::<BTreeSet<_>>().into_iter().collect();
    for users in subjects.chunks(MAX_IN_LIST) {
        let of_users = Condition::all().add(membership::Column::UserId.is_in(users.iter().cloned()));
        rows.memberships.extend(
            find_in::<membership::Entity>(conn, membership::Column::AccountId, reach.iter().cloned(), of_users).await?,
        );
    }
    rows.membership_roles = find_in::<membership_role::Entity>(
        conn,
        membership_role::Column::MembershipId,
        rows.memberships.iter().map(|m| m.id.clone()),
        Condition::all(),
    )
    .await?;
    let custom = custom_accounts(catalog, &wanted(&rows, |a| accounts.get(a)));
    rows.custom_roles = find_in::<role::Entity>(conn, role::Column::AccountId, custom, Condition::all()).await?;
    if !rows.resources.is_empty() {
        let restricted: Vec<String> = rows.memberships.iter().filter(|m| m.restricted).map(|m| m.id.clone()).collect();
        for part in restricted.chunks(MAX_IN_LIST) {
            let of_memberships =
                Condition::all().add(membership_resource::Column::MembershipId.is_in(part.iter().cloned()));
            rows.reached.extend(
                find_in::<membership_resource::Entity>(
                    conn,
                    membership_resource::Column::ResourceId,
                    rows.resources.iter().map(|r| r.id.clone()),
                    of_memberships,
                )
                .await?,
            );
        }
    }
    rows.accounts = accounts.into_values().collect();
    Ok(rows)
}

/// The rows of one request and the revision they were read at, in one PostgreSQL statement: a
/// statement sees one snapshot, so no transaction is needed and the request costs one round trip
/// instead of the ten queries of [`read_rows`] in a read transaction. Each part of the answer is a
/// JSON array of whole rows, decoded into the same models the other path reads.
async fn read_rows_postgres(
    pool: &sea_orm::sqlx::PgPool,
    request: &AccessRequest,
) -> Result<(Rows, Revision), StoreError> {
    use sea_orm::sqlx::{self, Row as _};
    let query_error =
        |e: sqlx::Error| StoreError::from(sea_orm::DbErr::Query(sea_orm::RuntimeErr::SqlxError(e.into())));
    let row = sqlx::query(ONE_STATEMENT)
        .bind(request.account.as_str())
        .bind(request.subject.as_str())
        .bind(request.resource.as_ref().map(ResourceId::as_str))
        .fetch_one(pool)
        .await
        .map_err(query_error)?;
    let revision: Option<i64> = row.try_get("revision").map_err(query_error)?;
    let revision = revision.ok_or_else(|| StoreError::corrupt("guichet_revision", "the revision row is missing"))?;
    let revision = Revision::new(u64::try_from(revision).map_err(|e| StoreError::corrupt("guichet_revision", e))?);
    // The JSON text is read in place from the row's buffer and decoded straight into the rows.
    let part = |column: &'static str| -> Result<Option<&str>, StoreError> { row.try_get(column).map_err(query_error) };
    fn json<T: serde::de::DeserializeOwned>(column: &'static str, text: Option<&str>) -> Result<Vec<T>, StoreError> {
        match text {
            None => Ok(Vec::new()),
            Some(text) => serde_json::from_str(text).map_err(|e| StoreError::corrupt(column, e)),
        }
    }
    fn one<T: serde::de::DeserializeOwned>(column: &'static str, text: Option<&str>) -> Result<Vec<T>, StoreError> {
        match text {
            None => Ok(Vec::new()),
            Some(text) => Ok(vec![serde_json::from_str(text).map_err(|e| StoreError::corrupt(column, e))?]),
        }
    }
    let mut accounts: Vec<account::Model> = json("chain", part("chain")?)?;
    accounts.append(&mut json("sources", part("sources")?)?);
    let rows = Rows {
        accounts,
        subjects: one("subject", part("subject")?)?,
        resources: one("resource", part("resource")?)?,
        delegations: json("delegations", part("delegations")?)?,
        memberships: json("memberships", part("memberships")?)?,
        membership_roles: json("membership_roles", part("membership_roles")?)?,
        custom_roles: json("roles", part("roles")?)?,
        reached: json("reached", part("reached")?)?,
    };
    Ok((rows, revision))
}

/// What [`read_rows`] reads for one request, as one statement (`$1` account, `$2` subject, `$3`
/// resource or null).
/// The custom roles are exactly those named (a superset of what the other path needs is fine: roles
/// are looked up by account and name).
const ONE_STATEMENT: &str = r#"
WITH target AS (SELECT path FROM accounts WHERE id = $1),
chain AS (
  SELECT a.* FROM accounts a
  WHERE a.id = ANY (array_append(ARRAY(SELECT unnest(string_to_array(t.path, '/')) FROM target t), $1))
    AND EXISTS (SELECT 1 FROM target)
),
subject AS (SELECT u.* FROM users u WHERE u.id = $2),
live AS (SELECT 1 WHERE EXISTS (SELECT 1 FROM chain) AND EXISTS (SELECT 1 FROM subject)),
dels AS (
  SELECT d.* FROM delegations d
  WHERE EXISTS (SELECT 1 FROM live) AND d.to_account_id IN (SELECT id FROM chain)
),
srcs AS (SELECT a.* FROM accounts a WHERE a.id IN (SELECT from_account_id FROM dels)),
mems AS (
  SELECT m.* FROM memberships m
  WHERE EXISTS (SELECT 1 FROM live) AND m.user_id = $2
    AND m.account_id IN (SELECT id FROM chain UNION SELECT id FROM srcs)
),
mroles AS (SELECT r.* FROM membership_roles r WHERE r.membership_id IN (SELECT id FROM mems)),
croles AS (
  SELECT ro.* FROM roles ro
  WHERE (ro.account_id, ro.name) IN (
    SELECT account_id, role_name FROM mroles UNION SELECT to_account_id, role FROM dels
  )
),
res AS (SELECT r.* FROM resources r WHERE $3::text IS NOT NULL AND r.id = $3::text),
reached AS (
  SELECT g.* FROM membership_resources g
  WHERE EXISTS (SELECT 1 FROM res) AND g.resource_id = $3::text
    AND g.membership_id IN (SELECT id FROM mems WHERE restricted)
)
SELECT
  (SELECT value FROM guichet_revision WHERE id = 1) AS revision,
  (SELECT json_agg(c) FROM chain c)::text AS chain,
  (SELECT row_to_json(u) FROM subject u)::text AS subject,
  (SELECT row_to_json(r) FROM res r)::text AS resource,
  (SELECT json_agg(d ORDER BY d.id) FROM dels d)::text AS delegations,
  (SELECT json_agg(s) FROM srcs s)::text AS sources,
  (SELECT json_agg(m ORDER BY m.account_id) FROM mems m)::text AS memberships,
  (SELECT json_agg(r) FROM mroles r)::text AS membership_roles,
  (SELECT json_agg(r) FROM croles r)::text AS roles,
  (SELECT json_agg(g) FROM reached g)::text AS reached
"#;

/// The roles the rows name (by the memberships' roles and the delegations), with the kind of the
/// account that holds them, found by `account`.
fn wanted<'a>(
    rows: &Rows,
    account: impl Fn(&str) -> Option<&'a account::Model>,
) -> Vec<(AccountId, AccountKind, RoleName)> {
    let named = rows
        .membership_roles
        .iter()
        .map(|r| (&r.account_id, &r.role_name))
        .chain(rows.delegations.iter().map(|d| (&d.to_account_id, &d.role)));
    named
        .filter_map(|(id, name)| {
            let kind = AccountKind::from_trusted(account(id)?.kind.clone());
            Some((AccountId::from_trusted(id.clone()), kind, RoleName::from_trusted(name.clone())))
        })
        .collect()
}

/// The facts of each of `requests` out of their rows, in the order of the requests. The work is
/// linear in the number of requests and of rows: a batch's rows are indexed by key, never searched
/// once per request (see [`Index`]).
fn assemble(catalog: &Catalog, rows: &Rows, requests: &[&AccessRequest]) -> Result<Vec<Facts>, StoreError> {
    let index = Index::new(rows, requests.len());
    let roles = resolve_rows(catalog, &wanted(rows, |a| index.account(a)), &rows.custom_roles)?;
    // One chain per distinct target and one source account per delegation, shared by a batch's
    // requests.
    let mut chains: Memo<'_, Vec<AccountFacts>> = Memo::new(&index);
    let mut sources: Memo<'_, AccountFacts> = Memo::new(&index);

    let mut out = Vec::with_capacity(requests.len());
    for request in requests {
        let chain = chains.get(request.account.as_str(), || {
            chain_of(request.account.as_str(), |a| index.account(a)).into_iter().map(account_facts).collect()
        })?;
        let subject = index
            .subject(request.subject.as_str())
            .map(|u| {
                Ok::<_, StoreError>(SubjectFacts {
                    id: UserId::from_trusted(u.id.clone()),
                    status: UserStatus::parse(&u.status).map_err(|e| StoreError::corrupt("users", e))?,
                })
            })
            .transpose()?;
        let resource = request.resource.as_ref().and_then(|r| index.resource(r.as_str())).map(|row| ResourceFacts {
            id: ResourceId::from_trusted(row.id.clone()),
            account: AccountId::from_trusted(row.account_id.clone()),
        });
        if !index.live(request) {
            out.push(Facts { subject, chain, memberships: Vec::new(), delegations: Vec::new(), resource });
            continue;
        }
        let mine = index.delegations_into(&chain);
        // The accounts where a membership of the subject counts: the chain and the sources of the
        // delegations into it, each once.
        let mut reach: Vec<&str> = chain.iter().map(|a| a.id.as_str()).collect();
        reach.extend(mine.iter().map(|d| d.from_account_id.as_str()));
        reach.sort_unstable();
        reach.dedup();
        let mut memberships = Vec::new();
        for m in reach.iter().filter_map(|a| index.membership(request.subject.as_str(), a)) {
            let account = AccountId::from_trusted(m.account_id.clone());
            let held = index
                .role_names(&m.id)
                .iter()
                .filter_map(|(_, n)| roles.get(&(account.clone(), RoleName::from_trusted(*n))).cloned())
                .collect();
            let resources_reached = match (m.restricted, resource.as_ref().and(request.resource.as_ref())) {
                (false, _) => None,
                (true, Some(r)) => match index.cap(&m.id, r.as_str()) {
                    Some(cap) => Some([(r.clone(), cap_level(cap)?)].into_iter().collect()),
                    None => Some(Restriction::new()),
                },
                (true, None) => Some(Restriction::new()),
            };
            memberships.push(MembershipFacts {
                id: MembershipId::from_trusted(m.id.clone()),
                account,
                status: membership_status(&m.status)?,
                roles: held,
                resources: resources_reached,
                expires_at: m.expires_at.map(Timestamp::from_millis),
            });
        }
        let mut delegations = Vec::with_capacity(mine.len());
        for d in mine {
            let to = AccountId::from_trusted(d.to_account_id.clone());
            let Some(role) = roles.get(&(to.clone(), RoleName::from_trusted(d.role.clone()))) else {
                continue;
            };
            let Some(from) = index.account(&d.from_account_id) else {
                continue;
            };
            delegations.push(DelegationFacts {
                id: DelegationId::from_trusted(d.id.clone()),
                from_account: sources.get(&d.from_account_id, || account_facts(from))?,
                to_account: to,
                role: role.clone(),
                expires_at: d.expires_at.map(Timestamp::from_millis),
            });
        }
        out.push(Facts { subject, chain, memberships, delegations, resource });
    }
    Ok(out)
}

/// The facts of `requests` read through `conn` (a read transaction the caller holds), in the order
/// of the requests: [`read_rows`] then [`assemble`].
pub(crate) async fn load_many(
    conn: &impl ConnectionTrait,
    store: &Store,
    requests: &[&AccessRequest],
) -> Result<Vec<Facts>, StoreError> {
    let rows = read_rows(conn, store.catalog(), requests).await?;
    assemble(store.catalog(), &rows, requests)
}

impl Store {
    /// The facts a decision on `request` needs, and the revision they were read at.
    #[tracing::instrument(name = "store.load_facts", skip_all, fields(otel.kind = "client", db.system.name = self.backend_name()))]
    pub async fn load_facts(&self, request: &AccessRequest) -> Result<(Facts, Revision), StoreError> {
        let (mut facts, revision) = self.load(&[request]).await?;
        let facts = facts.pop().ok_or_else(|| StoreError::corrupt("facts", "no facts for the request"))?;
        Ok((facts, revision))
    }

    /// The facts of many requests, read in one snapshot (one revision) with a bounded number of
    /// queries whatever their number, in the order of the requests. A single request is read as
    /// [`Store::load_facts`] reads it: on PostgreSQL one statement.
    #[tracing::instrument(name = "store.load_facts", skip_all, fields(otel.kind = "client", db.system.name = self.backend_name(), requests = requests.len()))]
    pub async fn load_facts_many(&self, requests: &[&AccessRequest]) -> Result<(Vec<Facts>, Revision), StoreError> {
        self.load(requests).await
    }

    /// The one loader: the rows of `requests` in one snapshot — a single request on PostgreSQL in
    /// one statement, anything else in a read transaction — assembled into each request's facts.
    async fn load(&self, requests: &[&AccessRequest]) -> Result<(Vec<Facts>, Revision), StoreError> {
        let (rows, revision) = match requests {
            [one] if self.staged.is_none() && self.db.get_database_backend() == DbBackend::Postgres => {
                // Through sqlx itself: sea-orm's `query_one_raw` future is large enough that moving
                // it cost about a seventh of an uncached check's instructions (callgrind).
                if let Some(counter) = &self.statements {
                    counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                read_rows_postgres(self.db.get_postgres_connection_pool(), one).await?
            }
            _ => {
                let txn = self.begin_read().await?;
                let revision = read_revision(&txn).await?;
                let rows = read_rows(&txn, self.catalog(), requests).await?;
                txn.commit().await?;
                (rows, revision)
            }
        };
        Ok((assemble(self.catalog(), &rows, requests)?, revision))
    }

    /// [`Store::load_facts`] through the queries every backend runs, to compare with PostgreSQL's
    /// one statement.
    #[cfg(test)]
    pub(crate) async fn load_facts_generic(&self, request: &AccessRequest) -> Result<Facts, StoreError> {
        let txn = self.begin_read().await?;
        let mut facts = load_many(&txn, self, &[request]).await?;
        txn.commit().await?;
        facts.pop().ok_or_else(|| StoreError::corrupt("facts", "no facts for the request"))
    }
}
