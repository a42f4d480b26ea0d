//! The worlds the end-to-end tests start from, written as data ([`WorldSpec`]) and loaded over
//! gRPC on the service's own authority (`guichet_testkit::world::load`), in the tests' own
//! conventions: accounts named `Compte {id}`, users `{id}@exemple.fr` with their id as given name,
//! memberships `m-{user}`.

pub use guichet_testkit::world::{
    AccountSpec, DelegationSpec, Level, MembershipSpec, MembershipStatus, ResourceSpec, RoleSpec, UserSpec, WorldSpec,
};
use guichet_tests::Clients;

/// An account `Compte {id}` of `kind`, under `parent` (`""`: a root).
pub fn account(id: &str, kind: &str, parent: &str) -> AccountSpec {
    let a = AccountSpec::new(id, kind).named(&format!("Compte {id}"));
    if parent.is_empty() { a } else { a.under(parent) }
}

/// A user `{id}@exemple.fr`, its given name its id.
pub fn user(id: &str) -> UserSpec {
    UserSpec::new(id).email(&format!("{id}@exemple.fr")).named(id, "")
}

/// The membership `m-{user}` of `user` in `account` with `role`.
pub fn member(user: &str, account: &str, role: &str) -> MembershipSpec {
    MembershipSpec::new(&format!("m-{user}"), user, account, &[role])
}

/// A folder of `account` named `name`.
pub fn folder(id: &str, account: &str, name: &str) -> ResourceSpec {
    ResourceSpec::new(id, account).named(name)
}

/// Loads `spec` into the server behind `s`; returns the revision of its last write.
pub async fn load_world(s: &impl Clients, spec: &WorldSpec) -> String {
    guichet_testkit::world::load(&s.channel(), spec).await.unwrap_or_else(|e| panic!("loading the world: {e}"))
}

/// The partner-portal world of `scenario.rs` (seeds 001 and 003): a partner with two clients (a
/// delegation into the first), an affiliate with one; each account's people.
pub fn scenario() -> WorldSpec {
    WorldSpec {
        accounts: vec![
            account("partner", "partner", ""),
            account("client-a", "customer", "partner"),
            account("client-b", "customer", "partner"),
            account("affilie", "affiliate", ""),
            account("client-c", "customer", "affilie"),
        ],
        users: ["gerant", "factu", "conseiller", "admin-a", "employe-a", "tech-affilie"].map(user).to_vec(),
        resources: vec![folder("dossier-a", "client-a", "Dossier A"), folder("dossier-c", "client-a", "Dossier C")],
        memberships: vec![
            member("gerant", "partner", "account_manager"),
            member("factu", "partner", "billing_manager"),
            member("conseiller", "partner", "delegated_account_administrator"),
            member("admin-a", "client-a", "client_administrator"),
            member("employe-a", "client-a", "client_user").restricted(&[("dossier-a", Level::Full)]),
            member("tech-affilie", "affilie", "technical_manager"),
        ],
        delegations: vec![DelegationSpec::new("deleg-a", "partner", "client-a", "client_administrator")],
        ..WorldSpec::default()
    }
}

/// The two trees of `isolation.rs`: pa → a (the actor's account) and s (suspended), pb → b (the
/// target); a custom role of A granting `features` at full, one of B; a folder each; B's
/// delegation from its partner; a suspended member on each side.
pub fn isolation(features: &[String]) -> WorldSpec {
    let tout = features.iter().fold(RoleSpec::new("a", "tout").described("Tout", ""), |r, f| r.grant(f, Level::Full));
    let suspended = |m: MembershipSpec| m.status(MembershipStatus::Suspended);
    WorldSpec {
        accounts: vec![
            account("pa", "partner", ""),
            account("a", "customer", "pa"),
            account("s", "customer", "pa").suspended(),
            account("pb", "partner", ""),
            account("b", "customer", "pb"),
        ],
        users: [
            "admin-a",
            "admin-pa",
            "employe-a",
            "suspendu-a",
            "admin-s",
            "admin-pb",
            "admin-b",
            "membre-b",
            "attente-b",
        ]
        .map(user)
        .to_vec(),
        roles: vec![tout, RoleSpec::new("b", "role_b").described("Rôle de B", "").grant("billing", Level::View)],
        resources: vec![folder("dossier-a", "a", "Dossier a"), folder("dossier-b", "b", "Dossier b")],
        memberships: vec![
            member("admin-a", "a", "tout"),
            member("admin-pa", "pa", "account_manager"),
            member("employe-a", "a", "client_user"),
            suspended(member("suspendu-a", "a", "client_administrator")),
            member("admin-s", "s", "client_administrator"),
            member("admin-pb", "pb", "account_manager"),
            member("admin-b", "b", "client_administrator"),
            suspended(member("membre-b", "b", "role_b")),
        ],
        delegations: vec![DelegationSpec::new("deleg-b", "pb", "b", "client_administrator")],
        ..WorldSpec::default()
    }
}

/// The world of `contacts.rs`: seed 002's hosting client (Paul's workshop: its owner, a client
/// user and a web developer) and seed 004's telecom client (the Leclerc firm, with its
/// administrator), under one partner; Claire, a login of neither.
pub fn contacts() -> WorldSpec {
    WorldSpec {
        accounts: vec![
            account("nuage", "partner", ""),
            account("atelier-paul", "customer", "nuage"),
            account("cabinet-leclerc", "customer", "nuage"),
        ],
        users: ["paul", "lea", "dev", "leclerc", "claire"].map(user).to_vec(),
        memberships: vec![
            member("paul", "atelier-paul", "owner"),
            member("lea", "atelier-paul", "client_user"),
            member("dev", "atelier-paul", "user"),
            member("leclerc", "cabinet-leclerc", "administrator"),
        ],
        ..WorldSpec::default()
    }
}
