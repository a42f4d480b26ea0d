//! The application layer: one method per use case, in domain types. Handlers convert the request,
//! call one method here, and convert the result back; the rules live in the domain crate and the
//! queries in the store.
//!
//! **Who may call what.** A management request may name an *actor* — the person the calling
//! service acts for. guichet then authorises the actor itself, with the same engine that answers
//! CheckAccess, against the permission listed for that call (see [`needs`]). A request without an
//! actor is made on the calling service's own authority (a back-office job, the demo loader).

mod lookups;

use std::collections::BTreeSet;
use std::sync::Arc;

use guichet_domain::{
    AccessRequest, Account, AccountId, AccountRole, AccountSettings, AccountStatus, Catalog, Consistency, Decision,
    Delegation, DelegationId, Email, FeatureName, Membership, MembershipId, MembershipStatus, NewAccount,
    NewDelegation, NewMembership, NewResource, NewUser, Permission, Reason, Resource, ResourceId, Revision,
    RoleDefinition, RoleName, User, UserId, UserStatus, evaluate,
};
use guichet_store::{AccountFilter, Audit, EventFilter, MembershipFilter, Page, PageRequest, Store, UserChanges};

use guichet_proto::convert::check_response;
use guichet_proto::v1 as pb;

use crate::cache::{self, DecisionCache, Tier};
use crate::clock::SharedClock;
use crate::error::ServerError;

mod invitations;

mod contacts;

#[cfg(test)]
mod measure;

/// A decision and the revision it was evaluated at.
#[derive(Debug, Clone)]
pub struct Checked {
    /// The decision, with every path considered.
    pub decision: Decision,
    /// The revision of the facts.
    pub revision: Revision,
    /// The account chain, target first.
    pub chain: Vec<AccountId>,
}

/// Who a management call is made for and through what: recorded on its audit event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Call {
    /// The person the calling service acts for; `None`: the service's own authority.
    pub actor: Option<UserId>,
    /// The client's idempotency key.
    pub request_id: Option<String>,
    /// The calling service's identity, when authenticated.
    pub service: Option<String>,
    /// The W3C trace id of the call.
    pub trace_id: Option<String>,
    /// A fingerprint of the request body, set when `request_id` is.
    pub fingerprint: Option<String>,
}

impl Call {
    /// A call on the calling service's own authority.
    pub fn service() -> Self {
        Self::default()
    }
}

/// An account where the subject holds a permission.
#[derive(Debug, Clone)]
pub struct Accessible {
    /// The account.
    pub account: AccountId,
    /// The decision there.
    pub decision: Decision,
}

/// The permissions management calls need, in one place.
pub mod needs {
    /// Create a child account, suspend/reactivate it, toggle its modules (held in the parent).
    pub const MANAGE_CHILD_ACCOUNTS: &str = "organizations:full";
    /// List an account's children.
    pub const VIEW_CHILD_ACCOUNTS: &str = "organizations:view";
    /// Read an account and its settings.
    pub const VIEW_ACCOUNT: &str = "account_settings:view";
    /// Rename an account, change its settings.
    pub const EDIT_ACCOUNT: &str = "account_settings:full";
    /// Read members and roles.
    pub const VIEW_USERS: &str = "users:view";
    /// Create users, edit members and custom roles.
    pub const MANAGE_USERS: &str = "users:full";
    /// Read folders.
    pub const VIEW_FOLDERS: &str = "folders:view";
    /// Create and delete folders.
    pub const MANAGE_FOLDERS: &str = "folders:full";
    /// Enable delegations from an account (held in the partner), or end one (partner side).
    pub const MANAGE_DELEGATIONS: &str = "organizations:full";
    /// Read an account's audit events.
    pub const VIEW_EVENTS: &str = "event_logs:view";
    /// Read the delegations from or to an account.
    pub const VIEW_DELEGATIONS: &str = "users:view";
    /// Invite, resend and revoke invitations.
    pub const INVITE_USERS: &str = "users:full";
    /// Read the memberships waiting for approval.
    pub const VIEW_APPROVALS: &str = "access_approvals:view";
    /// Approve or reject a pending membership (four-eyes: not one's own request).
    pub const APPROVE_ACCESS: &str = "access_approvals:full";
}

/// The error of an `at_least_as_fresh` token newer than the store's latest revision.
fn token_from_the_future(wanted: Revision, current: Revision) -> ServerError {
    ServerError::invalid(
        "consistency.at_least_as_fresh",
        format!("revision {wanted} is newer than the store's latest ({current}): use a token guichet returned"),
    )
}

/// The `view` permission of the feature of `permission` (`users:full` -> `users:view`).
fn view_of(permission: &str) -> String {
    match permission.split_once(':') {
        Some((feature, _)) => format!("{feature}:view"),
        None => permission.to_owned(),
    }
}

/// The application: the store, the catalog, the clock and the decision caches.
#[derive(Debug, Clone)]
pub struct App {
    store: Store,
    catalog: Arc<Catalog>,
    clock: SharedClock,
    cache: Option<Arc<DecisionCache>>,
}

impl App {
    /// The application over a store, without decision caches.
    pub fn new(store: Store, catalog: Arc<Catalog>, clock: SharedClock) -> Self {
        Self { store, catalog, clock, cache: None }
    }

    /// The application answering CheckAccess through `cache`.
    pub fn with_cache(mut self, cache: Arc<DecisionCache>) -> Self {
        self.cache = Some(cache);
        self
    }

    /// The decision caches, when there are.
    pub fn cache(&self) -> Option<&Arc<DecisionCache>> {
        self.cache.as_ref()
    }

    /// The catalog.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    // ---- access ----

    async fn check_revision(&self, consistency: Consistency) -> Result<(), ServerError> {
        if let Consistency::AtLeastAsFresh(wanted) = consistency {
            let current = self.store.revision().await?;
            if wanted > current {
                return Err(token_from_the_future(wanted, current));
            }
        }
        Ok(())
    }

    /// Makes the caches know every change committed before the call (see [`crate::cache`]) and,
    /// for `at_least_as_fresh`, every change up to the token, which must be one guichet returned.
    async fn cache_fresh(cache: &DecisionCache, consistency: Consistency) -> Result<(), ServerError> {
        let known = cache.fresh().await?;
        if let Consistency::AtLeastAsFresh(wanted) = consistency
            && wanted > known
        {
            // A token newer than what this replica knows: learn the latest revision.
            let current = cache.fence().await?;
            if wanted > current {
                return Err(token_from_the_future(wanted, current));
            }
        }
        Ok(())
    }

    /// Decides one request. Every answer is read from the store at its latest revision, so it is
    /// at least as fresh as any token and any completed write.
    pub async fn check(&self, request: &AccessRequest, consistency: Consistency) -> Result<Checked, ServerError> {
        self.check_revision(consistency).await?;
        let (facts, revision) = self.store.load_facts(request).await?;
        let decision = evaluate(&self.catalog, request, &facts);
        let chain = facts.chain.iter().map(|a| a.id.clone()).collect();
        Ok(Checked { decision, revision, chain })
    }

    /// Answers CheckAccess: from a cache tier when a valid entry exists (after the fence, see
    /// [`crate::cache`]), else from the store, keeping the answer in the caches.
    pub async fn check_access(
        &self,
        request: &AccessRequest,
        consistency: Consistency,
    ) -> Result<pb::CheckAccessResponse, ServerError> {
        let mut out = self.check_access_batch(std::slice::from_ref(request), consistency).await?.0;
        out.pop().ok_or_else(|| ServerError::Internal("an empty batch answer".to_owned()))
    }

    /// Answers CheckAccessBatch: hits from the cache tiers, and the facts of every miss read in
    /// one store transaction. The answers keep the order of the requests; the revision is the
    /// highest of theirs.
    pub async fn check_access_batch(
        &self,
        requests: &[AccessRequest],
        consistency: Consistency,
    ) -> Result<(Vec<pb::CheckAccessResponse>, Revision), ServerError> {
        let mut out: Vec<Option<pb::CheckAccessResponse>> = vec![None; requests.len()];
        let mut misses: Vec<usize> = Vec::new();
        let cache = self.cache.as_ref().filter(|_| consistency != Consistency::FullyConsistent);
        match cache {
            Some(cache) => {
                Self::cache_fresh(cache, consistency).await?;
                let min = match consistency {
                    Consistency::AtLeastAsFresh(r) => Some(r),
                    Consistency::MinimizeLatency | Consistency::FullyConsistent => None,
                };
                for (i, r) in requests.iter().enumerate() {
                    match cache.lookup(&cache::key(r), min).await {
                        Some((e, tier)) => {
                            let mut resp = e.response.clone();
                            resp.cache_tier = match tier {
                                Tier::Local => pb::CacheTier::Local,
                                Tier::Shared => pb::CacheTier::Shared,
                            } as i32;
                            out[i] = Some(resp);
                        }
                        None => misses.push(i),
                    }
                }
            }
            None => {
                self.check_revision(consistency).await?;
                misses.extend(0..requests.len());
            }
        }
        if !misses.is_empty() {
            let wanted: Vec<&AccessRequest> = misses.iter().filter_map(|i| requests.get(*i)).collect();
            // Boxed: the store's future is some 3 KB, and inline it would make every check's
            // future (boxed and moved per call by tonic) that large, hits included.
            let (facts, revision) = Box::pin(self.store.load_facts_many(&wanted)).await?;
            for ((i, request), facts) in misses.iter().zip(wanted).zip(facts) {
                let decision = evaluate(&self.catalog, request, &facts);
                let resp = check_response(&decision, revision, pb::CacheTier::None);
                if let Some(cache) = &self.cache
                    && let Some(entry) = cache::Entry::new(&facts, request, revision, resp.clone())
                {
                    cache.insert(cache::key(request), entry).await;
                }
                out[*i] = Some(resp);
            }
        }
        let mut revision = Revision::ZERO;
        let mut answers = Vec::with_capacity(out.len());
        for resp in out {
            let resp = resp.ok_or_else(|| ServerError::Internal("a batch item was not answered".to_owned()))?;
            if let Ok(r) = Revision::parse_token(&resp.revision) {
                revision = revision.max(r);
            }
            answers.push(resp);
        }
        Ok((answers, revision))
    }

    // ---- authorisation of the actor ----

    /// The engine's decision for `actor` holding `permission` in `account`.
    async fn decide(
        &self,
        actor: &UserId,
        account: &AccountId,
        permission: &str,
    ) -> Result<(Permission, Decision), ServerError> {
        let permission = Permission::parse(permission).map_err(|e| ServerError::Internal(e.to_string()))?;
        let request = AccessRequest {
            subject: actor.clone(),
            account: account.clone(),
            permission: permission.clone(),
            resource: None,
        };
        let (facts, _) = self.store.load_facts(&request).await?;
        Ok((permission.clone(), evaluate(&self.catalog, &request, &facts)))
    }

    /// Checks that `actor` (when there is one) holds `permission` in `account`.
    pub async fn authorize(
        &self,
        actor: Option<&UserId>,
        account: &AccountId,
        permission: &str,
    ) -> Result<(), ServerError> {
        let Some(actor) = actor else { return Ok(()) };
        let (permission, decision) = self.decide(actor, account, permission).await?;
        if decision.allowed {
            Ok(())
        } else {
            Err(ServerError::PermissionDenied {
                actor: actor.to_string(),
                permission: permission.to_string(),
                account: account.to_string(),
                reason: decision.reason.to_string(),
            })
        }
    }

    /// Checks that `actor` holds at least one of the (account, permission) pairs; the first denial
    /// is reported when none is held.
    pub async fn authorize_any(
        &self,
        actor: Option<&UserId>,
        options: &[(&AccountId, &str)],
    ) -> Result<(), ServerError> {
        let mut first = None;
        for (account, permission) in options {
            match self.authorize(actor, account, permission).await {
                Ok(()) => return Ok(()),
                Err(e @ ServerError::PermissionDenied { .. }) => {
                    first.get_or_insert(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(first.unwrap_or_else(|| ServerError::Internal("authorize_any without options".to_owned())))
    }

    /// For a call on one object of `account` (a membership, a resource, an invitation, ...): the
    /// actor must hold `permission` there. An actor with no access path into the account at all
    /// (another tenant) gets NOT_FOUND, exactly as for an id that does not exist, so that the ids of
    /// another tenant cannot be probed; an actor of the account who lacks the level gets
    /// PERMISSION_DENIED naming it.
    pub(crate) async fn authorize_object(
        &self,
        actor: Option<&UserId>,
        account: &AccountId,
        permission: &str,
        entity: &'static str,
        id: &str,
    ) -> Result<(), ServerError> {
        self.authorize_object_any(actor, &[(account, permission)], entity, id).await
    }

    /// [`App::authorize_object`] with several (account, permission) options, any one of which is
    /// enough (a delegation is reached from either side); hidden when no option's account is
    /// reachable at all.
    pub(crate) async fn authorize_object_any(
        &self,
        actor: Option<&UserId>,
        options: &[(&AccountId, &str)],
        entity: &'static str,
        id: &str,
    ) -> Result<(), ServerError> {
        let Some(actor) = actor else { return Ok(()) };
        let mut first = None;
        let mut reachable = false;
        for (account, permission) in options {
            let (permission, decision) = self.decide(actor, account, permission).await?;
            if decision.allowed {
                return Ok(());
            }
            reachable |= decision.reason != Reason::NoAccessPath;
            first.get_or_insert(ServerError::PermissionDenied {
                actor: actor.to_string(),
                permission: permission.to_string(),
                account: account.to_string(),
                reason: decision.reason.to_string(),
            });
        }
        match first {
            Some(denied) if reachable => Err(denied),
            Some(_) => Err(ServerError::NotFound { entity, id: id.to_owned() }),
            None => Err(ServerError::Internal("authorize_object_any without options".to_owned())),
        }
    }

    /// A user is reached by themselves, by the calling service, or by an actor holding
    /// `permission` in one (`every == false`) or every (`every == true`) account where the user is a
    /// member. Out of reach for a read is NOT_FOUND, so that emails cannot be probed.
    async fn reach_user(
        &self,
        actor: Option<&UserId>,
        user: &UserId,
        permission: &str,
        every: bool,
    ) -> Result<(), ServerError> {
        let Some(a) = actor else { return Ok(()) };
        if a == user {
            return Ok(());
        }
        let accounts = self.store.user_accounts(user).await?;
        // A user the actor cannot even view is out of reach: NOT_FOUND, as for an unknown id, so
        // that a change attempt does not reveal where the user belongs either.
        let view = view_of(permission);
        let visible: Vec<(&AccountId, &str)> = accounts.iter().map(|acc| (acc, view.as_str())).collect();
        if visible.is_empty() || self.authorize_any(actor, &visible).await.is_err() {
            return Err(ServerError::NotFound { entity: "user", id: user.to_string() });
        }
        if every {
            for account in &accounts {
                self.authorize(actor, account, permission).await?;
            }
            Ok(())
        } else {
            let options: Vec<(&AccountId, &str)> = accounts.iter().map(|acc| (acc, permission)).collect();
            if self.authorize_any(actor, &options).await.is_err() {
                return Err(ServerError::NotFound { entity: "user", id: user.to_string() });
            }
            Ok(())
        }
    }

    /// For calls about an account's lifecycle: the permission in its parent; a root account is
    /// managed on the calling service's own authority only.
    async fn authorize_in_parent(
        &self,
        actor: Option<&UserId>,
        parent: Option<&AccountId>,
        permission: &str,
        subject: &str,
    ) -> Result<(), ServerError> {
        match (actor, parent) {
            (None, _) => Ok(()),
            (Some(a), Some(p)) => self.authorize(Some(a), p, permission).await,
            (Some(a), None) => Err(ServerError::PermissionDenied {
                actor: a.to_string(),
                permission: permission.to_owned(),
                account: subject.to_owned(),
                reason: "root accounts are managed by the calling service itself: send the call without actor_id"
                    .to_owned(),
            }),
        }
    }

    fn audit(&self, call: &Call) -> Audit {
        Audit {
            actor: call.actor.clone(),
            service: call.service.clone(),
            trace_id: call.trace_id.clone(),
            request_id: call.request_id.clone(),
            fingerprint: call.fingerprint.clone(),
            now: self.clock.now(),
        }
    }

    // ---- accounts ----

    /// Creates an account.
    pub async fn create_account(&self, call: &Call, cmd: &NewAccount) -> Result<(Account, Revision), ServerError> {
        let actor = call.actor.as_ref();
        self.authorize_in_parent(actor, cmd.parent.as_ref(), needs::MANAGE_CHILD_ACCOUNTS, "(new root account)")
            .await?;
        Ok(self.store.create_account(cmd, &self.audit(call)).await?)
    }

    /// One account.
    pub async fn get_account(&self, call: &Call, id: &AccountId) -> Result<Account, ServerError> {
        let actor = call.actor.as_ref();
        self.authorize(actor, id, needs::VIEW_ACCOUNT).await?;
        Ok(self.store.get_account(id).await?)
    }

    /// Accounts; an actor must name a parent it may view the children of.
    pub async fn list_accounts(
        &self,
        call: &Call,
        filter: &AccountFilter,
        page: &PageRequest,
    ) -> Result<Page<Account>, ServerError> {
        let actor = call.actor.as_ref();
        match (actor, &filter.parent) {
            (Some(_), None) => {
                return Err(ServerError::invalid(
                    "parent_id",
                    "required when actor_id is set: list the children of an account the actor may view",
                ));
            }
            (Some(_), Some(p)) => self.authorize(actor, p, needs::VIEW_CHILD_ACCOUNTS).await?,
            (None, _) => {}
        }
        Ok(self.store.list_accounts(filter, page).await?)
    }

    /// Children (or all descendants) of an account.
    pub async fn list_children(
        &self,
        call: &Call,
        id: &AccountId,
        recursive: bool,
        page: &PageRequest,
    ) -> Result<Page<Account>, ServerError> {
        let actor = call.actor.as_ref();
        self.authorize(actor, id, needs::VIEW_CHILD_ACCOUNTS).await?;
        Ok(self.store.list_children(id, recursive, page).await?)
    }

    /// Renames an account.
    pub async fn rename_account(
        &self,
        call: &Call,
        id: &AccountId,
        name: Option<&str>,
    ) -> Result<(Account, Revision), ServerError> {
        let actor = call.actor.as_ref();
        self.authorize(actor, id, needs::EDIT_ACCOUNT).await?;
        match name {
            Some(n) => Ok(self.store.rename_account(id, n, &self.audit(call)).await?),
            None => {
                let account = self.store.get_account(id).await?;
                Ok((account, self.store.revision().await?))
            }
        }
    }

    async fn parent_of(&self, id: &AccountId) -> Result<Option<AccountId>, ServerError> {
        Ok(self.store.get_account(id).await?.parent)
    }

    /// Suspends or reactivates an account.
    pub async fn set_account_status(
        &self,
        call: &Call,
        id: &AccountId,
        status: AccountStatus,
        reason: Option<String>,
    ) -> Result<(Account, Revision), ServerError> {
        let actor = call.actor.as_ref();
        let parent = self.parent_of(id).await?;
        self.authorize_in_parent(actor, parent.as_ref(), needs::MANAGE_CHILD_ACCOUNTS, id.as_str()).await?;
        Ok(self.store.set_account_status(id, status, reason, &self.audit(call)).await?)
    }

    /// Replaces an account's enabled modules.
    pub async fn set_account_modules(
        &self,
        call: &Call,
        id: &AccountId,
        modules: &BTreeSet<FeatureName>,
    ) -> Result<(Account, Revision), ServerError> {
        let actor = call.actor.as_ref();
        let parent = self.parent_of(id).await?;
        self.authorize_in_parent(actor, parent.as_ref(), needs::MANAGE_CHILD_ACCOUNTS, id.as_str()).await?;
        Ok(self.store.set_account_modules(id, modules, &self.audit(call)).await?)
    }

    /// Replaces an account's settings.
    pub async fn set_account_settings(
        &self,
        call: &Call,
        id: &AccountId,
        settings: &AccountSettings,
    ) -> Result<(Account, Revision), ServerError> {
        let actor = call.actor.as_ref();
        self.authorize(actor, id, needs::EDIT_ACCOUNT).await?;
        Ok(self.store.set_account_settings(id, settings, &self.audit(call)).await?)
    }

    // ---- users ----

    /// Creates a user; an actor must hold `users:full` in `account`, whose email policy applies
    /// (a refusal is FAILED_PRECONDITION; a flag comes back as the third value).
    pub async fn create_user(
        &self,
        call: &Call,
        account: Option<&AccountId>,
        cmd: &NewUser,
    ) -> Result<(User, Revision, Option<String>), ServerError> {
        let actor = call.actor.as_ref();
        if actor.is_some() {
            let Some(account) = account else {
                return Err(ServerError::invalid(
                    "account_id",
                    "required when actor_id is set: the account the actor adds the user to",
                ));
            };
            self.authorize(actor, account, needs::MANAGE_USERS).await?;
        }
        let flag = match account {
            Some(account) => self.email_policy(account, &cmd.email).await?,
            None => None,
        };
        let (user, revision) = self.store.create_user(cmd, &self.audit(call)).await?;
        Ok((user, revision, flag))
    }

    /// One user: the user themselves, or an actor holding `users:view` where the user is a member.
    pub async fn get_user(&self, call: &Call, id: &UserId) -> Result<User, ServerError> {
        let actor = call.actor.as_ref();
        let user = self.store.get_user(id).await?;
        self.reach_user(actor, id, needs::VIEW_USERS, false).await?;
        Ok(user)
    }

    /// The user with this email, under the same rule as [`App::get_user`].
    pub async fn find_user_by_email(&self, call: &Call, email: &Email) -> Result<User, ServerError> {
        let actor = call.actor.as_ref();
        let user = self.store.find_user_by_email(email).await?;
        self.reach_user(actor, &user.id, needs::VIEW_USERS, false)
            .await
            .map_err(|_| ServerError::NotFound { entity: "user with email", id: email.to_string() })?;
        Ok(user)
    }

    /// Changes a user's profile: the user themselves, or `users:full` in every account of theirs.
    pub async fn update_user(
        &self,
        call: &Call,
        id: &UserId,
        changes: &UserChanges,
    ) -> Result<(User, Revision), ServerError> {
        let actor = call.actor.as_ref();
        self.store.get_user(id).await?;
        self.reach_user(actor, id, needs::MANAGE_USERS, true).await?;
        Ok(self.store.update_user(id, changes, &self.audit(call)).await?)
    }

    /// Suspends or reactivates a user everywhere: `users:full` in every account of theirs; an
    /// actor cannot change their own status.
    pub async fn set_user_status(
        &self,
        call: &Call,
        id: &UserId,
        status: UserStatus,
    ) -> Result<(User, Revision), ServerError> {
        let actor = call.actor.as_ref();
        self.store.get_user(id).await?;
        if let Some(a) = actor.filter(|a| *a == id) {
            return Err(ServerError::PermissionDenied {
                actor: a.to_string(),
                permission: needs::MANAGE_USERS.to_owned(),
                account: String::new(),
                reason: "an actor cannot suspend or reactivate themselves".to_owned(),
            });
        }
        self.reach_user(actor, id, needs::MANAGE_USERS, true).await?;
        Ok(self.store.set_user_status(id, status, &self.audit(call)).await?)
    }

    /// The user's memberships with their accounts, for the account switcher.
    pub async fn my_accounts(
        &self,
        user: &UserId,
        page: &PageRequest,
    ) -> Result<(Vec<(Membership, Account)>, Option<String>, Option<AccountId>), ServerError> {
        self.store.get_user(user).await?;
        let filter = MembershipFilter { user: Some(user.clone()), ..MembershipFilter::default() };
        let memberships = self.store.list_memberships(&filter, page).await?;
        let mut out = Vec::with_capacity(memberships.items.len());
        for m in memberships.items {
            let account = self.store.get_account(&m.account).await?;
            out.push((m, account));
        }
        let usable: Vec<&AccountId> = out
            .iter()
            .filter(|(m, a)| m.status == MembershipStatus::Active && a.status == AccountStatus::Active)
            .map(|(_, a)| &a.id)
            .collect();
        let default =
            (page.after.is_none() && memberships.next_after.is_none() && usable.len() == 1).then(|| usable[0].clone());
        Ok((out, memberships.next_after, default))
    }

    // ---- roles ----

    /// Built-in and custom roles of an account.
    pub async fn list_roles(&self, call: &Call, account: &AccountId) -> Result<Vec<AccountRole>, ServerError> {
        let actor = call.actor.as_ref();
        self.authorize(actor, account, needs::VIEW_USERS).await?;
        Ok(self.store.list_roles(account).await?)
    }

    /// One role.
    pub async fn get_role(
        &self,
        call: &Call,
        account: &AccountId,
        name: &RoleName,
    ) -> Result<AccountRole, ServerError> {
        let actor = call.actor.as_ref();
        self.authorize(actor, account, needs::VIEW_USERS).await?;
        Ok(self.store.get_role(account, name).await?)
    }

    /// Creates a custom role.
    pub async fn create_role(&self, call: &Call, def: &RoleDefinition) -> Result<(AccountRole, Revision), ServerError> {
        let actor = call.actor.as_ref();
        self.authorize(actor, &def.account, needs::MANAGE_USERS).await?;
        Ok(self.store.create_role(def, &self.audit(call)).await?)
    }

    /// Replaces a custom role.
    pub async fn update_role(&self, call: &Call, def: &RoleDefinition) -> Result<(AccountRole, Revision), ServerError> {
        let actor = call.actor.as_ref();
        self.authorize(actor, &def.account, needs::MANAGE_USERS).await?;
        Ok(self.store.update_role(def, &self.audit(call)).await?)
    }

    /// Deletes an unused custom role.
    pub async fn delete_role(
        &self,
        call: &Call,
        account: &AccountId,
        name: &RoleName,
    ) -> Result<Revision, ServerError> {
        let actor = call.actor.as_ref();
        self.authorize(actor, account, needs::MANAGE_USERS).await?;
        Ok(self.store.delete_role(account, name, &self.audit(call)).await?)
    }

    // ---- memberships ----

    /// The membership, when the actor holds `permission` in its account (NOT_FOUND when out of
    /// reach, see [`App::authorize_object`]).
    pub(crate) async fn authorize_membership(
        &self,
        actor: Option<&UserId>,
        id: &MembershipId,
        permission: &str,
    ) -> Result<Membership, ServerError> {
        let m = self.store.get_membership(id).await?;
        if actor == Some(&m.user) {
            // One's own membership is never hidden from oneself.
            self.authorize(actor, &m.account, permission).await?;
        } else {
            self.authorize_object(actor, &m.account, permission, "membership", id.as_str()).await?;
        }
        Ok(m)
    }

    /// Creates a membership.
    pub async fn create_membership(
        &self,
        call: &Call,
        cmd: &NewMembership,
    ) -> Result<(Membership, Revision), ServerError> {
        let actor = call.actor.as_ref();
        self.authorize(actor, &cmd.account, needs::MANAGE_USERS).await?;
        self.ensure_no_escalation(actor, &cmd.account, &cmd.roles).await?;
        Ok(self.store.create_membership(cmd, &self.audit(call)).await?)
    }

    /// One membership.
    pub async fn get_membership(&self, call: &Call, id: &MembershipId) -> Result<Membership, ServerError> {
        let actor = call.actor.as_ref();
        let m = self.store.get_membership(id).await?;
        if actor != Some(&m.user) {
            self.authorize_object(actor, &m.account, needs::VIEW_USERS, "membership", id.as_str()).await?;
        }
        Ok(m)
    }

    /// Memberships of an account or of a user.
    pub async fn list_memberships(
        &self,
        call: &Call,
        filter: &MembershipFilter,
        page: &PageRequest,
    ) -> Result<Page<Membership>, ServerError> {
        let actor = call.actor.as_ref();
        match (&filter.account, &filter.user) {
            (None, None) => {
                return Err(ServerError::invalid("account_id", "account_id or user_id is required"));
            }
            (Some(a), _) => self.authorize(actor, a, needs::VIEW_USERS).await?,
            (None, Some(u)) => {
                if actor.is_some_and(|a| a != u) {
                    return Err(ServerError::invalid(
                        "account_id",
                        "required when actor_id is set and is not user_id: list the members of an account",
                    ));
                }
            }
        }
        Ok(self.store.list_memberships(filter, page).await?)
    }

    /// Replaces a membership's roles.
    pub async fn set_membership_roles(
        &self,
        call: &Call,
        id: &MembershipId,
        roles: &[RoleName],
    ) -> Result<(Membership, Revision), ServerError> {
        let actor = call.actor.as_ref();
        let m = self.authorize_membership(actor, id, needs::MANAGE_USERS).await?;
        self.ensure_no_escalation(actor, &m.account, roles).await?;
        Ok(self.store.set_membership_roles(id, roles, &self.audit(call)).await?)
    }

    /// Adds a role.
    pub async fn assign_role(
        &self,
        call: &Call,
        id: &MembershipId,
        role: &RoleName,
    ) -> Result<(Membership, Revision), ServerError> {
        let actor = call.actor.as_ref();
        let m = self.authorize_membership(actor, id, needs::MANAGE_USERS).await?;
        self.ensure_no_escalation(actor, &m.account, std::slice::from_ref(role)).await?;
        Ok(self.store.assign_role(id, role, &self.audit(call)).await?)
    }

    /// Removes a role.
    pub async fn unassign_role(
        &self,
        call: &Call,
        id: &MembershipId,
        role: &RoleName,
    ) -> Result<(Membership, Revision), ServerError> {
        let actor = call.actor.as_ref();
        self.authorize_membership(actor, id, needs::MANAGE_USERS).await?;
        Ok(self.store.unassign_role(id, role, &self.audit(call)).await?)
    }

    /// Restricts a membership to some resources, or lifts the restriction.
    pub async fn set_resource_restriction(
        &self,
        call: &Call,
        id: &MembershipId,
        restriction: Option<&BTreeSet<ResourceId>>,
    ) -> Result<(Membership, Revision), ServerError> {
        let actor = call.actor.as_ref();
        self.authorize_membership(actor, id, needs::MANAGE_USERS).await?;
        Ok(self.store.set_resource_restriction(id, restriction, &self.audit(call)).await?)
    }

    /// Suspends or reactivates a membership.
    pub async fn set_membership_status(
        &self,
        call: &Call,
        id: &MembershipId,
        status: MembershipStatus,
    ) -> Result<(Membership, Revision), ServerError> {
        let actor = call.actor.as_ref();
        self.authorize_membership(actor, id, needs::MANAGE_USERS).await?;
        Ok(self.store.set_membership_status(id, status, false, &self.audit(call)).await?)
    }

    /// Removes a membership.
    pub async fn delete_membership(&self, call: &Call, id: &MembershipId) -> Result<Revision, ServerError> {
        let actor = call.actor.as_ref();
        self.authorize_membership(actor, id, needs::MANAGE_USERS).await?;
        Ok(self.store.delete_membership(id, &self.audit(call)).await?)
    }

    // ---- resources ----

    /// Creates a resource.
    pub async fn create_resource(&self, call: &Call, cmd: &NewResource) -> Result<(Resource, Revision), ServerError> {
        let actor = call.actor.as_ref();
        self.authorize(actor, &cmd.account, needs::MANAGE_FOLDERS).await?;
        Ok(self.store.create_resource(cmd, &self.audit(call)).await?)
    }

    /// One resource.
    pub async fn get_resource(&self, call: &Call, id: &ResourceId) -> Result<Resource, ServerError> {
        let actor = call.actor.as_ref();
        let r = self.store.get_resource(id).await?;
        self.authorize_object(actor, &r.account, needs::VIEW_FOLDERS, "resource", id.as_str()).await?;
        Ok(r)
    }

    /// Resources of an account.
    pub async fn list_resources(
        &self,
        call: &Call,
        account: &AccountId,
        kind: Option<&FeatureName>,
        page: &PageRequest,
    ) -> Result<Page<Resource>, ServerError> {
        let actor = call.actor.as_ref();
        self.authorize(actor, account, needs::VIEW_FOLDERS).await?;
        Ok(self.store.list_resources(account, kind, page).await?)
    }

    /// Deletes a resource.
    pub async fn delete_resource(&self, call: &Call, id: &ResourceId) -> Result<Revision, ServerError> {
        let actor = call.actor.as_ref();
        let r = self.store.get_resource(id).await?;
        self.authorize_object(actor, &r.account, needs::MANAGE_FOLDERS, "resource", id.as_str()).await?;
        Ok(self.store.delete_resource(id, &self.audit(call)).await?)
    }

    // ---- delegations ----

    /// Enables a delegation from a partner into one of its descendant accounts.
    pub async fn create_delegation(
        &self,
        call: &Call,
        cmd: &NewDelegation,
    ) -> Result<(Delegation, Revision), ServerError> {
        let actor = call.actor.as_ref();
        self.authorize(actor, &cmd.from_account, needs::MANAGE_DELEGATIONS).await?;
        Ok(self.store.create_delegation(cmd, &self.audit(call)).await?)
    }

    /// One delegation.
    pub async fn get_delegation(&self, call: &Call, id: &DelegationId) -> Result<Delegation, ServerError> {
        let actor = call.actor.as_ref();
        let d = self.store.get_delegation(id).await?;
        self.authorize_object_any(
            actor,
            &[(&d.from_account, needs::VIEW_DELEGATIONS), (&d.to_account, needs::VIEW_DELEGATIONS)],
            "delegation",
            id.as_str(),
        )
        .await?;
        Ok(d)
    }

    /// Delegations from and/or to an account.
    pub async fn list_delegations(
        &self,
        call: &Call,
        from: Option<&AccountId>,
        to: Option<&AccountId>,
        page: &PageRequest,
    ) -> Result<Page<Delegation>, ServerError> {
        let actor = call.actor.as_ref();
        match (from, to) {
            (None, None) => {
                return Err(ServerError::invalid("from_account_id", "from_account_id or to_account_id is required"));
            }
            (Some(f), _) => self.authorize(actor, f, needs::VIEW_DELEGATIONS).await?,
            (None, Some(t)) => self.authorize(actor, t, needs::VIEW_DELEGATIONS).await?,
        }
        Ok(self.store.list_delegations(from, to, page).await?)
    }

    /// Disables a delegation.
    pub async fn delete_delegation(&self, call: &Call, id: &DelegationId) -> Result<Revision, ServerError> {
        let actor = call.actor.as_ref();
        let d = self.store.get_delegation(id).await?;
        self.authorize_object_any(
            actor,
            &[(&d.from_account, needs::MANAGE_DELEGATIONS), (&d.to_account, needs::MANAGE_USERS)],
            "delegation",
            id.as_str(),
        )
        .await?;
        Ok(self.store.delete_delegation(id, &self.audit(call)).await?)
    }

    // ---- events ----

    /// Audit events of an account, for an actor holding `event_logs:view` there.
    pub async fn list_events(
        &self,
        call: &Call,
        filter: &EventFilter,
        page: &PageRequest,
    ) -> Result<Page<guichet_domain::Event>, ServerError> {
        let Some(account) = &filter.account else {
            return Err(ServerError::invalid("account_id", "is required"));
        };
        self.store.get_account(account).await?;
        self.authorize(call.actor.as_ref(), account, needs::VIEW_EVENTS).await?;
        Ok(self.store.list_events(filter, page).await?)
    }
}
