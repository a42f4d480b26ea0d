//! Worlds written as data ([`WorldSpec`], see `guichet_domain::world`: accounts to contacts),
//! loaded over gRPC into a running server.
//!
//! [`load`] sends the [`WorldCommands`](guichet_domain::WorldCommands) of the spec, in their order,
//! as the public API's calls with an empty `actor_id` (the calling service's own authority) —
//! what a portal back-end or an operator with grpcurl would send. The same spec loads into the
//! domain facts ([`WorldSpec::resolve`]) and through the application layer
//! (`guichet_server::world::load`); the tests below hold the three to the same decisions.
//!
//! ```ignore
//! let spec = guichet_server::demo::world();
//! let revision = guichet_testkit::world::load(&channel, &spec).await?;
//! ```

/// The spec's types, for the tests that write worlds.
pub use guichet_domain::{
    AccountSpec, CommunicationOrderSpec, ContactSpec, DelegationSpec, Level, MembershipSpec, MembershipStatus,
    ResourceSpec, RoleSpec, UserSpec, WorldSpec,
};
use guichet_domain::{Catalog, WorldError};
use guichet_proto::v1 as pb;
use tonic::transport::Channel;

/// Why a world could not be loaded over gRPC.
#[derive(Debug)]
pub enum LoadError {
    /// The spec does not describe a valid world (against the built-in or the given catalog).
    Spec(WorldError),
    /// The built-in catalog could not be read.
    Catalog(String),
    /// A call was refused.
    Call {
        /// What was being written, e.g. `membership m-marc`.
        item: String,
        /// The refusal.
        status: Box<tonic::Status>,
    },
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoadError::Spec(e) => e.fmt(f),
            LoadError::Catalog(e) => write!(f, "catalog: {e}"),
            LoadError::Call { item, status } => write!(f, "{item}: {:?}: {}", status.code(), status.message()),
        }
    }
}

impl std::error::Error for LoadError {}

impl From<WorldError> for LoadError {
    fn from(e: WorldError) -> Self {
        LoadError::Spec(e)
    }
}

fn at(item: impl FnOnce() -> String) -> impl FnOnce(tonic::Status) -> LoadError {
    move |status| LoadError::Call { item: item(), status: Box::new(status) }
}

fn id_of(id: Option<&impl ToString>) -> String {
    id.map(ToString::to_string).unwrap_or_default()
}

fn level(level: Level) -> i32 {
    pb::Level::from(level) as i32
}

fn grants(grants: &guichet_domain::Grants) -> Vec<pb::FeatureGrant> {
    grants.iter().map(|(f, l)| pb::FeatureGrant { feature: f.to_string(), level: level(*l) }).collect()
}

/// Loads `spec` over `channel`, checked against the built-in catalog (the server's default).
/// Returns the revision token of the last write (empty for an empty world), for an
/// `at_least_as_fresh` check.
pub async fn load(channel: &Channel, spec: &WorldSpec) -> Result<String, LoadError> {
    let catalog = Catalog::builtin().map_err(|e| LoadError::Catalog(e.to_string()))?;
    load_with_catalog(channel, &catalog, spec).await
}

/// [`load`], for a server started with another catalog.
pub async fn load_with_catalog(channel: &Channel, catalog: &Catalog, spec: &WorldSpec) -> Result<String, LoadError> {
    let commands = spec.commands(catalog)?;
    let mut accounts = pb::account_service_client::AccountServiceClient::new(channel.clone());
    let mut users = pb::user_service_client::UserServiceClient::new(channel.clone());
    let mut resources = pb::resource_service_client::ResourceServiceClient::new(channel.clone());
    let mut roles = pb::role_service_client::RoleServiceClient::new(channel.clone());
    let mut memberships = pb::membership_service_client::MembershipServiceClient::new(channel.clone());
    let mut delegations = pb::delegation_service_client::DelegationServiceClient::new(channel.clone());
    let mut contacts = pb::contact_service_client::ContactServiceClient::new(channel.clone());
    let mut revision = String::new();

    for cmd in &commands.accounts {
        let item = || format!("account {}", id_of(cmd.id.as_ref()));
        // An empty list enables every module on create: an account with none gets them set after.
        let modules: Vec<String> = cmd.modules.iter().flatten().map(ToString::to_string).collect();
        let request = pb::CreateAccountRequest {
            id: id_of(cmd.id.as_ref()),
            name: cmd.name.clone(),
            kind: cmd.kind.to_string(),
            parent_id: id_of(cmd.parent.as_ref()),
            modules: modules.clone(),
            ..Default::default()
        };
        revision = accounts.create_account(request).await.map_err(at(item))?.into_inner().revision;
        if cmd.modules.as_ref().is_some_and(std::collections::BTreeSet::is_empty) {
            let request = pb::SetAccountModulesRequest { account_id: id_of(cmd.id.as_ref()), ..Default::default() };
            revision = accounts.set_account_modules(request).await.map_err(at(item))?.into_inner().revision;
        }
    }
    for cmd in &commands.users {
        let request = pb::CreateUserRequest {
            id: id_of(cmd.id.as_ref()),
            email: cmd.email.to_string(),
            given_name: cmd.given_name.clone(),
            family_name: cmd.family_name.clone(),
            ..Default::default()
        };
        let item = || format!("user {}", id_of(cmd.id.as_ref()));
        revision = users.create_user(request).await.map_err(at(item))?.into_inner().revision;
    }
    for cmd in &commands.resources {
        let request = pb::CreateResourceRequest {
            id: id_of(cmd.id.as_ref()),
            account_id: cmd.account.to_string(),
            kind: cmd.kind.to_string(),
            name: cmd.name.clone(),
            ..Default::default()
        };
        let item = || format!("resource {}", id_of(cmd.id.as_ref()));
        revision = resources.create_resource(request).await.map_err(at(item))?.into_inner().revision;
    }
    for def in &commands.roles {
        let request = pb::CreateRoleRequest {
            account_id: def.account.to_string(),
            name: def.name.to_string(),
            display_name: def.display_name.clone(),
            description: def.description.clone(),
            grants: grants(&def.grants),
            descendant_grants: grants(&def.descendant_grants),
            ..Default::default()
        };
        let item = || format!("role {}/{}", def.account, def.name);
        revision = roles.create_role(request).await.map_err(at(item))?.into_inner().revision;
    }
    for cmd in &commands.memberships {
        let restriction = cmd.restriction.as_ref().map(|r| pb::ResourceRestriction {
            restricted: true,
            resource_ids: r.iter().filter(|(_, cap)| *cap == Level::Full).map(|(id, _)| id.to_string()).collect(),
            resource_levels: r
                .iter()
                .filter(|(_, cap)| *cap != Level::Full)
                .map(|(id, cap)| pb::ResourceLevel { resource_id: id.to_string(), level: level(cap) })
                .collect(),
        });
        let request = pb::CreateMembershipRequest {
            id: id_of(cmd.id.as_ref()),
            account_id: cmd.account.to_string(),
            user_id: cmd.user.to_string(),
            roles: cmd.roles.iter().map(ToString::to_string).collect(),
            restriction,
            ..Default::default()
        };
        let item = || format!("membership {}", id_of(cmd.id.as_ref()));
        revision = memberships.create_membership(request).await.map_err(at(item))?.into_inner().revision;
    }
    for cmd in &commands.delegations {
        let request = pb::CreateDelegationRequest {
            id: id_of(cmd.id.as_ref()),
            from_account_id: cmd.from_account.to_string(),
            to_account_id: cmd.to_account.to_string(),
            role: cmd.role.to_string(),
            ..Default::default()
        };
        let item = || format!("delegation {}", id_of(cmd.id.as_ref()));
        revision = delegations.create_delegation(request).await.map_err(at(item))?.into_inner().revision;
    }
    for cmd in &commands.contacts {
        let d = &cmd.details;
        let request = pb::CreateContactRequest {
            id: id_of(cmd.id.as_ref()),
            account_id: cmd.account.to_string(),
            given_name: d.given_name.clone(),
            family_name: d.family_name.clone(),
            email: id_of(d.email.as_ref()),
            phone: id_of(d.phone.as_ref()),
            title: d.title.clone(),
            subscriptions: d.subscriptions.iter().map(|s| pb::ContactSubscription::from(*s) as i32).collect(),
            permissions: d.permissions.iter().map(|p| pb::ContactPermission::from(*p) as i32).collect(),
            user_id: id_of(d.user.as_ref()),
            ..Default::default()
        };
        let item = || format!("contact {}", id_of(cmd.id.as_ref()));
        revision = contacts.create_contact(request).await.map_err(at(item))?.into_inner().revision;
    }
    for cmd in &commands.communication_orders {
        let request = pb::SetCommunicationOrderRequest {
            account_id: cmd.account.to_string(),
            r#type: pb::CommunicationType::from(cmd.kind) as i32,
            contact_ids: cmd.contacts.iter().map(ToString::to_string).collect(),
            ..Default::default()
        };
        let item = || format!("communication_order {}/{}", cmd.account, cmd.kind);
        revision = contacts.set_communication_order(request).await.map_err(at(item))?.into_inner().revision;
    }
    for m in &commands.suspended_memberships {
        let request = pb::SuspendMembershipRequest { membership_id: m.to_string(), ..Default::default() };
        let item = || format!("membership {m}");
        revision = memberships.suspend_membership(request).await.map_err(at(item))?.into_inner().revision;
    }
    for u in &commands.suspended_users {
        let request = pb::SuspendUserRequest { id: u.to_string(), ..Default::default() };
        revision = users.suspend_user(request).await.map_err(at(|| format!("user {u}")))?.into_inner().revision;
    }
    for a in &commands.suspended_accounts {
        let request = pb::SuspendAccountRequest { id: a.to_string(), ..Default::default() };
        revision =
            accounts.suspend_account(request).await.map_err(at(|| format!("account {a}")))?.into_inner().revision;
    }
    Ok(revision)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use guichet_domain::{AccessRequest, AccountStatus, MembershipStatus, UserStatus};
    use guichet_server::Server;
    use guichet_server::config::Config;

    use super::*;

    /// A server on `127.0.0.1:0` over a fresh SQLite file, stopped and removed on drop.
    struct Running {
        channel: Channel,
        stop: Option<tokio::sync::oneshot::Sender<()>>,
        task: Option<tokio::task::JoinHandle<()>>,
        dir: std::path::PathBuf,
    }

    impl Running {
        async fn start() -> Running {
            static N: AtomicU64 = AtomicU64::new(0);
            let dir = std::env::temp_dir().join(format!(
                "guichet-testkit-world-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::create_dir_all(&dir).unwrap();
            let mut config = Config {
                listen: "127.0.0.1:0".parse().unwrap(),
                database_url: guichet_server::config::Secret::new(format!(
                    "sqlite://{}?mode=rwc",
                    dir.join("world.db").display()
                )),
                ..Config::default()
            };
            config.admin.listen = "127.0.0.1:0".parse().unwrap();
            config.authzen.enabled = false;
            let server = Server::build(&config).await.unwrap();
            let addr = server.local_addr();
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let task = tokio::spawn(async move {
                server
                    .run_until_stopped(async {
                        let _ = stopped.await;
                    })
                    .await
                    .unwrap();
            });
            let channel = Channel::from_shared(format!("http://{addr}")).unwrap().connect().await.unwrap();
            Running { channel, stop: Some(stop), task: Some(task), dir }
        }

        async fn stop(mut self) {
            if let Some(stop) = self.stop.take() {
                let _ = stop.send(());
            }
            if let Some(task) = self.task.take() {
                task.await.unwrap();
            }
        }
    }

    impl Drop for Running {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    fn batch_item(r: &AccessRequest) -> pb::CheckAccessBatchItem {
        pb::CheckAccessBatchItem {
            subject_id: r.subject.to_string(),
            account_id: r.account.to_string(),
            permission: r.permission.to_string(),
            resource_id: r.resource.as_ref().map(ToString::to_string).unwrap_or_default(),
        }
    }

    /// Checks every request of the world's grid over gRPC (CheckAccessBatch, fully consistent)
    /// and compares each answer with the decision over the domain facts. Returns how many were
    /// allowed.
    async fn same_decisions(channel: &Channel, spec: &WorldSpec) -> usize {
        let world = spec.resolve(&Catalog::builtin().unwrap()).unwrap();
        let requests = world.every_request();
        let mut access = pb::access_service_client::AccessServiceClient::new(channel.clone());
        let fully = pb::Consistency { requirement: Some(pb::consistency::Requirement::FullyConsistent(true)) };
        let mut allowed = 0;
        for chunk in requests.chunks(500) {
            let request = pb::CheckAccessBatchRequest {
                items: chunk.iter().map(batch_item).collect(),
                consistency: Some(fully.clone()),
            };
            let results = access.check_access_batch(request).await.unwrap().into_inner().results;
            assert_eq!(results.len(), chunk.len());
            for (request, got) in chunk.iter().zip(results) {
                let expected = world.evaluate(request);
                let want = (
                    expected.allowed,
                    expected.reason.code().to_owned(),
                    level(expected.effective),
                    level(expected.required),
                    expected.granted_by.as_ref().map(pb::AccessPath::from),
                );
                let have = (got.allowed, got.reason_code, got.effective_level, got.required_level, got.granted_by);
                assert_eq!(have, want, "{request:?}");
                allowed += usize::from(expected.allowed);
            }
        }
        allowed
    }

    /// The invariant of the loaders: the demo world loaded over gRPC answers every request of its
    /// grid as its domain facts decide it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_demo_world_loaded_over_grpc_decides_as_its_facts() {
        let server = Running::start().await;
        let spec = guichet_server::demo::world();
        let revision = load(&server.channel, &spec).await.unwrap();
        assert!(!revision.is_empty());
        let allowed = same_decisions(&server.channel, &spec).await;
        assert!(allowed > 300, "{allowed}");
        server.stop().await;
    }

    /// Suspensions, an account with no module and a custom role with descendant levels, over
    /// gRPC.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn statuses_modules_and_custom_roles_load_over_grpc() {
        let server = Running::start().await;
        let mut spec = guichet_server::demo::world();
        spec.account_mut("fromagerie-dupont").unwrap().status = AccountStatus::Suspended;
        spec.account_mut("garage-moreau").unwrap().modules = Some(Default::default());
        spec.user_mut("julien").unwrap().status = UserStatus::Suspended;
        spec.membership_mut("m-thomas").unwrap().status = MembershipStatus::Suspended;
        spec.roles.push(
            guichet_domain::RoleSpec::new("reseau-affilie", "regional_support")
                .grant("support_tickets", Level::Full)
                .grant_below("support_tickets", Level::View),
        );
        spec.membership_mut("m-karim").unwrap().roles.push("regional_support".to_owned());
        load(&server.channel, &spec).await.unwrap();
        same_decisions(&server.channel, &spec).await;
        // A second load is refused at its first write, named.
        let e = load(&server.channel, &spec).await.unwrap_err();
        assert!(e.to_string().starts_with("account nuage-partenaires: AlreadyExists"), "{e}");
        server.stop().await;
    }
}
