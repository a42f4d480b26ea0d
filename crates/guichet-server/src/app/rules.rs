//! Asking the rule book (`guichet_domain::rules`): the application loads the facts an
//! [`Operation`]'s requirement and the invariants need, asks the domain, and maps a refusal to a
//! [`ServerError`]. No permission is written here.
//!
//! **Hidden accounts.** An actor with no access path at all into the account a requirement names
//! gets NOT_FOUND for it, word for word what an unknown id gets, so that one tenant cannot tell
//! which accounts (or memberships, folders, invitations of them) exist in another. An actor of the
//! account who lacks the level gets PERMISSION_DENIED naming it.

use std::collections::BTreeSet;

use guichet_domain::{
    AccessRequest, AccountId, Decision, DelegationId, Facts, Grant, Level, MembershipId, Need, Operation, Permission,
    Reach, Refusal, ResourceId, Restriction, Role, RoleName, Timestamp, UserId, Violation, admit, check_grant,
    check_partner_reach, evaluate,
};

use super::{App, Call};
use crate::error::ServerError;

/// A grant left out of the actor's reach: the one being extended, which cannot vouch for itself.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Without<'a> {
    /// Every grant counts.
    Nothing,
    /// Not this membership.
    Membership(&'a MembershipId),
    /// Not this delegation.
    Delegation(&'a DelegationId),
}

/// What to answer when the actor cannot reach the record at all: the record's NOT_FOUND.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Hidden<'a> {
    /// Kind of record, e.g. `membership`.
    pub entity: &'static str,
    /// Its id.
    pub id: &'a str,
}

/// What a refusal says when the actor cannot reach what the requirement names.
#[derive(Debug, Clone, Copy)]
enum Hide<'a> {
    /// NOT_FOUND for the account the requirement names.
    Account,
    /// NOT_FOUND for this record.
    Record(Hidden<'a>),
    /// Nothing hidden: the actor sees what the operation is about; PERMISSION_DENIED.
    Nothing,
}

impl From<Refusal> for ServerError {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::NotFound { entity, id } => ServerError::NotFound { entity, id },
            Refusal::Denied { actor, permission, account, reason } => {
                ServerError::PermissionDenied { actor, permission, account, reason }
            }
        }
    }
}

impl App {
    /// The decision for `actor` holding `need` in `account`.
    async fn decide_need(&self, actor: &UserId, account: &AccountId, need: Need) -> Result<Decision, ServerError> {
        let request = AccessRequest {
            subject: actor.clone(),
            account: account.clone(),
            permission: need.permission(),
            resource: None,
        };
        let (facts, _) = self.store.load_facts(&request).await?;
        Ok(evaluate(&self.catalog, &request, &facts, self.clock.now()))
    }

    /// Checks the operation's requirement for the call's actor (none: the service's own
    /// authority, which needs only its scope). Out of reach answers as an unknown account.
    pub(crate) async fn admit(&self, call: &Call, op: &Operation) -> Result<(), ServerError> {
        self.admit_as(call, op, Hide::Account).await
    }

    /// [`App::admit`] for an operation on one record: out of reach answers as an unknown record.
    pub(crate) async fn admit_object(
        &self,
        call: &Call,
        op: &Operation,
        hidden: Hidden<'_>,
    ) -> Result<(), ServerError> {
        self.admit_as(call, op, Hide::Record(hidden)).await
    }

    /// [`App::admit`] for an actor who sees what the operation is about: a refusal names what it
    /// lacks, even where it has no path at all.
    pub(crate) async fn admit_visible(&self, call: &Call, op: &Operation) -> Result<(), ServerError> {
        self.admit_as(call, op, Hide::Nothing).await
    }

    async fn admit_as(&self, call: &Call, op: &Operation, hide: Hide<'_>) -> Result<(), ServerError> {
        let Some(actor) = call.actor.as_ref() else { return Ok(()) };
        let requirement = op.requirement();
        if let guichet_domain::Requirement::Member { account, user } = &requirement {
            // Facts, not decisions: whether the actor is this user and an active member.
            return self.admit_member(actor, account, user, hide).await;
        }
        // The decisions the rule book may ask, loaded first; then its one answer
        // (`guichet_domain::admit`, which SimulateChanges asks too).
        let mut decisions = Vec::new();
        for (account, need) in requirement.decisions_needed() {
            let decision = self.decide_need(actor, &account, need).await?;
            decisions.push((account, need, decision));
        }
        let hide = match hide {
            Hide::Account => guichet_domain::Hide::Account,
            Hide::Record(h) => guichet_domain::Hide::Record(h.entity, h.id),
            Hide::Nothing => guichet_domain::Hide::Nothing,
        };
        let mut decide = |account: &AccountId, need: Need| {
            decisions
                .iter()
                .find(|(a, n, _)| a == account && *n == need)
                .map(|(_, _, d)| d.clone())
                // Never reached: every decision the requirement asks was loaded. Nothing known.
                .unwrap_or_else(|| {
                    let request = AccessRequest {
                        subject: actor.clone(),
                        account: account.clone(),
                        permission: need.permission(),
                        resource: None,
                    };
                    evaluate(&self.catalog, &request, &Facts::default(), self.clock.now())
                })
        };
        Ok(admit(Some(actor), &requirement, hide, &mut decide)?)
    }

    /// [`guichet_domain::Requirement::Member`]: only `user`, for themselves, while an active member of `account`.
    async fn admit_member(
        &self,
        actor: &UserId,
        account: &AccountId,
        user: &UserId,
        hide: Hide<'_>,
    ) -> Result<(), ServerError> {
        if actor != user {
            return Err(match hide {
                Hide::Record(h) => ServerError::NotFound { entity: h.entity, id: h.id.to_owned() },
                Hide::Account | Hide::Nothing => ServerError::PermissionDenied {
                    actor: actor.to_string(),
                    permission: String::new(),
                    account: account.to_string(),
                    reason: format!("only {user} may do this, for themselves"),
                },
            });
        }
        let request = AccessRequest {
            subject: actor.clone(),
            account: account.clone(),
            permission: Need::view(guichet_domain::USERS_FEATURE).permission(),
            resource: None,
        };
        let (facts, _) = self.store.load_facts(&request).await?;
        if guichet_domain::suggest::active_member(&facts, actor, account, self.clock.now()) {
            Ok(())
        } else {
            Err(match hide {
                Hide::Record(h) => ServerError::NotFound { entity: h.entity, id: h.id.to_owned() },
                Hide::Account | Hide::Nothing => ServerError::NotFound { entity: "account", id: account.to_string() },
            })
        }
    }

    /// Whether `actor` has any live access path into `account` (whatever the level).
    pub(crate) async fn reaches_at_all(&self, actor: &UserId, account: &AccountId) -> Result<bool, ServerError> {
        let decision = self.decide_need(actor, account, Need::view(guichet_domain::USERS_FEATURE)).await?;
        Ok(!guichet_domain::rules::unreachable(&decision))
    }

    /// The actor's reach in `account` (see `guichet_domain::Reach`), with the resources of
    /// `restriction` evaluated one by one, for a grant that never expires.
    pub(crate) async fn reach(
        &self,
        actor: &UserId,
        account: &AccountId,
        restriction: Option<&Restriction>,
    ) -> Result<Reach, ServerError> {
        self.reach_until(actor, account, restriction, None, Without::Nothing).await
    }

    /// The actor's reach in `account` for a grant lasting until `until` (`None`: forever): what
    /// the actor holds at every instant until then — its grants that expire earlier do not count
    /// — and without the grant `without` (a grant never vouches for its own extension).
    pub(crate) async fn reach_until(
        &self,
        actor: &UserId,
        account: &AccountId,
        restriction: Option<&Restriction>,
        until: Option<Timestamp>,
        without: Without<'_>,
    ) -> Result<Reach, ServerError> {
        // The last instant the grant holds: a grant expiring at `until` grants strictly before it.
        let at = until.map_or(Timestamp::NEVER, |t| Timestamp::from_millis(t.as_millis().saturating_sub(1)));
        let strip = |f: &mut Facts| match without {
            Without::Nothing => {}
            Without::Membership(id) => f.memberships.retain(|m| m.id != *id),
            Without::Delegation(id) => f.delegations.retain(|d| d.id != *id),
        };
        let request = |resource: Option<ResourceId>| AccessRequest {
            subject: actor.clone(),
            account: account.clone(),
            permission: Permission { feature: guichet_domain::FeatureName::from_trusted("users"), level: Level::View },
            resource,
        };
        let (mut facts, _) = self.store.load_facts(&request(None)).await?;
        strip(&mut facts);
        let mut per_resource: Vec<(ResourceId, Facts)> = Vec::new();
        for (i, r) in restriction.into_iter().flat_map(Restriction::ids).enumerate() {
            let (mut f, _) = self.store.load_facts(&request(Some(r.clone()))).await?;
            strip(&mut f);
            // A folder of another account is answered as one that does not exist, as the store
            // answers it.
            if f.resource.as_ref().is_none_or(|found| found.account != *account) {
                return Err(ServerError::invalid(
                    format!("restriction.resource_ids[{i}]"),
                    format!("no resource {r} in account {account}"),
                ));
            }
            per_resource.push((r.clone(), f));
        }
        Ok(Reach::compute(&self.catalog, &facts, &per_resource, at))
    }

    /// The roles named, resolved in the account (names it does not know are left to the store,
    /// which reports them on the request's field).
    pub(crate) async fn resolve_roles(
        &self,
        account: &AccountId,
        names: &[RoleName],
    ) -> Result<Vec<Role>, ServerError> {
        let known = self.store.list_roles(account).await?;
        Ok(known.into_iter().filter(|r| names.contains(&r.role.name)).map(|r| r.role).collect())
    }

    /// Maps a violation of the rule book.
    pub(crate) fn violation(call: &Call, subject: impl Into<String>, violation: Violation) -> ServerError {
        ServerError::Rule {
            actor: call.actor.as_ref().map(ToString::to_string),
            subject: subject.into(),
            violation: Box::new(violation),
        }
    }

    /// **No escalation** and **partner reach** for a grant of `roles` (restricted or not) in
    /// `account` to `user` (when known) that never expires, on the call's actor's authority.
    pub(crate) async fn ensure_grant(
        &self,
        call: &Call,
        account: &AccountId,
        user: Option<&UserId>,
        roles: &[RoleName],
        restriction: Option<&Restriction>,
    ) -> Result<(), ServerError> {
        self.ensure_grant_until(call, account, user, roles, restriction, None, Without::Nothing).await
    }

    /// [`App::ensure_grant`] for a grant lasting until `until` (`None`: forever), compared with
    /// the actor's reach for as long ([`App::reach_until`]), without the grant `without`.
    #[expect(clippy::too_many_arguments, reason = "a grant: where, to whom, what, until when, and what it replaces")]
    pub(crate) async fn ensure_grant_until(
        &self,
        call: &Call,
        account: &AccountId,
        user: Option<&UserId>,
        roles: &[RoleName],
        restriction: Option<&Restriction>,
        until: Option<Timestamp>,
        without: Without<'_>,
    ) -> Result<(), ServerError> {
        let Some(actor) = call.actor.as_ref() else { return Ok(()) };
        let resolved = self.resolve_roles(account, roles).await?;
        let reach = self.reach_until(actor, account, restriction, until, without).await?;
        check_grant(Grant { roles: &resolved, restriction }, &reach)
            .map_err(|v| Self::violation(call, format!("accounts/{account}"), v))?;
        if let Some(user) = user {
            self.ensure_partner_reach(call, account, user).await?;
        }
        Ok(())
    }

    /// **Partner reach is a delegation**: on an actor's authority, no direct access in `account`
    /// for a member of one of its ancestors or of the source of a delegation into its chain.
    pub(crate) async fn ensure_partner_reach(
        &self,
        call: &Call,
        account: &AccountId,
        user: &UserId,
    ) -> Result<(), ServerError> {
        if call.actor.is_none() {
            return Ok(());
        }
        let request = AccessRequest {
            subject: user.clone(),
            account: account.clone(),
            permission: Permission { feature: guichet_domain::FeatureName::from_trusted("users"), level: Level::View },
            resource: None,
        };
        let (facts, _) = self.store.load_facts(&request).await?;
        let mut side: BTreeSet<AccountId> = facts.chain.iter().skip(1).map(|a| a.id.clone()).collect();
        side.extend(facts.delegations.iter().map(|d| d.from_account.id.clone()));
        let user_accounts = self.store.user_accounts(user).await?;
        check_partner_reach(user, &user_accounts, &side)
            .map_err(|v| Self::violation(call, format!("accounts/{account}"), v))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use guichet_domain::{Rpc, Scope};
    use prost::Message;
    use prost_types::FileDescriptorSet;

    /// The rule book has a row for every RPC the API declares, and no other: a new RPC without
    /// one fails here.
    #[test]
    fn every_declared_rpc_has_a_row_in_the_rule_book() {
        let set = FileDescriptorSet::decode(crate::services::reflection::API).unwrap();
        let declared: BTreeSet<String> = set
            .file
            .iter()
            .filter(|f| f.package() == "guichet.v1")
            .flat_map(|f| {
                f.service.iter().flat_map(move |s| {
                    s.method.iter().map(move |m| format!("/{}.{}/{}", f.package(), s.name(), m.name()))
                })
            })
            .collect();
        let ruled: BTreeSet<String> = Rpc::ALL.iter().map(|r| r.path().to_owned()).collect();
        assert_eq!(declared, ruled);
        assert!(Rpc::ALL.iter().any(|r| r.scope() == Scope::Check));
    }
}
