//! Loads a world written as data ([`WorldSpec`], see `guichet_domain::world`) through the
//! application layer.
//!
//! [`load`] makes the calls a calling service makes on its own authority ([`Call::service`], no
//! actor): every command goes through [`App`] — validation, the email policy, the role limit, the
//! store's invariants (parents, last administrator, resources of the same account), one audit
//! event and one revision per write — exactly as the same calls over gRPC with an empty
//! `actor_id`. The rule book's actor checks (no escalation, four-eyes) have no actor to check on
//! that authority, as for any service call; nothing is written around the application.
//!
//! The demo world (`guichet serve --demo`, [`crate::demo`]) is loaded this way.

use guichet_domain::{Revision, WorldError, WorldSpec};

use crate::app::{App, Call};
use crate::error::ServerError;

/// Why a world could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The spec does not describe a valid world.
    #[error(transparent)]
    Spec(#[from] WorldError),
    /// A call was refused.
    #[error("{item}: {source}")]
    Call {
        /// What was being written, e.g. `membership m-marc`.
        item: String,
        /// The refusal.
        source: ServerError,
    },
}

fn named(item: &str, id: Option<&impl std::fmt::Display>) -> String {
    id.map_or_else(|| item.to_owned(), |id| format!("{item} {id}"))
}

fn at(item: impl FnOnce() -> String) -> impl FnOnce(ServerError) -> LoadError {
    move |source| LoadError::Call { item: item(), source }
}

/// Loads `spec` into `app` (see the module docs), in the order of
/// [`WorldSpec::commands`](guichet_domain::WorldSpec::commands). Returns the revision of the last
/// write (`None` for an empty world).
pub async fn load(app: &App, spec: &WorldSpec) -> Result<Option<Revision>, LoadError> {
    let commands = spec.commands(app.catalog())?;
    let call = Call::service();
    let mut revision = None;
    for cmd in &commands.accounts {
        let (_, r) = app.create_account(&call, cmd).await.map_err(at(|| named("account", cmd.id.as_ref())))?;
        revision = Some(r);
    }
    for cmd in &commands.users {
        let (_, r, _) = app.create_user(&call, None, cmd).await.map_err(at(|| named("user", cmd.id.as_ref())))?;
        revision = Some(r);
    }
    for cmd in &commands.resources {
        let (_, r) = app.create_resource(&call, cmd).await.map_err(at(|| named("resource", cmd.id.as_ref())))?;
        revision = Some(r);
    }
    for def in &commands.roles {
        let (_, r) = app.create_role(&call, def).await.map_err(at(|| format!("role {}/{}", def.account, def.name)))?;
        revision = Some(r);
    }
    for cmd in &commands.memberships {
        let (_, r) = app.create_membership(&call, cmd).await.map_err(at(|| named("membership", cmd.id.as_ref())))?;
        revision = Some(r);
    }
    for cmd in &commands.delegations {
        let (_, r) = app.create_delegation(&call, cmd).await.map_err(at(|| named("delegation", cmd.id.as_ref())))?;
        revision = Some(r);
    }
    for cmd in &commands.contacts {
        let (_, r) = app.create_contact(&call, cmd).await.map_err(at(|| named("contact", cmd.id.as_ref())))?;
        revision = Some(r);
    }
    for cmd in &commands.communication_orders {
        let (_, r) = app
            .set_communication_order(&call, cmd)
            .await
            .map_err(at(|| format!("communication_order {}/{}", cmd.account, cmd.kind)))?;
        revision = Some(r);
    }
    for m in &commands.suspended_memberships {
        let (_, r) = app
            .set_membership_status(&call, m, guichet_domain::MembershipStatus::Suspended)
            .await
            .map_err(at(|| format!("membership {m}")))?;
        revision = Some(r);
    }
    for u in &commands.suspended_users {
        let (_, r) = app
            .set_user_status(&call, u, guichet_domain::UserStatus::Suspended)
            .await
            .map_err(at(|| format!("user {u}")))?;
        revision = Some(r);
    }
    for a in &commands.suspended_accounts {
        let (_, r) = app
            .set_account_status(&call, a, guichet_domain::AccountStatus::Suspended, None)
            .await
            .map_err(at(|| format!("account {a}")))?;
        revision = Some(r);
    }
    Ok(revision)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use guichet_domain::{AccessRequest, AccountId, Catalog, Consistency, Permission, ResourceId, UserId};
    use guichet_store::{Store, StoreOptions};

    use super::*;
    use crate::clock::SystemClock;

    /// An application over a fresh SQLite file (removed with the returned directory).
    async fn app(catalog: Arc<Catalog>) -> (App, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("world.db").display());
        let store = Store::connect(&StoreOptions::new(url), catalog.clone()).await.unwrap();
        store.migrate().await.unwrap();
        (App::new(store, catalog, Arc::new(SystemClock)), dir)
    }

    /// The invariant of the loaders: the demo world loaded through the application decides every
    /// request exactly as its domain facts do (the same decision, paths and caps included).
    #[tokio::test]
    async fn the_demo_world_decides_in_the_app_as_in_its_facts() {
        let catalog = Arc::new(Catalog::builtin().unwrap());
        let (app, _dir) = app(catalog.clone()).await;
        let spec = crate::demo::world();
        let revision = load(&app, &spec).await.unwrap();
        assert!(revision.is_some());
        let world = spec.resolve(&catalog).unwrap();
        let requests = world.every_request();
        assert!(requests.len() > 5_000, "{}", requests.len());
        let mut allowed = 0;
        for request in &requests {
            let expected = world.evaluate(request);
            let got = app.check(request, Consistency::FullyConsistent).await.unwrap().decision;
            assert_eq!(got, expected, "{request:?}");
            allowed += usize::from(got.allowed);
        }
        // Not a world where everything is denied (or allowed).
        assert!(allowed > 300 && allowed < requests.len() / 2, "{allowed} of {}", requests.len());
    }

    #[tokio::test]
    async fn suspensions_are_loaded_after_everything_else() {
        let catalog = Arc::new(Catalog::builtin().unwrap());
        let (app, _dir) = app(catalog.clone()).await;
        let mut spec = crate::demo::world();
        spec.account_mut("alpes-revente").unwrap().status = guichet_domain::AccountStatus::Suspended;
        spec.user_mut("bruno").unwrap().status = guichet_domain::UserStatus::Suspended;
        spec.membership_mut("m-marc").unwrap().status = guichet_domain::MembershipStatus::Suspended;
        load(&app, &spec).await.unwrap();
        let world = spec.resolve(&catalog).unwrap();
        for (subject, account, permission, resource, reason) in [
            ("odile", "fromagerie-dupont", "users:view", None, guichet_domain::Reason::AccountSuspended),
            ("bruno", "nuage-partenaires", "invoices:view", None, guichet_domain::Reason::SubjectSuspended),
            (
                "marc",
                "boulangerie-martin",
                "folders:view",
                Some("bm-dossier-2025"),
                guichet_domain::Reason::NoAccessPath,
            ),
        ] {
            let request = AccessRequest {
                subject: UserId::parse(subject).unwrap(),
                account: AccountId::parse(account).unwrap(),
                permission: Permission::parse(permission).unwrap(),
                resource: resource.map(|r| ResourceId::parse(r).unwrap()),
            };
            let got = app.check(&request, Consistency::FullyConsistent).await.unwrap().decision;
            assert_eq!(got.reason, reason, "{request:?}");
            assert_eq!(got, world.evaluate(&request));
        }
    }

    #[tokio::test]
    async fn contacts_and_their_orders_are_loaded_after_the_memberships() {
        use guichet_domain::{CommunicationOrderSpec, CommunicationType, ContactSpec};
        let catalog = Arc::new(Catalog::builtin().unwrap());
        let (app, _dir) = app(catalog.clone()).await;
        let mut spec = crate::demo::world();
        let account = spec.memberships[0].account.clone();
        let user = spec.memberships[0].user.clone();
        spec.contacts = vec![
            ContactSpec::new("k-compta", &account, "Claire", "Compta", "claire@compta.example"),
            ContactSpec {
                user: Some(user.clone()),
                ..ContactSpec::new("k-user", &account, "", "User", "u@example.com")
            },
        ];
        spec.communication_orders = vec![CommunicationOrderSpec::new(&account, "technical", &["k-user", "k-compta"])];
        load(&app, &spec).await.unwrap();
        let account = AccountId::parse(&account).unwrap();
        let call = Call::service();
        let linked = app.get_contact(&call, &guichet_domain::ContactId::parse("k-user").unwrap()).await.unwrap();
        assert_eq!(
            (linked.account.clone(), linked.details.user),
            (account.clone(), Some(UserId::parse(&user).unwrap()))
        );
        let (order, _) = app.get_communication_order(&call, &account, CommunicationType::Technical).await.unwrap();
        assert_eq!(order.contacts.iter().map(|c| c.as_str()).collect::<Vec<_>>(), ["k-user", "k-compta"]);
        // A contact of an account that is not in the world is refused before anything is written.
        spec.contacts[0].account = "ailleurs".into();
        let e = load(&app, &spec).await.unwrap_err();
        assert_eq!(e.to_string(), "contact k-compta: account \"ailleurs\" is not in the world");
    }

    #[tokio::test]
    async fn a_refused_call_names_the_item() {
        let catalog = Arc::new(Catalog::builtin().unwrap());
        let (app, _dir) = app(catalog.clone()).await;
        load(&app, &crate::demo::world()).await.unwrap();
        // Loading it again: the first account exists already.
        let e = load(&app, &crate::demo::world()).await.unwrap_err();
        assert!(matches!(e, LoadError::Call { ref item, .. } if item == "account nuage-partenaires"), "{e}");
        // An invalid spec writes nothing.
        let mut spec = WorldSpec::new();
        spec.accounts.push(guichet_domain::AccountSpec::new("x", "customer"));
        let e = load(&app, &spec).await.unwrap_err();
        assert_eq!(e.to_string(), "account x: a customer needs a parent");
    }
}
