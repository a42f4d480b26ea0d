//! Access requests (see `guichet_domain::access_request`): asking, reading, approving, rejecting,
//! cancelling; expiring is the sweeper's (`expiry.rs`).
//!
//! **Approving applies a suggestion through the management calls, all or nothing.** The
//! suggestions are ExplainAccess's (`guichet_domain::suggest`), computed again at the approval on
//! the latest state. Each change of the one chosen is made by the `App` method of the management
//! RPC that makes it ([`App::assign_role`], [`App::set_resource_restriction`],
//! [`App::create_delegation`], ...) on the approver's call: the same admission, the same
//! invariants (no escalation, partner reach, four-eyes of memberships, pending-frozen), the same
//! store write — so an approver never grants what it could not grant directly.
//!
//! The changes run on a *staged* store ([`guichet_store::Store::staged`]): one write
//! transaction, begun with the write lock, through which every read and write of the approval
//! goes. Each change is admitted on what that transaction reads — the state after the changes
//! before it — and written as a savepoint of it (its own revision, audit event and change log, as
//! a direct call). The last change carries the request ([`Call::resolves`]): its write also marks
//! it APPROVED at the version the approver reviewed. The transaction commits after the last
//! change; the first refusal drops it, and nothing of the approval is written — no change, no
//! event, the request still PENDING. No other write commits while it is open (PostgreSQL: the
//! revision row is locked `FOR UPDATE` first; SQLite: an immediate transaction), so nothing can
//! change between a change's admission and the commit; a change is still admitted at the
//! revision it read (`admitted_at`), the `CONCURRENT_CHANGE` check that then cannot fail. The
//! decision cache is bypassed inside (its decisions are of the committed state); scopes the
//! staged writes published before a rollback only invalidate decisions that had not changed.

use guichet_domain::{
    AccessRequestId, AccessRequestRecord, AccessRequestStatus, AccountId, ApprovalStep, Change, Facts, FeatureName,
    MembershipStatus, NewAccessRequest, NewDelegation, Operation, Reason, Revision, Suggestion, Timestamp, UserStatus,
    approval_step, approvers, check_request_decider, evaluate, first_suggestion_for, may_make, suggest,
};
use guichet_store::{AccessRequestFilter, Page, PageRequest, PendingItem, Resolution};

use super::{App, Call, Hidden};
use crate::error::ServerError;

/// How many times one change of an approval is admitted before it gives up with ABORTED.
const ADMISSIONS: usize = 8;

fn hidden(id: &AccessRequestId) -> Hidden<'_> {
    Hidden { entity: "access request", id: id.as_str() }
}

/// The error of a request that asks for what its requester already has.
fn already_granted(r: &AccessRequestRecord, subject: String) -> ServerError {
    ServerError::FailedPrecondition {
        kind: "ALREADY_GRANTED",
        subject,
        description: format!(
            "{} already has {}{} in account {}: nothing to request",
            r.requester,
            r.permission,
            r.resource.as_ref().map(|x| format!(" on {x}")).unwrap_or_default(),
            r.account
        ),
    }
}

/// How an applied change is recorded on the request: the call, then its arguments.
fn describe(change: &Change) -> String {
    let args = match change {
        Change::ReactivateUser { user } => format!("user={user}"),
        Change::ReactivateAccount { account } => format!("account={account}"),
        Change::EnableModule { account, feature } => format!("account={account} module={feature}"),
        Change::ApproveMembership { membership } | Change::ReactivateMembership { membership } => {
            format!("membership={membership}")
        }
        Change::AssignRole { membership, role } => format!("membership={membership} role={role}"),
        Change::ExtendRestriction { membership, resource, level } => {
            format!("membership={membership} resource={resource} level={level}")
        }
        Change::CreateDelegation { from, to, role } => format!("from={from} to={to} role={role}"),
    };
    format!("{} {args}", change.rpc())
}

impl App {
    /// The request's suggestions on the latest state: the facts, the suggestions, the decision's
    /// reason; `Err` when the requester already has the access.
    async fn request_suggestions(
        &self,
        r: &AccessRequestRecord,
        subject: String,
    ) -> Result<(Facts, guichet_domain::AccountView, Vec<Suggestion>, Reason), ServerError> {
        let access = r.access();
        let (facts, view, _) = self.guarded(async { Ok(self.store.load_suggestion_facts(&access).await?) }).await?;
        let now = self.clock.now();
        let decision = evaluate(&self.catalog, &access, &facts, now);
        if decision.allowed {
            return Err(already_granted(r, subject));
        }
        let suggestions = suggest(&self.catalog, &access, &facts, &view, now);
        Ok((facts, view, suggestions, decision.reason))
    }

    /// Whether `request` may be asked for (the AuthZEN profile's requestable denial): its subject
    /// is an active member of the account, does not have it, and some member could grant it.
    pub async fn requestable(&self, request: &guichet_domain::AccessRequest) -> Result<bool, ServerError> {
        let (facts, view, _) = self.guarded(async { Ok(self.store.load_suggestion_facts(request).await?) }).await?;
        let now = self.clock.now();
        if !guichet_domain::suggest::active_member(&facts, &request.subject, &request.account, now)
            || evaluate(&self.catalog, request, &facts, now).allowed
        {
            return Ok(false);
        }
        let suggestions = suggest(&self.catalog, request, &facts, &view, now);
        Ok(!approvers(&self.catalog, request, &facts, &view, &suggestions, now).is_empty())
    }

    /// Asks for access, for the call's actor: refused when it already has it, or when nobody
    /// could grant it (see `guichet_domain::access_request`).
    pub async fn request_access(
        &self,
        call: &Call,
        new: &NewAccessRequest,
    ) -> Result<(AccessRequestRecord, Revision), ServerError> {
        let Some(actor) = call.actor.clone() else {
            return Err(ServerError::invalid("actor_id", "is required: the member asking, for themselves"));
        };
        self.admit(call, &Operation::RequestAccess { account: new.account.clone(), requester: actor.clone() }).await?;
        let now = self.clock.now();
        let draft = AccessRequestRecord {
            id: AccessRequestId::from_trusted("(new)"),
            account: new.account.clone(),
            requester: actor.clone(),
            permission: new.permission.clone(),
            resource: new.resource.clone(),
            reason: new.reason.clone(),
            status: AccessRequestStatus::Pending,
            approvers: Vec::new(),
            created_at: now,
            expires_at: now,
            first_approved_by: None,
            first_approved_at: None,
            decided_by: None,
            decision_reason: None,
            decided_at: None,
            applied: Vec::new(),
        };
        let subject = format!("accounts/{}", new.account);
        let (facts, view, suggestions, reason) = self.request_suggestions(&draft, subject.clone()).await?;
        match reason {
            Reason::UnknownFeature => {
                return Err(ServerError::invalid("permission", format!("no feature {}", new.permission.feature)));
            }
            Reason::UnknownResource | Reason::ResourceOutsideAccount => {
                let id = new.resource.as_ref().map(ToString::to_string).unwrap_or_default();
                return Err(ServerError::NotFound { entity: "resource", id });
            }
            Reason::Allowed
            | Reason::UnknownSubject
            | Reason::UnknownAccount
            | Reason::SubjectSuspended
            | Reason::AccountSuspended
            | Reason::ModuleDisabled
            | Reason::NoAccessPath
            | Reason::InsufficientLevel
            | Reason::ResourceNotGranted
            | Reason::ResourceLevelCapped => {}
        }
        let names = approvers(&self.catalog, &draft.access(), &facts, &view, &suggestions, now);
        if names.is_empty() {
            return Err(ServerError::FailedPrecondition {
                kind: "NO_APPROVER",
                subject,
                description: format!(
                    "nobody may grant {} to {actor} in account {} ({}): no change would grant it, or no member \
                     holding access_approvals:full may make one",
                    new.permission, new.account, reason
                ),
            });
        }
        let lifetime_ms = i64::try_from(self.request_lifetime.as_millis()).unwrap_or(i64::MAX);
        let expires_at = Timestamp::from_millis(now.as_millis().saturating_add(lifetime_ms));
        Ok(self.store.create_access_request(new, &actor, &names, expires_at, &self.audit(call)).await?)
    }

    /// One access request: its requester, or `access_approvals:view` in its account.
    pub async fn get_access_request(
        &self,
        call: &Call,
        id: &AccessRequestId,
    ) -> Result<AccessRequestRecord, ServerError> {
        let r = self.store.get_access_request(id).await?;
        let op = Operation::ViewAccessRequests { account: r.account.clone(), requester: Some(r.requester.clone()) };
        self.admit_object(call, &op, hidden(id)).await?;
        Ok(r)
    }

    /// Access requests of an account, or a user's own, newest first.
    pub async fn list_access_requests(
        &self,
        call: &Call,
        filter: &AccessRequestFilter,
        page: &PageRequest,
    ) -> Result<Page<AccessRequestRecord>, ServerError> {
        match (&filter.account, &call.actor) {
            (Some(account), _) => {
                let op =
                    Operation::ViewAccessRequests { account: account.clone(), requester: filter.requester.clone() };
                self.admit(call, &op).await?;
            }
            (None, Some(actor)) if filter.requester.as_ref() != Some(actor) => {
                return Err(ServerError::invalid(
                    "account_id",
                    "required when actor_id is set and is not requester_id: list the requests of an account",
                ));
            }
            (None, _) => {}
        }
        Ok(self.store.list_access_requests(filter, page).await?)
    }

    /// The pending memberships and access requests of an account, oldest first.
    pub async fn list_pending_items(
        &self,
        call: &Call,
        account: &AccountId,
        page: &PageRequest,
    ) -> Result<Page<PendingItem>, ServerError> {
        self.admit(call, &Operation::ViewApprovals(account.clone())).await?;
        self.store.get_account(account).await?;
        Ok(self.store.list_pending_items(account, self.clock.now(), page).await?)
    }

    /// What approving and rejecting share: the permission, the request pending, four-eyes, the
    /// version reviewed.
    async fn decidable(
        &self,
        call: &Call,
        id: &AccessRequestId,
        version: Option<&str>,
    ) -> Result<AccessRequestRecord, ServerError> {
        if call.actor.is_some() && version.is_none() {
            return Err(ServerError::invalid(
                "version",
                "required when actor_id is set: the version of the access request the approver reviewed",
            ));
        }
        let r = self.store.get_access_request(id).await?;
        self.admit_object(call, &Operation::DecideApproval(r.account.clone()), hidden(id)).await?;
        if !r.pending_at(self.clock.now()) {
            let status = if r.status == AccessRequestStatus::Pending { AccessRequestStatus::Expired } else { r.status };
            return Err(ServerError::FailedPrecondition {
                kind: "REQUEST_NOT_PENDING",
                subject: format!("accessRequests/{id}"),
                description: format!("access request {id} is {status}: only a pending request changes"),
            });
        }
        if let Some(actor) = call.actor.as_ref() {
            check_request_decider(actor, &r).map_err(|v| Self::violation(call, format!("accessRequests/{id}"), v))?;
            if let Some(version) = version
                && version != r.version()
            {
                return Err(ServerError::FailedPrecondition {
                    kind: "STALE_VERSION",
                    subject: format!("accessRequests/{id}"),
                    description: format!(
                        "access request {id} changed since version {version} was reviewed (it is now at version {}): \
                         review it again",
                        r.version()
                    ),
                });
            }
        }
        Ok(r)
    }

    /// Approves an access request (see the module docs): under four-eyes the first approval is
    /// recorded; otherwise the suggestion chosen (or the first the approver may make) is applied.
    pub async fn approve_access_request(
        &self,
        call: &Call,
        id: &AccessRequestId,
        version: Option<&str>,
        chosen: Option<usize>,
    ) -> Result<(AccessRequestRecord, Revision), ServerError> {
        let r = self.decidable(call, id, version).await?;
        let subject = format!("accessRequests/{id}");
        let (facts, view, suggestions, reason) = self.request_suggestions(&r, subject.clone()).await?;
        if suggestions.is_empty() {
            return Err(ServerError::FailedPrecondition {
                kind: "NO_APPROVER",
                subject,
                description: format!("no change would grant {} to {} any more ({reason})", r.permission, r.requester),
            });
        }
        let now = self.clock.now();
        let access = r.access();
        let index = match (chosen, call.actor.as_ref()) {
            (Some(i), _) if i < suggestions.len() => i,
            (Some(i), _) => {
                return Err(ServerError::invalid(
                    "suggestion",
                    format!("no suggestion {i}: there are {} for this request now", suggestions.len()),
                ));
            }
            (None, Some(actor)) => {
                first_suggestion_for(&self.catalog, &access, &facts, &view, &suggestions, actor, now).unwrap_or(0)
            }
            (None, None) => 0,
        };
        let plan = &suggestions[index];
        let account = self.store.get_account(&r.account).await?;
        match approval_step(account.settings.requires_approval, call.actor.as_ref(), &r) {
            ApprovalStep::Record => {
                // The first approver is an approver too: it may make every change it approves.
                if let Some(actor) = call.actor.as_ref() {
                    let candidate = view.candidates.iter().find(|c| c.user == *actor);
                    let may = candidate.is_some_and(|c| {
                        plan.steps.iter().all(|s| may_make(&self.catalog, &access, &facts, &view, c, &s.change, now))
                    });
                    if !may {
                        let calls: Vec<String> = plan.steps.iter().map(|s| describe(&s.change)).collect();
                        return Err(ServerError::FailedPrecondition {
                            kind: "NOT_AN_APPROVER",
                            subject,
                            description: format!(
                                "{actor} may not make the changes of suggestion {index} ({}): the rule book refuses \
                                 them on its rights",
                                calls.join("; ")
                            ),
                        });
                    }
                }
                Ok(self.store.record_first_approval(id, version, &self.audit(call)).await?)
            }
            ApprovalStep::Apply => {
                let applied: Vec<String> = plan.steps.iter().map(|s| describe(&s.change)).collect();
                let last = plan.steps.len().saturating_sub(1);
                // Every change admitted and written in one staged transaction (see the module
                // docs): committed after the last, rolled back (dropped) at the first refusal.
                let staged = App { store: self.store.staged().await?, cache: None, ..self.clone() };
                let mut revision = None;
                for (i, step) in plan.steps.iter().enumerate() {
                    let step_call = if i == last {
                        Call {
                            resolves: Some(Resolution {
                                request: id.clone(),
                                version: version.map(str::to_owned),
                                applied: applied.clone(),
                            }),
                            ..call.clone()
                        }
                    } else {
                        // The idempotency key is claimed by the write that approves.
                        Call { request_id: None, fingerprint: None, resolves: None, ..call.clone() }
                    };
                    revision = Some(staged.apply_admitted(&step_call, &step.change).await?);
                }
                let revision =
                    revision.ok_or_else(|| ServerError::Internal("a suggestion without changes".to_owned()))?;
                let record = staged.store.get_access_request(id).await?;
                staged.store.commit_staged().await?;
                Ok((record, revision))
            }
        }
    }

    /// One change, admitted (for an actor) at the store's latest revision, and admitted again
    /// when another write commits between its admission and its own.
    async fn apply_admitted(&self, call: &Call, change: &Change) -> Result<Revision, ServerError> {
        if call.actor.is_none() {
            return self.apply_change(call, change).await;
        }
        for _ in 0..ADMISSIONS {
            let base = self.store.revision().await?;
            let admitted = Call { admitted_at: Some(base), ..call.clone() };
            match self.apply_change(&admitted, change).await {
                Err(ServerError::FailedPrecondition {
                    kind: guichet_store::idempotency::CONCURRENT_CHANGE, ..
                }) => {}
                other => return other,
            }
        }
        Err(ServerError::Aborted(format!(
            "the store kept changing while the approval was admitted, {ADMISSIONS} times: retry"
        )))
    }

    /// Makes one change through the `App` method of the management call that makes it.
    async fn apply_change(&self, call: &Call, change: &Change) -> Result<Revision, ServerError> {
        let revision = match change {
            Change::ReactivateUser { user } => self.set_user_status(call, user, UserStatus::Active).await?.1,
            Change::ReactivateAccount { account } => {
                self.set_account_status(call, account, guichet_domain::AccountStatus::Active, None).await?.1
            }
            Change::EnableModule { account, feature } => {
                let mut modules: std::collections::BTreeSet<FeatureName> =
                    self.store.get_account(account).await?.modules.into_iter().collect();
                modules.insert(feature.clone());
                self.set_account_modules(call, account, &modules).await?.1
            }
            Change::ApproveMembership { membership } => {
                let m = self.store.get_membership(membership).await?;
                let version = m.version();
                self.approve_membership(call, membership, Some(&version)).await?.1
            }
            Change::ReactivateMembership { membership } => {
                self.set_membership_status(call, membership, MembershipStatus::Active).await?.1
            }
            Change::AssignRole { membership, role } => self.assign_role(call, membership, role).await?.1,
            Change::ExtendRestriction { membership, resource, level } => {
                let m = self.store.get_membership(membership).await?;
                let mut restriction = m.restriction.clone().unwrap_or_default();
                restriction.insert(resource.clone(), *level);
                self.set_resource_restriction(call, membership, Some(&restriction)).await?.1
            }
            Change::CreateDelegation { from, to, role } => {
                let new = NewDelegation {
                    id: None,
                    from_account: from.clone(),
                    to_account: to.clone(),
                    role: role.clone(),
                    expires_at: None,
                };
                self.create_delegation(call, &new).await?.1
            }
        };
        Ok(revision)
    }

    /// Rejects an access request, with the reason.
    pub async fn reject_access_request(
        &self,
        call: &Call,
        id: &AccessRequestId,
        reason: &str,
        version: Option<&str>,
    ) -> Result<(AccessRequestRecord, Revision), ServerError> {
        self.decidable(call, id, version).await?;
        Ok(self
            .store
            .close_access_request(id, AccessRequestStatus::Rejected, Some(reason), version, &self.audit(call))
            .await?)
    }

    /// Cancels an access request: its requester (or the calling service). Another actor who may
    /// read it is told it may not; one who may not read it is told it does not exist.
    pub async fn cancel_access_request(
        &self,
        call: &Call,
        id: &AccessRequestId,
        reason: Option<&str>,
    ) -> Result<(AccessRequestRecord, Revision), ServerError> {
        let r = self.store.get_access_request(id).await?;
        if let Some(actor) = call.actor.as_ref()
            && *actor != r.requester
        {
            let view =
                Operation::ViewAccessRequests { account: r.account.clone(), requester: Some(r.requester.clone()) };
            self.admit_object(call, &view, hidden(id)).await?;
        }
        let op = Operation::CancelAccessRequest { account: r.account.clone(), requester: r.requester.clone() };
        self.admit_visible(call, &op).await?;
        Ok(self.store.close_access_request(id, AccessRequestStatus::Cancelled, reason, None, &self.audit(call)).await?)
    }
}
