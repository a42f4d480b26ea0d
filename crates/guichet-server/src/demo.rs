//! The demo world, from the seed articles: a cloud reseller (partner) with a sub-partner and
//! customers, a direct client, an affiliate with its clients, an accounting firm's client with
//! folders (*dossiers*) and a telecom customer with a module switched off; users in each built-in
//! role, one delegation (the partner's *Manage* button), two restricted memberships — Marc reaches
//! one folder of the bakery, and Anne, its bookkeeper, may view the 2025 folder and edit the
//! payroll folder (levels per folder).
//!
//! `guichet serve --demo` loads it into an empty database; the README's grpcurl examples use it.

use std::collections::BTreeSet;

use guichet_domain::{
    AccountId, AccountKind, DelegationId, Email, FeatureName, Grants, Level, MembershipId, NewAccount, NewDelegation,
    NewMembership, NewResource, NewUser, ResourceId, Restriction, RoleDefinition, RoleName, UserId,
};

use crate::app::{App, Call};
use crate::error::ServerError;

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

/// Why the demo could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// A demo value did not validate (a bug in this file).
    #[error("invalid demo value {value}: {message}")]
    Value {
        /// The value.
        value: String,
        /// Why.
        message: String,
    },
    /// A call failed.
    #[error(transparent)]
    Call(#[from] ServerError),
}

fn v<T, E: std::fmt::Display>(value: &str, parse: impl Fn(&str) -> Result<T, E>) -> Result<T, DemoError> {
    parse(value).map_err(|e| DemoError::Value { value: value.to_owned(), message: e.to_string() })
}

/// The accounts: (id, name, kind, parent).
const ACCOUNTS: &[(&str, &str, &str, Option<&str>)] = &[
    ("nuage-partenaires", "Nuage Partenaires (revendeur cloud)", "partner", None),
    ("alpes-revente", "Alpes Revente (sous-partenaire)", "sub_partner", Some("nuage-partenaires")),
    ("boulangerie-martin", "Boulangerie Martin", "customer", Some("nuage-partenaires")),
    ("fromagerie-dupont", "Fromagerie Dupont", "customer", Some("alpes-revente")),
    ("hotel-lumiere", "Hôtel Lumière (client direct)", "direct_client", None),
    ("reseau-affilie", "Réseau Affilié", "affiliate", None),
    ("garage-moreau", "Garage Moreau", "customer", Some("reseau-affilie")),
    ("cabinet-leclerc", "Cabinet Leclerc (fibre et VoIP)", "customer", Some("reseau-affilie")),
];

/// The users: (id, email, given name, family name).
const USERS: &[(&str, &str, &str, &str)] = &[
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
];

/// The memberships: (id, user, account, roles).
const MEMBERSHIPS: &[(&str, &str, &str, &[&str])] = &[
    ("m-claire", "claire", "nuage-partenaires", &["account_manager"]),
    ("m-bruno", "bruno", "nuage-partenaires", &["billing_manager"]),
    ("m-thomas", "thomas", "nuage-partenaires", &["technical_manager"]),
    ("m-sophie", "sophie", "nuage-partenaires", &["subscription_manager"]),
    ("m-david", "david", "nuage-partenaires", &["delegated_account_administrator"]),
    ("m-amelie", "amelie", "alpes-revente", &["account_manager"]),
    ("m-lucie", "lucie", "boulangerie-martin", &["client_administrator"]),
    ("m-marc", "marc", "boulangerie-martin", &["client_user"]),
    ("m-anne", "anne", "boulangerie-martin", &["comptable"]),
    ("m-odile", "odile", "fromagerie-dupont", &["client_administrator"]),
    ("m-helene", "helene", "hotel-lumiere", &["account_manager"]),
    ("m-julien", "julien", "hotel-lumiere", &["billing_manager"]),
    ("m-karim", "karim", "reseau-affilie", &["technical_manager"]),
    ("m-nadia", "nadia", "garage-moreau", &["client_administrator"]),
    ("m-paul", "paul", "cabinet-leclerc", &["administrator"]),
];

/// Loads the demo world through the application layer, on the service's own authority.
pub async fn load(app: &App) -> Result<(), DemoError> {
    for (id, name, kind, parent) in ACCOUNTS {
        let modules = if *id == "cabinet-leclerc" {
            // The telecom customer has not subscribed to 911 address management.
            let voip_911 = v("voip_911", FeatureName::parse)?;
            Some(app.catalog().default_modules().into_iter().filter(|m| *m != voip_911).collect::<BTreeSet<_>>())
        } else {
            None
        };
        let cmd = NewAccount {
            id: Some(v(id, AccountId::parse)?),
            name: (*name).to_owned(),
            kind: v(kind, AccountKind::parse)?,
            parent: parent.map(|p| v(p, AccountId::parse)).transpose()?,
            modules,
            settings: None,
        };
        app.create_account(&Call::service(), &cmd).await?;
    }
    for (id, email, given, family) in USERS {
        let cmd = NewUser {
            id: Some(v(id, UserId::parse)?),
            email: v(email, Email::parse)?,
            given_name: (*given).to_owned(),
            family_name: (*family).to_owned(),
            phone: None,
            idp_subject: None,
        };
        app.create_user(&Call::service(), None, &cmd).await?;
    }
    // The accounting folders (dossiers) of the bakery: reached one by one.
    for (id, name) in [
        ("bm-dossier-2025", "Dossier comptable 2025"),
        ("bm-dossier-juridique", "Dossier juridique"),
        ("bm-dossier-paie", "Dossier paie"),
    ] {
        let cmd = NewResource {
            id: Some(v(id, ResourceId::parse)?),
            account: v("boulangerie-martin", AccountId::parse)?,
            kind: v("folder", FeatureName::parse)?,
            name: name.to_owned(),
        };
        app.create_resource(&Call::service(), &cmd).await?;
    }
    // The bakery's bookkeeper role (a custom role): the folders in full, invoices and billing read.
    let grants: Grants = [("folders", Level::Full), ("invoices", Level::View), ("billing", Level::View)]
        .into_iter()
        .map(|(f, l)| Ok((v(f, FeatureName::parse)?, l)))
        .collect::<Result<_, DemoError>>()?;
    let def = RoleDefinition {
        account: v("boulangerie-martin", AccountId::parse)?,
        name: v("comptable", RoleName::parse)?,
        display_name: "Comptable".to_owned(),
        description: "tient les dossiers comptables qui lui sont confiés".to_owned(),
        grants,
        descendant_grants: Grants::new(),
    };
    app.create_role(&Call::service(), &def).await?;
    for (id, user, account, roles) in MEMBERSHIPS {
        let restriction: Option<Restriction> = match *id {
            // Marc reaches the 2025 folder only, at his role's level (view).
            "m-marc" => Some([(v("bm-dossier-2025", ResourceId::parse)?, Level::Full)].into_iter().collect()),
            // Anne may view the 2025 folder and edit the payroll folder.
            "m-anne" => Some(
                [
                    (v("bm-dossier-2025", ResourceId::parse)?, Level::View),
                    (v("bm-dossier-paie", ResourceId::parse)?, Level::Full),
                ]
                .into_iter()
                .collect(),
            ),
            _ => None,
        };
        let cmd = NewMembership {
            id: Some(v(id, MembershipId::parse)?),
            account: v(account, AccountId::parse)?,
            user: v(user, UserId::parse)?,
            roles: roles.iter().map(|r| v(r, RoleName::parse)).collect::<Result<_, _>>()?,
            restriction,
        };
        app.create_membership(&Call::service(), &cmd).await?;
    }
    // The partner's advisors may "Manage" the bakery, not the cheese shop.
    let cmd = NewDelegation {
        id: Some(v("d-nuage-boulangerie", DelegationId::parse)?),
        from_account: v("nuage-partenaires", AccountId::parse)?,
        to_account: v("boulangerie-martin", AccountId::parse)?,
        role: v("client_administrator", RoleName::parse)?,
    };
    app.create_delegation(&Call::service(), &cmd).await?;
    Ok(())
}
