//! gRPC clients and the small worlds the scenarios load through the API (on the service's own
//! authority: an empty `actor_id`). A world is data ([`WorldSpec`]), loaded over gRPC by
//! `guichet_testkit::world`; [`team`] writes the usual one: one root account, its members, one role
//! each.

use guichet_domain::{AccountSpec, MembershipSpec, UserSpec, WorldSpec};
use guichet_proto::v1 as pb;
use tonic::Status;
use tonic::transport::Channel;

use crate::BoxError;

/// A root account of kind `direct_client` (its administrator role is `account_manager`).
pub(crate) fn account(id: &str) -> AccountSpec {
    AccountSpec::new(id, "direct_client").named(&format!("Compte {id}"))
}

/// A user `{id}@exemple.fr`, given name `id`.
pub(crate) fn user(id: &str) -> UserSpec {
    UserSpec::new(id).email(&format!("{id}@exemple.fr")).named(id, "")
}

/// One [`account`] and its members: (membership id, user id, role), each user created.
pub(crate) fn team<M: AsRef<str>, U: AsRef<str>>(
    account_id: &str,
    members: impl IntoIterator<Item = (M, U, &'static str)>,
) -> WorldSpec {
    let mut spec = WorldSpec { accounts: vec![account(account_id)], ..WorldSpec::new() };
    for (membership, member, role) in members {
        spec.users.push(user(member.as_ref()));
        spec.memberships.push(MembershipSpec::new(membership.as_ref(), member.as_ref(), account_id, &[role]));
    }
    spec
}

/// Every client the harness uses, over one channel.
#[derive(Debug, Clone)]
pub(crate) struct Api {
    channel: Channel,
    pub(crate) access: pb::access_service_client::AccessServiceClient<Channel>,
    pub(crate) accounts: pb::account_service_client::AccountServiceClient<Channel>,
    pub(crate) users: pb::user_service_client::UserServiceClient<Channel>,
    pub(crate) roles: pb::role_service_client::RoleServiceClient<Channel>,
    pub(crate) memberships: pb::membership_service_client::MembershipServiceClient<Channel>,
    pub(crate) invitations: pb::invitation_service_client::InvitationServiceClient<Channel>,
    pub(crate) events: pb::event_service_client::EventServiceClient<Channel>,
}

impl Api {
    pub(crate) fn new(channel: &Channel) -> Self {
        Self {
            channel: channel.clone(),
            access: pb::access_service_client::AccessServiceClient::new(channel.clone()),
            accounts: pb::account_service_client::AccountServiceClient::new(channel.clone()),
            users: pb::user_service_client::UserServiceClient::new(channel.clone()),
            roles: pb::role_service_client::RoleServiceClient::new(channel.clone()),
            memberships: pb::membership_service_client::MembershipServiceClient::new(channel.clone()),
            invitations: pb::invitation_service_client::InvitationServiceClient::new(channel.clone()),
            events: pb::event_service_client::EventServiceClient::new(channel.clone()),
        }
    }

    /// Loads `spec` (see `guichet_testkit::world::load`); returns the revision of its last write.
    pub(crate) async fn load(&self, spec: &WorldSpec) -> Result<String, BoxError> {
        Ok(guichet_testkit::world::load(&self.channel, spec).await?)
    }

    /// `SetMembershipRoles` to one role.
    pub(crate) async fn set_role(&mut self, membership: &str, role: &str) -> Result<String, Status> {
        Ok(self
            .memberships
            .set_membership_roles(pb::SetMembershipRolesRequest {
                membership_id: membership.into(),
                roles: vec![role.into()],
                ..Default::default()
            })
            .await?
            .into_inner()
            .revision)
    }

    /// One check with the default consistency.
    pub(crate) async fn check(
        &mut self,
        subject: &str,
        account: &str,
        permission: &str,
    ) -> Result<pb::CheckAccessResponse, Status> {
        Ok(self
            .access
            .check_access(pb::CheckAccessRequest {
                subject_id: subject.into(),
                account_id: account.into(),
                permission: permission.into(),
                resource_id: String::new(),
                consistency: None,
            })
            .await?
            .into_inner())
    }

    /// Every event of an account (all pages).
    pub(crate) async fn all_events(&mut self, account: &str) -> Result<Vec<pb::Event>, Status> {
        let mut out = Vec::new();
        let mut token = String::new();
        loop {
            let r = self
                .events
                .list_events(pb::ListEventsRequest {
                    account_id: account.into(),
                    page_size: 1000,
                    page_token: token.clone(),
                    ..Default::default()
                })
                .await?
                .into_inner();
            out.extend(r.events);
            if r.next_page_token.is_empty() {
                return Ok(out);
            }
            token = r.next_page_token;
        }
    }
}

/// A short name of a gRPC code for the figures.
pub(crate) use guichet_proto::code_name;

/// The FAILED_PRECONDITION violation type of a status, if any.
pub(crate) fn precondition_kind(s: &Status) -> Option<String> {
    use tonic_types::StatusExt;
    s.get_error_details().precondition_failure().and_then(|p| p.violations.first().map(|v| v.r#type.clone()))
}
