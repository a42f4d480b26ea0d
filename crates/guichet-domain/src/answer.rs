//! A check's answer: the decision as CheckAccess returns it, the revision it was evaluated at,
//! where it came from and how fresh it is. The application, the decision caches, telemetry and the
//! AuthZEN edge work on it; the gRPC edge converts it (`guichet-proto`'s `convert`).

use crate::{Decision, Level, Path, Reason, Revision};

/// The most checks in one batch (CheckAccessBatch, AuthZEN's `evaluations`).
pub const MAX_BATCH_ITEMS: usize = 1000;

/// Where an answer came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum CacheTier {
    /// Evaluated from the store for this call.
    #[default]
    None,
    /// The replica's in-process cache.
    Local,
    /// The cache shared by the replicas (Redis).
    Shared,
}

impl CacheTier {
    /// `none`, `local` or `shared`.
    pub const fn as_str(self) -> &'static str {
        match self {
            CacheTier::None => "none",
            CacheTier::Local => "local",
            CacheTier::Shared => "shared",
        }
    }
}

/// How fresh an answer is, against what the call asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Freshness {
    /// As fresh as the call's consistency asked.
    #[default]
    AsRequested,
    /// Served from a cache while the store could not be reached; this replica last confirmed that
    /// it knew every change this many milliseconds before.
    Stale {
        /// Milliseconds since this replica last confirmed it knew every change.
        staleness_ms: u64,
    },
}

/// A check's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// Whether the request is allowed.
    pub allowed: bool,
    /// The level required.
    pub required: Level,
    /// The subject's effective level, after caps.
    pub effective: Level,
    /// Why.
    pub reason: Reason,
    /// The path that granted, when allowed.
    pub granted_by: Option<Path>,
    /// The revision of the facts it was evaluated on.
    pub revision: Revision,
    /// Where it came from.
    pub tier: CacheTier,
    /// How fresh it is.
    pub freshness: Freshness,
}

impl Answer {
    /// The answer of `decision`, evaluated from the store at `revision` for this call.
    pub fn new(decision: &Decision, revision: Revision) -> Self {
        Self {
            allowed: decision.allowed,
            required: decision.required,
            effective: decision.effective,
            reason: decision.reason,
            granted_by: decision.granted_by.clone(),
            revision,
            tier: CacheTier::None,
            freshness: Freshness::AsRequested,
        }
    }
}
