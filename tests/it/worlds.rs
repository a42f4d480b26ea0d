//! The worlds the end-to-end tests start from, written as data: one TOML file each beside this
//! module (`worlds/*.toml`, a [`WorldSpec`] — see `guichet_domain::world`), loaded over gRPC on
//! the service's own authority (`guichet_testkit::world::load`); a file may add items to another
//! ([`WorldSpec::with`]). The tests' conventions: accounts named `Compte {id}`, users
//! `{id}@exemple.fr`, memberships `m-{user}`.

pub use guichet_testkit::world::{Level, WorldSpec};
use guichet_tests::Clients;

fn parse(name: &str, toml: &str) -> WorldSpec {
    WorldSpec::from_toml(toml).unwrap_or_else(|e| panic!("worlds/{name}.toml: {e}"))
}

/// Loads `spec` into the server behind `s`; returns the revision of its last write.
pub async fn load_world(s: &impl Clients, spec: &WorldSpec) -> String {
    guichet_testkit::world::load(&s.channel(), spec).await.unwrap_or_else(|e| panic!("loading the world: {e}"))
}

/// The partner-portal world of `scenario.rs` (seeds 001 and 003).
pub fn scenario() -> WorldSpec {
    parse("scenario", include_str!("worlds/scenario.toml"))
}

/// The two trees of `isolation.rs`, A's role `tout` granting each of `features` at full.
pub fn isolation(features: &[String]) -> WorldSpec {
    let mut spec = parse("isolation", include_str!("worlds/isolation.toml"));
    let tout = spec.roles.iter_mut().find(|r| r.name == "tout").expect("the role tout");
    tout.grants = features.iter().map(|f| (f.clone(), Level::Full)).collect();
    spec
}

/// The world of `contacts.rs` (seeds 002 and 004).
pub fn contacts() -> WorldSpec {
    parse("contacts", include_str!("worlds/contacts.toml"))
}

/// [`contacts`] with seed 002's accountant, a contact of the workshop, and, when `ordered`, the
/// workshop's technical order naming her.
pub fn contacts_with_accountant(ordered: bool) -> WorldSpec {
    let mut accountant = parse("accountant", include_str!("worlds/accountant.toml"));
    if !ordered {
        accountant.communication_orders.clear();
    }
    contacts().with(accountant)
}

/// Seed 000's world in `stories.rs`.
pub fn seed_000() -> WorldSpec {
    parse("seed-000", include_str!("worlds/seed-000.toml"))
}

/// Seed 002's world in `stories.rs`.
pub fn seed_002() -> WorldSpec {
    parse("seed-002", include_str!("worlds/seed-002.toml"))
}

/// The accounting firm and the bakery of `invitations.rs`.
pub fn bakery() -> WorldSpec {
    parse("bakery", include_str!("worlds/bakery.toml"))
}

/// The bakery of `freshness.rs`'s fence test.
pub fn fence() -> WorldSpec {
    parse("fence", include_str!("worlds/fence.toml"))
}
