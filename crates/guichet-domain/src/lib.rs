//! guichet's model and access decision.
//!
//! This crate owns the rules of guichet, and nothing else:
//! - **the model** — validating newtypes for every id, name, email and phone ([`ids`], [`email`],
//!   [`phone`]), levels and permissions ([`level`]), statuses ([`status`]), account settings and
//!   the email policy ([`settings`]), and the records and commands the store and the API exchange
//!   ([`model`]). Invalid values cannot be built past [`parse`](AccountId::parse);
//! - **the catalog** ([`catalog`]) — features, account kinds, which kinds may parent which, and the
//!   built-in roles of each kind, loaded from TOML with a built-in default that encodes the seed
//!   articles (`catalog/default.toml`);
//! - **restrictions** ([`restriction`]) — the resources a membership reaches, each with its level
//!   cap (view these folders, edit those);
//! - **the decision** ([`decision`]) — [`evaluate`], a pure function from a request, the catalog and
//!   the facts the server loaded to an explained [`Decision`] (DESIGN §3; the rules are documented
//!   on the module);
//! - **the rule book** ([`rules`]) — who may perform which management operation, and the
//!   invariants of administration (no escalation, partner reach, four-eyes, identity, limits);
//! - **suggestions** ([`suggest`](mod@suggest)) — on a deny, the smallest changes that would grant, and the
//!   members the rule book lets make them;
//! - **access requests** ([`access_request`]) — a member asks for a permission; its approvers, the
//!   four-eyes steps of approving it;
//! - **a check's answer** ([`answer`]) — the decision as the server serves it: revision, cache
//!   tier, freshness.
//!
//! It must not depend on tonic, prost, sea-orm, redis or tokio, and it does no I/O: no network, no
//! files, no environment, and **no clock** — time is a parameter ([`Timestamp`]), passed in by the
//! caller. Everything here is synchronous and deterministic, which is why most of guichet's unit
//! and property tests live here.
//!
//! Every public item is re-exported at the crate root.

pub mod access_request;
pub mod answer;
pub mod catalog;
pub mod contact;
pub mod decision;
pub mod email;
pub mod error;
pub mod ids;
pub mod invitation;
pub mod level;
pub mod model;
pub mod phone;
pub mod restriction;
pub mod rules;
pub mod settings;
pub mod simulate;
pub mod status;
pub mod suggest;
pub mod world;

pub use access_request::*;
pub use answer::*;
pub use catalog::*;
pub use contact::*;
pub use decision::*;
pub use email::*;
pub use error::*;
pub use ids::*;
pub use invitation::*;
pub use level::*;
pub use model::*;
pub use phone::*;
pub use restriction::Restriction;
pub use rules::{
    Grant, Hide, MAX_ROLES, Need, Operation, Own, Precondition, ProfileEditor, Reach, Refusal, Requirement, Rpc, Scope,
    Violation, admit, check_descendant_levels, check_four_eyes, check_grant, check_last_administrator,
    check_membership_transition, check_partner_reach, check_pending_frozen, check_profile_change,
    check_role_definition, check_role_limit, check_suspension_change, delegation_out_of_scope, expiry_extends,
    keep_an_administrator, roles_without,
};
pub use settings::*;
pub use simulate::{
    Denial, Effect, LevelChange, Named, SimOp, Simulation, Snapshot, SnapshotAccount, SnapshotDelegation,
    SnapshotMembership, simulate,
};
pub use status::*;
pub use suggest::{
    AccountView, Candidate, Change, Fixer, MAX_FIXERS, MAX_SUGGESTIONS, Step, Suggestion, Via, may_make,
    requirement_met, suggest,
};
pub use world::*;
