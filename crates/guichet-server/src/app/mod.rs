//! The application layer: one method per use case, in domain types. Handlers convert the request,
//! call one method here, and convert the result back; the rules live in the domain crate and the
//! queries in the store.
//!
//! **Who may call what.** A management request may name an *actor* — the person the calling
//! service acts for. guichet then authorises the actor itself, with the same engine that answers
//! CheckAccess, against what the rule book (`guichet_domain::rules`) requires of the call's
//! [`Operation`](guichet_domain::Operation), and checks the rule book's invariants on what the
//! call would change (see `rules.rs` of this module). A request without an actor is made on the
//! calling service's own authority (a back-office job, the demo loader).

mod access;
mod lookups;
mod rules;
mod watch;

pub use access::{Accessible, Checked};
pub(crate) use watch::Changes;

pub(crate) use rules::Hidden;

use std::collections::BTreeSet;
use std::sync::Arc;

use guichet_domain::{
    Account, AccountId, AccountRole, AccountStatus, Catalog, Delegation, DelegationId, Email, FeatureName, Membership,
    MembershipId, MembershipStatus, NewAccount, NewDelegation, NewMembership, NewResource, NewUser, Operation,
    ProfileEditor, Resource, ResourceId, Restriction, Revision, RoleDefinition, RoleName, SettingsChange, User, UserId,
    UserStatus, Violation, check_descendant_levels, check_pending_frozen, check_profile_change, check_role_definition,
    check_role_limit,
};
use guichet_store::{AccountFilter, Audit, EventFilter, MembershipFilter, Page, PageRequest, Store, UserChanges};

use crate::cache::DecisionCache;
use crate::clock::SharedClock;
use crate::error::ServerError;

mod invitations;

mod contacts;

#[cfg(test)]
mod invalidation_tests;
#[cfg(test)]
mod measure;

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
    /// The store's revision when the call's rules were checked: its write commits only if nothing
    /// was written since (see `services::once`, which admits it again otherwise).
    pub admitted_at: Option<Revision>,
}

impl Call {
    /// A call on the calling service's own authority.
    pub fn service() -> Self {
        Self::default()
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

    fn audit(&self, call: &Call) -> Audit {
        Audit {
            actor: call.actor.clone(),
            service: call.service.clone(),
            trace_id: call.trace_id.clone(),
            request_id: call.request_id.clone(),
            fingerprint: call.fingerprint.clone(),
            now: self.clock.now(),
            admitted_at: call.admitted_at,
        }
    }

    // ---- accounts ----

    /// Creates an account.
    pub async fn create_account(&self, call: &Call, cmd: &NewAccount) -> Result<(Account, Revision), ServerError> {
        self.admit(call, &Operation::CreateAccount { parent: cmd.parent.clone() }).await?;
        Ok(self.store.create_account(cmd, &self.audit(call)).await?)
    }

    /// One account.
    pub async fn get_account(&self, call: &Call, id: &AccountId) -> Result<Account, ServerError> {
        self.admit(call, &Operation::GetAccount(id.clone())).await?;
        Ok(self.store.get_account(id).await?)
    }

    /// Accounts; an actor must name a parent it may view the children of.
    pub async fn list_accounts(
        &self,
        call: &Call,
        filter: &AccountFilter,
        page: &PageRequest,
    ) -> Result<Page<Account>, ServerError> {
        if call.actor.is_some() && filter.parent.is_none() {
            return Err(ServerError::invalid(
                "parent_id",
                "required when actor_id is set: list the children of an account the actor may view",
            ));
        }
        self.admit(call, &Operation::ListAccounts { parent: filter.parent.clone() }).await?;
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
        self.admit(call, &Operation::ListChildAccounts(id.clone())).await?;
        Ok(self.store.list_children(id, recursive, page).await?)
    }

    /// Renames an account.
    pub async fn rename_account(
        &self,
        call: &Call,
        id: &AccountId,
        name: Option<&str>,
    ) -> Result<(Account, Revision), ServerError> {
        self.admit(call, &Operation::EditAccount(id.clone())).await?;
        match name {
            Some(n) => Ok(self.store.rename_account(id, n, &self.audit(call)).await?),
            None => {
                let account = self.store.get_account(id).await?;
                Ok((account, self.store.revision().await?))
            }
        }
    }

    /// The lifecycle operation of an account: decided in its parent. An actor who cannot reach
    /// the account at all gets NOT_FOUND, as for an unknown id.
    async fn admit_lifecycle(&self, call: &Call, id: &AccountId) -> Result<(), ServerError> {
        let account = self.store.get_account(id).await?;
        if let (Some(actor), None) = (call.actor.as_ref(), &account.parent) {
            // A root is managed by the calling service only; an actor who cannot reach it at all
            // is not told that it exists (nor that it is a root).
            if self.reaches_at_all(actor, id).await? {
                let op = Operation::AccountLifecycle { account: id.clone(), parent: None };
                return self.admit(call, &op).await;
            }
            return Err(ServerError::NotFound { entity: "account", id: id.to_string() });
        }
        let op = Operation::AccountLifecycle { account: id.clone(), parent: account.parent.clone() };
        match call.actor.as_ref() {
            // A member of the account is told what it lacks in the parent.
            Some(actor) if self.reaches_at_all(actor, id).await? => self.admit_visible(call, &op).await,
            Some(_) | None => self.admit_object(call, &op, Hidden { entity: "account", id: id.as_str() }).await,
        }
    }

    /// Suspends or reactivates an account.
    pub async fn set_account_status(
        &self,
        call: &Call,
        id: &AccountId,
        status: AccountStatus,
        reason: Option<String>,
    ) -> Result<(Account, Revision), ServerError> {
        self.admit_lifecycle(call, id).await?;
        Ok(self.store.set_account_status(id, status, reason, &self.audit(call)).await?)
    }

    /// Replaces an account's enabled modules. Not an escalation: every grant was compared without
    /// the module cap (see `guichet_domain::rules`).
    pub async fn set_account_modules(
        &self,
        call: &Call,
        id: &AccountId,
        modules: &BTreeSet<FeatureName>,
    ) -> Result<(Account, Revision), ServerError> {
        self.admit_lifecycle(call, id).await?;
        Ok(self.store.set_account_modules(id, modules, &self.audit(call)).await?)
    }

    /// Changes an account's settings (what the change leaves out keeps its value).
    pub async fn set_account_settings(
        &self,
        call: &Call,
        id: &AccountId,
        change: &SettingsChange,
    ) -> Result<(Account, Revision), ServerError> {
        self.admit(call, &Operation::EditAccount(id.clone())).await?;
        Ok(self.store.set_account_settings(id, change, &self.audit(call)).await?)
    }

    // ---- users ----

    /// Creates a user; an actor must hold `users:full` in `account`, whose email policy applies
    /// (a refusal is FAILED_PRECONDITION; a flag comes back as the third value). The profile stays
    /// unclaimed until its owner proves the email; an actor cannot set its `idp_subject`, which is
    /// the identity provider's word, given by the calling service or by the owner.
    pub async fn create_user(
        &self,
        call: &Call,
        account: Option<&AccountId>,
        cmd: &NewUser,
    ) -> Result<(User, Revision, Option<String>), ServerError> {
        if call.actor.is_some() && account.is_none() {
            return Err(ServerError::invalid(
                "account_id",
                "required when actor_id is set: the account the actor adds the user to",
            ));
        }
        self.admit(call, &Operation::CreateUser { account: account.cloned() }).await?;
        if call.actor.is_some() && cmd.idp_subject.is_some() {
            let user = cmd.id.as_ref().map_or_else(|| UserId::from_trusted("(new user)"), Clone::clone);
            return Err(Self::violation(
                call,
                "idp_subject",
                Violation::Profile {
                    user,
                    why: "is linked to an identity provider by the calling service or its owner only",
                },
            ));
        }
        let flag = match account {
            Some(account) => self.email_policy(account, &cmd.email).await?,
            None => None,
        };
        let (user, revision) = self.store.create_user(cmd, &self.audit(call)).await?;
        Ok((user, revision, flag))
    }

    /// The operation on a user, with the accounts where they are a member.
    async fn user_operation(&self, id: &UserId, manage: Option<bool>) -> Result<Operation, ServerError> {
        let accounts = self.store.user_accounts(id).await?;
        Ok(match manage {
            None => Operation::ViewUser { user: id.clone(), accounts },
            Some(status) => Operation::ManageUser { user: id.clone(), accounts, status },
        })
    }

    /// One user: the user themselves, or an actor holding `users:view` where the user is a member.
    pub async fn get_user(&self, call: &Call, id: &UserId) -> Result<User, ServerError> {
        let user = self.store.get_user(id).await?;
        let op = self.user_operation(id, None).await?;
        self.admit_object(call, &op, Hidden { entity: "user", id: id.as_str() }).await?;
        Ok(user)
    }

    /// The user with this email, under the same rule as [`App::get_user`].
    pub async fn find_user_by_email(&self, call: &Call, email: &Email) -> Result<User, ServerError> {
        let user = self.store.find_user_by_email(email).await?;
        let op = self.user_operation(&user.id, None).await?;
        self.admit_object(call, &op, Hidden { entity: "user with email", id: email.as_str() }).await?;
        Ok(user)
    }

    /// Changes a user's profile: the user themselves while active, or `users:full` in every
    /// account of theirs while the profile is unclaimed (identity, see `guichet_domain::rules`).
    pub async fn update_user(
        &self,
        call: &Call,
        id: &UserId,
        changes: &UserChanges,
    ) -> Result<(User, Revision), ServerError> {
        let user = self.store.get_user(id).await?;
        let op = self.user_operation(id, Some(false)).await?;
        self.admit_object(call, &op, Hidden { entity: "user", id: id.as_str() }).await?;
        if let Some(actor) = call.actor.as_ref() {
            let editor = if actor == id { ProfileEditor::Owner } else { ProfileEditor::Administrator };
            check_profile_change(id, editor, user.status == UserStatus::Suspended, user.claimed_at.is_some())
                .map_err(|v| Self::violation(call, format!("users/{id}"), v))?;
            if editor == ProfileEditor::Administrator && changes.idp_subject.is_some() {
                return Err(Self::violation(
                    call,
                    format!("users/{id}"),
                    Violation::Profile {
                        user: id.clone(),
                        why: "is linked to an identity provider by the calling service or its owner only",
                    },
                ));
            }
        }
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
        self.store.get_user(id).await?;
        let op = self.user_operation(id, Some(true)).await?;
        self.admit_object(call, &op, Hidden { entity: "user", id: id.as_str() }).await?;
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
        self.admit(call, &Operation::ViewRoles(account.clone())).await?;
        Ok(self.store.list_roles(account).await?)
    }

    /// One role.
    pub async fn get_role(
        &self,
        call: &Call,
        account: &AccountId,
        name: &RoleName,
    ) -> Result<AccountRole, ServerError> {
        self.admit(call, &Operation::ViewRoles(account.clone())).await?;
        Ok(self.store.get_role(account, name).await?)
    }

    /// What a role definition must keep whoever asks: descendant levels only as the kind's
    /// built-in roles carry them; and on an actor's authority, nothing beyond the actor's reach.
    async fn ensure_role_definition(&self, call: &Call, def: &RoleDefinition) -> Result<(), ServerError> {
        self.admit(call, &Operation::ManageRoles(def.account.clone())).await?;
        let account = self.store.get_account(&def.account).await?;
        let subject = format!("accounts/{}/roles/{}", def.account, def.name);
        check_descendant_levels(&self.catalog, &account.kind, &def.descendant_grants)
            .map_err(|v| Self::violation(call, subject.clone(), v))?;
        if let Some(actor) = call.actor.as_ref() {
            let reach = self.reach(actor, &def.account, None).await?;
            check_role_definition(&def.grants, &def.descendant_grants, &reach)
                .map_err(|v| Self::violation(call, subject, v))?;
        }
        Ok(())
    }

    /// Creates a custom role.
    pub async fn create_role(&self, call: &Call, def: &RoleDefinition) -> Result<(AccountRole, Revision), ServerError> {
        self.ensure_role_definition(call, def).await?;
        Ok(self.store.create_role(def, &self.audit(call)).await?)
    }

    /// Replaces a custom role.
    pub async fn update_role(&self, call: &Call, def: &RoleDefinition) -> Result<(AccountRole, Revision), ServerError> {
        self.ensure_role_definition(call, def).await?;
        Ok(self.store.update_role(def, &self.audit(call)).await?)
    }

    /// Deletes an unused custom role.
    pub async fn delete_role(
        &self,
        call: &Call,
        account: &AccountId,
        name: &RoleName,
    ) -> Result<Revision, ServerError> {
        self.admit(call, &Operation::ManageRoles(account.clone())).await?;
        Ok(self.store.delete_role(account, name, &self.audit(call)).await?)
    }

    // ---- memberships ----

    /// The membership, when the call's actor may manage the memberships of its account (NOT_FOUND
    /// when out of reach); a pending membership is frozen for its requester (four-eyes).
    pub(crate) async fn managed_membership(&self, call: &Call, id: &MembershipId) -> Result<Membership, ServerError> {
        let m = self.store.get_membership(id).await?;
        let op = Operation::ManageMemberships(m.account.clone());
        self.admit_object(call, &op, Hidden { entity: "membership", id: id.as_str() }).await?;
        if let Some(actor) = call.actor.as_ref() {
            check_pending_frozen(actor, id, m.status, m.created_by.as_ref())
                .map_err(|v| Self::violation(call, format!("memberships/{id}"), v))?;
        }
        Ok(m)
    }

    /// Creates a membership. On an actor's authority the user must already be reachable by the
    /// actor (a member where it may view users) or be a profile of no account yet; others join by
    /// invitation (identity, see `guichet_domain::rules`). The account's email
    /// policy applies on every authority.
    pub async fn create_membership(
        &self,
        call: &Call,
        cmd: &NewMembership,
    ) -> Result<(Membership, Revision), ServerError> {
        self.admit(call, &Operation::ManageMemberships(cmd.account.clone())).await?;
        check_role_limit(&cmd.roles).map_err(|v| Self::violation(call, format!("accounts/{}", cmd.account), v))?;
        let unknown_user = || ServerError::NotFound { entity: "user", id: cmd.user.to_string() };
        // An unknown id and a user out of the actor's reach answer alike.
        let user = self.store.get_user(&cmd.user).await?;
        if call.actor.is_some() {
            let accounts = self.store.user_accounts(&cmd.user).await?;
            // A profile of no account belongs to no tenant yet: any administrator may add it.
            if !accounts.is_empty() {
                let op = Operation::ViewUser { user: cmd.user.clone(), accounts };
                match self.admit(call, &op).await {
                    Ok(()) => {}
                    Err(ServerError::NotFound { .. } | ServerError::PermissionDenied { .. }) => {
                        return Err(unknown_user());
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        self.email_policy(&cmd.account, &user.email).await?;
        self.ensure_grant(call, &cmd.account, Some(&cmd.user), &cmd.roles, cmd.restriction.as_ref()).await?;
        Ok(self.store.create_membership(cmd, &self.audit(call)).await?)
    }

    /// One membership.
    pub async fn get_membership(&self, call: &Call, id: &MembershipId) -> Result<Membership, ServerError> {
        let m = self.store.get_membership(id).await?;
        let op = Operation::ViewMemberships { account: m.account.clone(), user: Some(m.user.clone()) };
        self.admit_object(call, &op, Hidden { entity: "membership", id: id.as_str() }).await?;
        Ok(m)
    }

    /// Memberships of an account or of a user.
    pub async fn list_memberships(
        &self,
        call: &Call,
        filter: &MembershipFilter,
        page: &PageRequest,
    ) -> Result<Page<Membership>, ServerError> {
        match (&filter.account, &filter.user) {
            (None, None) => {
                return Err(ServerError::invalid("account_id", "account_id or user_id is required"));
            }
            (Some(a), _) => self.admit(call, &Operation::ViewMemberships { account: a.clone(), user: None }).await?,
            (None, Some(u)) => {
                if call.actor.as_ref().is_some_and(|a| a != u) {
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
        let m = self.managed_membership(call, id).await?;
        check_role_limit(roles).map_err(|v| Self::violation(call, format!("memberships/{id}"), v))?;
        self.ensure_grant(call, &m.account, Some(&m.user), roles, m.restriction.as_ref()).await?;
        Ok(self.store.set_membership_roles(id, roles, &self.audit(call)).await?)
    }

    /// Adds a role. The store re-reads the roles inside its write: two concurrent calls both
    /// take effect.
    pub async fn assign_role(
        &self,
        call: &Call,
        id: &MembershipId,
        role: &RoleName,
    ) -> Result<(Membership, Revision), ServerError> {
        let m = self.managed_membership(call, id).await?;
        self.ensure_grant(call, &m.account, Some(&m.user), std::slice::from_ref(role), m.restriction.as_ref()).await?;
        Ok(self.store.assign_role(id, role, &self.audit(call)).await?)
    }

    /// Removes a role.
    pub async fn unassign_role(
        &self,
        call: &Call,
        id: &MembershipId,
        role: &RoleName,
    ) -> Result<(Membership, Revision), ServerError> {
        self.managed_membership(call, id).await?;
        Ok(self.store.unassign_role(id, role, &self.audit(call)).await?)
    }

    /// Restricts a membership to some resources, or lifts the restriction: the membership's roles
    /// over the new restriction must be within the actor's reach.
    pub async fn set_resource_restriction(
        &self,
        call: &Call,
        id: &MembershipId,
        restriction: Option<&Restriction>,
    ) -> Result<(Membership, Revision), ServerError> {
        let m = self.managed_membership(call, id).await?;
        self.ensure_grant(call, &m.account, Some(&m.user), &m.roles, restriction).await?;
        Ok(self.store.set_resource_restriction(id, restriction, &self.audit(call)).await?)
    }

    /// Suspends or reactivates a membership; reactivating gives its roles back, so they must be
    /// within the actor's reach.
    pub async fn set_membership_status(
        &self,
        call: &Call,
        id: &MembershipId,
        status: MembershipStatus,
    ) -> Result<(Membership, Revision), ServerError> {
        let m = self.managed_membership(call, id).await?;
        if status == MembershipStatus::Active {
            self.ensure_grant(call, &m.account, Some(&m.user), &m.roles, m.restriction.as_ref()).await?;
        }
        Ok(self.store.set_membership_status(id, status, false, &self.audit(call)).await?)
    }

    /// Removes a membership.
    pub async fn delete_membership(&self, call: &Call, id: &MembershipId) -> Result<Revision, ServerError> {
        let m = self.store.get_membership(id).await?;
        let op = Operation::ManageMemberships(m.account.clone());
        self.admit_object(call, &op, Hidden { entity: "membership", id: id.as_str() }).await?;
        Ok(self.store.delete_membership(id, &self.audit(call)).await?)
    }

    // ---- resources ----

    /// Creates a resource.
    pub async fn create_resource(&self, call: &Call, cmd: &NewResource) -> Result<(Resource, Revision), ServerError> {
        self.admit(call, &Operation::ManageResources(cmd.account.clone())).await?;
        Ok(self.store.create_resource(cmd, &self.audit(call)).await?)
    }

    /// One resource.
    pub async fn get_resource(&self, call: &Call, id: &ResourceId) -> Result<Resource, ServerError> {
        let r = self.store.get_resource(id).await?;
        let op = Operation::ViewResources(r.account.clone());
        self.admit_object(call, &op, Hidden { entity: "resource", id: id.as_str() }).await?;
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
        self.admit(call, &Operation::ViewResources(account.clone())).await?;
        Ok(self.store.list_resources(account, kind, page).await?)
    }

    /// Deletes a resource.
    pub async fn delete_resource(&self, call: &Call, id: &ResourceId) -> Result<Revision, ServerError> {
        let r = self.store.get_resource(id).await?;
        let op = Operation::ManageResources(r.account.clone());
        self.admit_object(call, &op, Hidden { entity: "resource", id: id.as_str() }).await?;
        Ok(self.store.delete_resource(id, &self.audit(call)).await?)
    }

    // ---- delegations ----

    /// Enables a delegation from a partner into one of its descendant accounts. The customer side
    /// decides (`users:full` there), and the delegation's role must be within the actor's reach
    /// in the customer: a partner cannot hand itself access it does not hold.
    pub async fn create_delegation(
        &self,
        call: &Call,
        cmd: &NewDelegation,
    ) -> Result<(Delegation, Revision), ServerError> {
        let op = Operation::CreateDelegation { from: cmd.from_account.clone(), to: cmd.to_account.clone() };
        self.admit(call, &op).await?;
        self.ensure_grant(call, &cmd.to_account, None, std::slice::from_ref(&cmd.role), None).await?;
        Ok(self.store.create_delegation(cmd, &self.audit(call)).await?)
    }

    /// One delegation.
    pub async fn get_delegation(&self, call: &Call, id: &DelegationId) -> Result<Delegation, ServerError> {
        let d = self.store.get_delegation(id).await?;
        let op = Operation::ViewDelegations(vec![d.from_account.clone(), d.to_account.clone()]);
        self.admit_object(call, &op, Hidden { entity: "delegation", id: id.as_str() }).await?;
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
        let account = match (from, to) {
            (None, None) => {
                return Err(ServerError::invalid("from_account_id", "from_account_id or to_account_id is required"));
            }
            (Some(f), _) => f,
            (None, Some(t)) => t,
        };
        self.admit(call, &Operation::ViewDelegations(vec![account.clone()])).await?;
        Ok(self.store.list_delegations(from, to, page).await?)
    }

    /// Disables a delegation.
    pub async fn delete_delegation(&self, call: &Call, id: &DelegationId) -> Result<Revision, ServerError> {
        let d = self.store.get_delegation(id).await?;
        let op = Operation::DeleteDelegation { from: d.from_account.clone(), to: d.to_account.clone() };
        self.admit_object(call, &op, Hidden { entity: "delegation", id: id.as_str() }).await?;
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
        self.admit(call, &Operation::ListEvents(account.clone())).await?;
        self.store.get_account(account).await?;
        Ok(self.store.list_events(filter, page).await?)
    }
}
