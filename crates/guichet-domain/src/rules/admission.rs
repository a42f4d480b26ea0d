//! The rule book's answer to "may this actor perform this operation": [`admit`], a pure function
//! of the [`Requirement`] and the decisions of the engine on the actor, which the server calls for
//! every management RPC (`app/rules.rs`, over the facts it just loaded) and `SimulateChanges` calls
//! over the facts a preview holds (`crate::simulate`) — one answer, one wording.
//!
//! **Hidden accounts.** An actor with no access path at all into the account a requirement names
//! is refused as for an unknown id ([`Refusal::NotFound`]), so that one tenant cannot tell which
//! accounts (or records of them) exist in another. An actor of the account who lacks the level is
//! refused naming it ([`Refusal::Denied`]).

use crate::decision::{Decision, Reason};
use crate::ids::{AccountId, UserId};

use super::{Need, Own, Requirement};

/// Why the rule book refused an actor an operation, before any invariant was checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The actor cannot reach what the operation is about: answered as an unknown record.
    NotFound {
        /// Kind of record (`account`, `membership`, `user`, ...).
        entity: &'static str,
        /// Its id.
        id: String,
    },
    /// The actor sees what the operation is about but lacks a permission.
    Denied {
        /// The actor.
        actor: String,
        /// The permission needed (empty for a service-only operation).
        permission: String,
        /// Where it is needed (empty when nowhere).
        account: String,
        /// Why.
        reason: String,
    },
}

/// What a refusal says when the actor cannot reach what the requirement names.
#[derive(Debug, Clone, Copy)]
pub enum Hide<'a> {
    /// NOT_FOUND for the account the requirement names.
    Account,
    /// NOT_FOUND for this record: (kind, id).
    Record(&'static str, &'a str),
    /// Nothing hidden: the actor sees what the operation is about.
    Nothing,
}

/// Whether the decision shows no tie at all between the actor and the account (no membership
/// there or above it, no delegation into it from an account of theirs, even an inactive one): an
/// actor so far away is answered as for an unknown account. One with a tie (a suspended
/// membership, a partner member without a delegation) knows the account exists.
pub fn unreachable(decision: &Decision) -> bool {
    match decision.reason {
        Reason::UnknownAccount => true,
        Reason::NoAccessPath => decision.paths.is_empty(),
        Reason::Allowed
        | Reason::UnknownSubject
        | Reason::UnknownFeature
        | Reason::UnknownResource
        | Reason::ResourceOutsideAccount
        | Reason::SubjectSuspended
        | Reason::AccountSuspended
        | Reason::ModuleDisabled
        | Reason::InsufficientLevel
        | Reason::ResourceNotGranted
        | Reason::ResourceLevelCapped => false,
    }
}

impl Requirement {
    /// The decisions [`admit`] may ask about the actor: (account, need), each once, in the order
    /// it asks them. A server loads these before calling it.
    pub fn decisions_needed(&self) -> Vec<(AccountId, Need)> {
        let mut out: Vec<(AccountId, Need)> = Vec::new();
        let mut push = |a: &AccountId, n: Need| {
            if !out.iter().any(|(x, m)| x == a && *m == n) {
                out.push((a.clone(), n));
            }
        };
        match self {
            // `Member` asks a fact (an active membership), not a decision: see [`admit`].
            Requirement::Scope | Requirement::ServiceOnly(_) | Requirement::Member { .. } => {}
            Requirement::Holds(a, n) => push(a, *n),
            Requirement::AnyOf(options) => options.iter().for_each(|(a, n)| push(a, *n)),
            Requirement::UserOr { accounts, need, .. } => {
                accounts.iter().for_each(|a| push(a, need.as_view()));
                accounts.iter().for_each(|a| push(a, *need));
            }
        }
        out
    }
}

fn denied(actor: &UserId, account: &AccountId, need: Need, decision: &Decision) -> Refusal {
    Refusal::Denied {
        actor: actor.to_string(),
        permission: need.to_string(),
        account: account.to_string(),
        reason: decision.reason.to_string(),
    }
}

/// The rule book's answer for `actor` (`None`: the calling service's own authority, which needs
/// only its scope) on an operation requiring `requirement`, where `decide` gives the engine's
/// decision on the actor holding a need in an account (see [`Requirement::decisions_needed`]).
pub fn admit(
    actor: Option<&UserId>,
    requirement: &Requirement,
    hide: Hide<'_>,
    decide: &mut dyn FnMut(&AccountId, Need) -> Decision,
) -> Result<(), Refusal> {
    let Some(actor) = actor else { return Ok(()) };
    let not_found = |account: &AccountId, need: Need, decision: &Decision| match hide {
        Hide::Record(entity, id) => Refusal::NotFound { entity, id: id.to_owned() },
        Hide::Account => Refusal::NotFound { entity: "account", id: account.to_string() },
        Hide::Nothing => denied(actor, account, need, decision),
    };
    match requirement {
        Requirement::Scope => Ok(()),
        Requirement::ServiceOnly(why) => Err(Refusal::Denied {
            actor: actor.to_string(),
            permission: String::new(),
            account: String::new(),
            reason: (*why).to_owned(),
        }),
        Requirement::Holds(account, need) => {
            let decision = decide(account, *need);
            if decision.allowed {
                Ok(())
            } else if unreachable(&decision) {
                Err(not_found(account, *need, &decision))
            } else {
                Err(denied(actor, account, *need, &decision))
            }
        }
        Requirement::AnyOf(options) => {
            let mut first = None;
            let mut hidden = None;
            for (account, need) in options {
                let decision = decide(account, *need);
                if decision.allowed {
                    return Ok(());
                }
                if !unreachable(&decision) && first.is_none() {
                    first = Some(denied(actor, account, *need, &decision));
                }
                if hidden.is_none() {
                    hidden = Some(not_found(account, *need, &decision));
                }
            }
            match (first, hidden) {
                (Some(refusal), _) | (None, Some(refusal)) => Err(refusal),
                (None, None) => Err(Refusal::Denied {
                    actor: actor.to_string(),
                    permission: String::new(),
                    account: String::new(),
                    reason: "a requirement without options".to_owned(),
                }),
            }
        }
        // Whether the actor is an active member is a fact, not a decision: the caller checks it
        // (the application loads the actor's memberships); here only who the actor is.
        Requirement::Member { account, user } => {
            if actor == user {
                Ok(())
            } else {
                Err(match hide {
                    Hide::Record(entity, id) => Refusal::NotFound { entity, id: id.to_owned() },
                    Hide::Account | Hide::Nothing => Refusal::Denied {
                        actor: actor.to_string(),
                        permission: String::new(),
                        account: account.to_string(),
                        reason: format!("only {user} may do this, for themselves"),
                    },
                })
            }
        }
        Requirement::UserOr { user, accounts, need, every, own } => {
            if actor == user {
                return match own {
                    Own::Allowed => Ok(()),
                    Own::Refused => Err(Refusal::Denied {
                        actor: actor.to_string(),
                        permission: need.to_string(),
                        account: String::new(),
                        reason: "an actor cannot do this to themselves".to_owned(),
                    }),
                };
            }
            let user_hidden = || match hide {
                Hide::Record(entity, id) => Refusal::NotFound { entity, id: id.to_owned() },
                Hide::Account | Hide::Nothing => Refusal::NotFound { entity: "user", id: user.to_string() },
            };
            // A user the actor cannot even view is out of reach, as an unknown id.
            if !accounts.iter().any(|a| decide(a, need.as_view()).allowed) {
                return Err(user_hidden());
            }
            let mut any = false;
            for account in accounts {
                let decision = decide(account, *need);
                if decision.allowed {
                    any = true;
                } else if *every {
                    return Err(denied(actor, account, *need, &decision));
                }
            }
            if any { Ok(()) } else { Err(user_hidden()) }
        }
    }
}
