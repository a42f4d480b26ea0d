//! What ExplainAccess's suggestions read (`guichet_domain::suggest`): the subject's facts and a
//! view of the account asked about — its roles, whether it requires approval, who requested the
//! subject's memberships there, the subject's accounts, and the members who might make a change
//! (the account's own active members, then the active members of the accounts delegating into
//! it), each with their facts in every account of the chain and on the resources the subject's
//! restrictions name. All of it in one read transaction, so at one revision, the decision's; in a
//! bounded number of statements whatever the number of members (the candidates' facts are one
//! batch of the fact loader), with at most [`MAX_CANDIDATES`] candidates per group and
//! [`MAX_RESOURCES`] resources.

use std::collections::{BTreeMap, BTreeSet};

use guichet_domain::{
    AccessRequest, AccountId, AccountKind, AccountSettings, AccountView, Candidate, DelegationId, Facts, FeatureName,
    Level, MembershipId, MembershipStatus, Permission, ResourceId, Revision, UserId, Via,
};
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use crate::entities::{delegation, membership, role};
use crate::facts::load_many;
use crate::roles::{account_row, custom_role};
use crate::{Store, StoreError, find_in, read_revision};

/// The most candidates read per group (own members, delegated members); with more, the view
/// says it was bounded.
pub const MAX_CANDIDATES: usize = 200;

/// The most resources the candidates' facts are read on (those of the subject's restrictions in
/// the account, and the one asked about); a change over a restriction of more resources names
/// no fixer.
pub const MAX_RESOURCES: usize = 64;

fn users_view() -> Permission {
    Permission { feature: FeatureName::from_trusted(guichet_domain::USERS_FEATURE), level: Level::View }
}

/// Active members of `accounts` other than `subject`, by user id, at most [`MAX_CANDIDATES`] + 1.
async fn active_members(
    conn: &impl ConnectionTrait,
    accounts: &[String],
    subject: &UserId,
) -> Result<Vec<membership::Model>, StoreError> {
    if accounts.is_empty() {
        return Ok(Vec::new());
    }
    Ok(membership::Entity::find()
        .filter(membership::Column::AccountId.is_in(accounts.iter().cloned()))
        .filter(membership::Column::Status.eq(MembershipStatus::Active.as_str()))
        .filter(membership::Column::UserId.ne(subject.as_str()))
        .order_by_asc(membership::Column::UserId)
        .order_by_asc(membership::Column::AccountId)
        .limit(u64::try_from(MAX_CANDIDATES + 1).unwrap_or(u64::MAX))
        .all(conn)
        .await?)
}

impl Store {
    /// The facts of `request` and the view of its account the suggestions read, at one revision
    /// (see the module docs). The view is empty when the account or the subject is unknown.
    #[tracing::instrument(name = "store.load_suggestion_facts", skip_all, fields(otel.kind = "client", db.system.name = self.backend_name()))]
    pub async fn load_suggestion_facts(
        &self,
        request: &AccessRequest,
    ) -> Result<(Facts, AccountView, Revision), StoreError> {
        let txn = self.begin_read().await?;
        let revision = read_revision(&txn).await?;
        let facts = load_many(&txn, self, &[request])
            .await?
            .pop()
            .ok_or_else(|| StoreError::corrupt("facts", "no facts for the request"))?;
        let known = facts.subject.is_some() && facts.chain.first().is_some_and(|a| a.id == request.account);
        let view = if known { self.read_view(&txn, request, &facts).await? } else { AccountView::default() };
        txn.commit().await?;
        Ok((facts, view, revision))
    }

    async fn read_view(
        &self,
        conn: &impl ConnectionTrait,
        request: &AccessRequest,
        facts: &Facts,
    ) -> Result<AccountView, StoreError> {
        let target = &request.account;
        let row = account_row(conn, target).await?;
        let settings: AccountSettings =
            serde_json::from_str(&row.settings).map_err(|e| StoreError::corrupt("accounts", e))?;
        let kind = AccountKind::from_trusted(row.kind.clone());
        let mut roles: Vec<guichet_domain::Role> =
            self.catalog().kind(&kind).map(|k| k.roles.clone()).unwrap_or_default();
        let mut custom = role::Entity::find().filter(role::Column::AccountId.eq(target.as_str())).all(conn).await?;
        custom.sort_by(|a, b| a.name.cmp(&b.name));
        for r in &custom {
            roles.push(custom_role(r)?.role);
        }

        // The subject's memberships: its accounts, and who requested those in the account.
        let own_rows = membership::Entity::find()
            .filter(membership::Column::UserId.eq(request.subject.as_str()))
            .all(conn)
            .await?;
        let mut subject_accounts: Vec<AccountId> =
            own_rows.iter().map(|m| AccountId::from_trusted(m.account_id.clone())).collect();
        subject_accounts.sort();
        subject_accounts.dedup();
        let requesters: BTreeMap<MembershipId, UserId> = own_rows
            .iter()
            .filter(|m| m.account_id == target.as_str())
            .filter_map(|m| {
                m.created_by.clone().map(|u| (MembershipId::from_trusted(m.id.clone()), UserId::from_trusted(u)))
            })
            .collect();

        // The candidates: own active members, then the delegating accounts' active members.
        let mut truncated = false;
        let mut own = active_members(conn, &[target.as_str().to_owned()], &request.subject).await?;
        if own.len() > MAX_CANDIDATES {
            own.truncate(MAX_CANDIDATES);
            truncated = true;
        }
        let mut delegations = find_in::<delegation::Entity>(
            conn,
            delegation::Column::ToAccountId,
            [target.as_str().to_owned()],
            Condition::all(),
        )
        .await?;
        delegations.sort_by(|a, b| a.id.cmp(&b.id));
        let sources: Vec<String> =
            delegations.iter().map(|d| d.from_account_id.clone()).collect::<BTreeSet<_>>().into_iter().collect();
        let mut theirs = active_members(conn, &sources, &request.subject).await?;
        if theirs.len() > MAX_CANDIDATES {
            theirs.truncate(MAX_CANDIDATES);
            truncated = true;
        }
        let mut people: Vec<(UserId, Via)> = Vec::new();
        let mut seen: BTreeSet<String> = BTreeSet::new();
        for m in &own {
            if seen.insert(m.user_id.clone()) {
                people.push((UserId::from_trusted(m.user_id.clone()), Via::Member));
            }
        }
        for d in &delegations {
            for m in theirs.iter().filter(|m| m.account_id == d.from_account_id) {
                if seen.insert(m.user_id.clone()) {
                    people.push((
                        UserId::from_trusted(m.user_id.clone()),
                        Via::Delegation(DelegationId::from_trusted(d.id.clone())),
                    ));
                }
            }
        }

        // Their facts, in one batch: in every account of the chain, and in the account on each
        // resource the subject's restrictions there name (and the one asked about).
        let mut resources: BTreeSet<ResourceId> = facts
            .memberships
            .iter()
            .filter(|m| m.account == *target)
            .flat_map(|m| m.resources.iter().flat_map(|r| r.ids().cloned().collect::<Vec<_>>()))
            .collect();
        resources.extend(request.resource.clone());
        let resources: Vec<ResourceId> = resources.into_iter().take(MAX_RESOURCES).collect();
        let chain: Vec<AccountId> = facts.chain.iter().map(|a| a.id.clone()).collect();
        let mut requests: Vec<AccessRequest> = Vec::with_capacity(people.len() * (chain.len() + resources.len()));
        for (user, _) in &people {
            for account in &chain {
                requests.push(AccessRequest {
                    subject: user.clone(),
                    account: account.clone(),
                    permission: users_view(),
                    resource: None,
                });
            }
            for r in &resources {
                requests.push(AccessRequest {
                    subject: user.clone(),
                    account: target.clone(),
                    permission: users_view(),
                    resource: Some(r.clone()),
                });
            }
        }
        let refs: Vec<&AccessRequest> = requests.iter().collect();
        let mut loaded = load_many(conn, self, &refs).await?.into_iter();
        let mut candidates = Vec::with_capacity(people.len());
        for (user, via) in people {
            let mut in_accounts = BTreeMap::new();
            for account in &chain {
                let f = loaded.next().ok_or_else(|| StoreError::corrupt("facts", "a candidate's facts are missing"))?;
                in_accounts.insert(account.clone(), f);
            }
            let mut on_resources = BTreeMap::new();
            for r in &resources {
                let f = loaded.next().ok_or_else(|| StoreError::corrupt("facts", "a candidate's facts are missing"))?;
                on_resources.insert(r.clone(), f);
            }
            candidates.push(Candidate { user, via, in_accounts, on_resources });
        }
        Ok(AccountView {
            roles,
            requires_approval: settings.requires_approval,
            requesters,
            subject_accounts,
            candidates,
            candidates_truncated: truncated,
        })
    }
}
