//! The demo world, from the seed articles: a cloud reseller (partner) with a sub-partner and
//! customers, a direct client, an affiliate with its clients, an accounting firm's client with
//! folders (*dossiers*) and a telecom customer with a module switched off; users in each built-in
//! role, one delegation (the partner's *Manage* button), two restricted memberships — Marc reaches
//! one folder of the bakery, and Anne, its bookkeeper, may view the 2025 folder and edit the
//! payroll folder (levels per folder).
//!
//! It is written as data ([`world`]); `guichet serve --demo` loads it into an empty database
//! through the application layer ([`load`]); the README's grpcurl examples use it.

use guichet_domain::{AccountSpec, DelegationSpec, Level, MembershipSpec, ResourceSpec, RoleSpec, UserSpec, WorldSpec};

use crate::app::App;
use crate::world::LoadError;

/// What `guichet serve --demo` prints after `guichet listening on ADDR` (on plaintext without
/// service credentials): commands a newcomer can paste, asking questions of the demo world at
/// `addr` — a check (Marc reaches the folder he was given) and an explanation (why David, who
/// manages the bakery through the partner's delegation, does not reach the cheese shop). Each
/// line after the first is one shell command; the test `make_run_prints_commands_that_work` runs
/// them.
pub fn try_it(addr: std::net::SocketAddr) -> Vec<String> {
    let host = if addr.ip().is_unspecified() {
        std::net::SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), addr.port())
    } else {
        addr
    };
    vec![
        "Try it on the demo data (grpcurl: https://github.com/fullstorydev/grpcurl):".to_owned(),
        format!(
            r#"  grpcurl -plaintext -d '{{"subject_id":"marc","account_id":"boulangerie-martin","permission":"folders:view","resource_id":"bm-dossier-2025"}}' {host} guichet.v1.AccessService/CheckAccess"#
        ),
        format!(
            r#"  grpcurl -plaintext -d '{{"subject_id":"david","account_id":"fromagerie-dupont","permission":"users:view"}}' {host} guichet.v1.AccessService/ExplainAccess"#
        ),
    ]
}

/// The demo world, as data.
pub fn world() -> WorldSpec {
    let accounts = vec![
        AccountSpec::new("nuage-partenaires", "partner").named("Nuage Partenaires (revendeur cloud)"),
        AccountSpec::new("alpes-revente", "sub_partner")
            .named("Alpes Revente (sous-partenaire)")
            .under("nuage-partenaires"),
        AccountSpec::new("boulangerie-martin", "customer").named("Boulangerie Martin").under("nuage-partenaires"),
        AccountSpec::new("fromagerie-dupont", "customer").named("Fromagerie Dupont").under("alpes-revente"),
        AccountSpec::new("hotel-lumiere", "direct_client").named("Hôtel Lumière (client direct)"),
        AccountSpec::new("reseau-affilie", "affiliate").named("Réseau Affilié"),
        AccountSpec::new("garage-moreau", "customer").named("Garage Moreau").under("reseau-affilie"),
        // The telecom customer has not subscribed to 911 address management.
        AccountSpec::new("cabinet-leclerc", "customer")
            .named("Cabinet Leclerc (fibre et VoIP)")
            .under("reseau-affilie")
            .without_module("voip_911"),
    ];
    let users = [
        ("claire", "claire.martin@nuage-partenaires.example", "Claire", "Martin"),
        ("bruno", "bruno.petit@nuage-partenaires.example", "Bruno", "Petit"),
        ("thomas", "thomas.roux@nuage-partenaires.example", "Thomas", "Roux"),
        ("sophie", "sophie.blanc@nuage-partenaires.example", "Sophie", "Blanc"),
        ("david", "david.fournier@nuage-partenaires.example", "David", "Fournier"),
        ("amelie", "amelie.girard@alpes-revente.example", "Amélie", "Girard"),
        ("lucie", "lucie.martin@boulangerie-martin.example", "Lucie", "Martin"),
        ("marc", "marc.bernard@boulangerie-martin.example", "Marc", "Bernard"),
        ("anne", "anne.roche@boulangerie-martin.example", "Anne", "Roche"),
        ("odile", "odile.dupont@fromagerie-dupont.example", "Odile", "Dupont"),
        ("helene", "helene.durand@hotel-lumiere.example", "Hélène", "Durand"),
        ("julien", "julien.lefevre@hotel-lumiere.example", "Julien", "Lefèvre"),
        ("karim", "karim.haddad@reseau-affilie.example", "Karim", "Haddad"),
        ("nadia", "nadia.moreau@garage-moreau.example", "Nadia", "Moreau"),
        ("paul", "paul.leclerc@cabinet-leclerc.example", "Paul", "Leclerc"),
    ]
    .into_iter()
    .map(|(id, email, given, family)| UserSpec::new(id).email(email).named(given, family))
    .collect();
    // The accounting folders (dossiers) of the bakery: reached one by one.
    let resources = vec![
        ResourceSpec::new("bm-dossier-2025", "boulangerie-martin").named("Dossier comptable 2025"),
        ResourceSpec::new("bm-dossier-juridique", "boulangerie-martin").named("Dossier juridique"),
        ResourceSpec::new("bm-dossier-paie", "boulangerie-martin").named("Dossier paie"),
    ];
    // The bakery's bookkeeper role (a custom role): the folders in full, invoices and billing read.
    let roles = vec![
        RoleSpec::new("boulangerie-martin", "comptable")
            .described("Comptable", "tient les dossiers comptables qui lui sont confiés")
            .grant("folders", Level::Full)
            .grant("invoices", Level::View)
            .grant("billing", Level::View),
    ];
    let memberships = vec![
        MembershipSpec::new("m-claire", "claire", "nuage-partenaires", &["account_manager"]),
        MembershipSpec::new("m-bruno", "bruno", "nuage-partenaires", &["billing_manager"]),
        MembershipSpec::new("m-thomas", "thomas", "nuage-partenaires", &["technical_manager"]),
        MembershipSpec::new("m-sophie", "sophie", "nuage-partenaires", &["subscription_manager"]),
        MembershipSpec::new("m-david", "david", "nuage-partenaires", &["delegated_account_administrator"]),
        MembershipSpec::new("m-amelie", "amelie", "alpes-revente", &["account_manager"]),
        MembershipSpec::new("m-lucie", "lucie", "boulangerie-martin", &["client_administrator"]),
        // Marc reaches the 2025 folder only, at his role's level (view).
        MembershipSpec::new("m-marc", "marc", "boulangerie-martin", &["client_user"])
            .restricted(&[("bm-dossier-2025", Level::Full)]),
        // Anne may view the 2025 folder and edit the payroll folder.
        MembershipSpec::new("m-anne", "anne", "boulangerie-martin", &["comptable"])
            .restricted(&[("bm-dossier-2025", Level::View), ("bm-dossier-paie", Level::Full)]),
        MembershipSpec::new("m-odile", "odile", "fromagerie-dupont", &["client_administrator"]),
        MembershipSpec::new("m-helene", "helene", "hotel-lumiere", &["account_manager"]),
        MembershipSpec::new("m-julien", "julien", "hotel-lumiere", &["billing_manager"]),
        MembershipSpec::new("m-karim", "karim", "reseau-affilie", &["technical_manager"]),
        MembershipSpec::new("m-nadia", "nadia", "garage-moreau", &["client_administrator"]),
        MembershipSpec::new("m-paul", "paul", "cabinet-leclerc", &["administrator"]),
    ];
    // The partner's advisors may "Manage" the bakery, not the cheese shop.
    let delegations = vec![DelegationSpec::new(
        "d-nuage-boulangerie",
        "nuage-partenaires",
        "boulangerie-martin",
        "client_administrator",
    )];
    WorldSpec { accounts, users, roles, resources, memberships, delegations, ..WorldSpec::new() }
}

/// Loads the demo world through the application layer, on the service's own authority (see
/// [`crate::world::load`]).
pub async fn load(app: &App) -> Result<(), LoadError> {
    crate::world::load(app, &world()).await.map(drop)
}
