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
//!
//! **Layout.** One file per entity, named as in `services/`, the API crate's `convert` and the
//! store (`accounts.rs`, `users.rs`, `roles.rs`, `memberships.rs`, …), each an `impl App` block;
//! this file holds [`App`], [`Call`] and the plumbing every write shares.

mod access;
mod access_requests;
mod lookups;
mod rules;
mod watch;

pub use access::{Accessible, Checked, Explained, Reader};
pub use simulate::Previewed;
pub(crate) use watch::Changes;

pub(crate) use rules::{Hidden, Without};

use std::sync::Arc;

use guichet_domain::{Catalog, Revision, UserId};
use guichet_store::{Audit, Store};

use crate::cache::DecisionCache;
use crate::clock::SharedClock;

mod accounts;
mod contacts;
mod delegations;
mod events;
mod expiry;
mod invitations;
mod memberships;
mod resources;
mod roles;
mod simulate;
mod users;

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
    /// The revision of a preview of this write (SimulateChanges): it commits only if nothing the
    /// preview read in its account's tree changed since (`CHANGED_SINCE_PREVIEW` otherwise).
    pub unchanged_since: Option<Revision>,
    /// The access request this call's write approves (the last change an approval applies): its
    /// write also marks the request APPROVED (see `access_requests.rs`).
    pub resolves: Option<guichet_store::Resolution>,
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
    /// How long an access request waits before it expires.
    request_lifetime: std::time::Duration,
}

impl App {
    /// The application over a store, without decision caches.
    pub fn new(store: Store, catalog: Arc<Catalog>, clock: SharedClock) -> Self {
        Self {
            store,
            catalog,
            clock,
            cache: None,
            request_lifetime: std::time::Duration::from_secs(guichet_domain::DEFAULT_REQUEST_LIFETIME_SECS),
        }
    }

    /// The application with access requests expiring `lifetime` after they are made.
    pub fn with_request_lifetime(mut self, lifetime: std::time::Duration) -> Self {
        self.request_lifetime = lifetime;
        self
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
            unchanged_since: call.unchanged_since,
            resolves: call.resolves.clone(),
        }
    }
}
