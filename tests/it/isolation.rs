//! Tenant isolation: an administrator of account A, holding every permission there, tries every
//! management RPC of the API on the objects of account B, in another tree. Every attempt is refused
//! — PERMISSION_DENIED naming the permission and the account where it is missing, or NOT_FOUND where
//! the object's very existence is out of the actor's reach — and writes nothing: B's state as the
//! service reads it, and the store's revision, are the same before and after each attempt.

use std::collections::BTreeSet;
use std::future::Future;

use guichet_proto::v1 as pb;
use guichet_testkit::requests;
use guichet_tests::Clients;
use guichet_tests::{
    Backend, TestApp, TestDatabase, both_backends, declared_rpcs, details, spawn_app, store_revision, test_config,
    violated_fields,
};
use tonic::{Code, Status};

use crate::worlds;

/// The services whose RPCs are management calls; AccessService answers questions about any
/// subject for the calling service and has no actor.
const MANAGEMENT: [&str; 10] = [
    "AccountService",
    "UserService",
    "MembershipService",
    "RoleService",
    "ResourceService",
    "DelegationService",
    "InvitationService",
    "ApprovalService",
    "ContactService",
    "EventService",
];

/// What an attempt must get.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// PERMISSION_DENIED, MISSING_PERMISSION naming this permission in this account.
    Denied(&'static str, &'static str),
    /// NOT_FOUND: the object is out of reach, as if it did not exist.
    Hidden,
    /// FAILED_PRECONDITION with this violation type.
    Precondition(&'static str),
    /// INVALID_ARGUMENT on exactly this field.
    Invalid(&'static str),
}

#[derive(Default)]
struct Log {
    tried: BTreeSet<String>,
    failures: Vec<String>,
    attempts: usize,
}

impl Log {
    fn judge(&mut self, rpc: &str, expect: Expect, outcome: Result<(), Status>, wrote: Option<String>) {
        self.attempts += 1;
        self.tried.insert(rpc.to_owned());
        if let Some(w) = wrote {
            self.failures.push(format!("{rpc}: wrote something: {w}"));
        }
        let e = match outcome {
            Ok(()) => {
                self.failures.push(format!("{rpc}: succeeded, expected {expect:?}"));
                return;
            }
            Err(e) => e,
        };
        let ok = match expect {
            Expect::Denied(permission, account) => {
                let info = details(&e).error_info().cloned();
                e.code() == Code::PermissionDenied
                    && info.as_ref().is_some_and(|i| {
                        i.reason == "MISSING_PERMISSION"
                            && i.metadata.get("permission").map(String::as_str) == Some(permission)
                            && i.metadata.get("account_id").map(String::as_str) == Some(account)
                    })
                    && e.message().contains(permission)
            }
            Expect::Hidden => e.code() == Code::NotFound,
            Expect::Precondition(kind) => {
                e.code() == Code::FailedPrecondition
                    && details(&e).precondition_failure().is_some_and(|p| p.violations.iter().any(|v| v.r#type == kind))
            }
            Expect::Invalid(field) => e.code() == Code::InvalidArgument && violated_fields(&e) == [field],
        };
        if !ok {
            self.failures.push(format!(
                "{rpc}: expected {expect:?}, got {:?} {:?} {:?}",
                e.code(),
                e.message(),
                details(&e).error_info().map(|i| i.metadata.clone())
            ));
        }
    }
}

/// Everything of B (and of its tree) that the service itself reads, and the store revision.
async fn state_of_b(s: &TestApp) -> String {
    let mut out = Vec::new();
    for id in ["pb", "b"] {
        let r = s.accounts().get_account(pb::GetAccountRequest { id: id.into(), ..Default::default() }).await;
        out.push(format!("{:?}", r.map(|r| r.into_inner())));
        let r = s
            .memberships()
            .list_memberships(pb::ListMembershipsRequest { account_id: id.into(), ..Default::default() })
            .await;
        out.push(format!("{:?}", r.map(|r| r.into_inner())));
        let r = s.roles().list_roles(pb::ListRolesRequest { account_id: id.into(), ..Default::default() }).await;
        out.push(format!("{:?}", r.map(|r| r.into_inner())));
        let r = s
            .events()
            .list_events(pb::ListEventsRequest { account_id: id.into(), page_size: 1000, ..Default::default() })
            .await;
        out.push(format!("{:?}", r.map(|r| r.into_inner())));
    }
    let r = s
        .accounts()
        .list_child_accounts(pb::ListChildAccountsRequest { id: "pb".into(), recursive: true, ..Default::default() })
        .await;
    out.push(format!("{:?}", r.map(|r| r.into_inner())));
    let r = s
        .invitations()
        .list_invitations(pb::ListInvitationsRequest { account_id: "b".into(), ..Default::default() })
        .await;
    out.push(format!("{:?}", r.map(|r| r.into_inner())));
    let r = s.contacts().list_contacts(pb::ListContactsRequest { account_id: "b".into(), ..Default::default() }).await;
    out.push(format!("{:?}", r.map(|r| r.into_inner())));
    for t in [pb::CommunicationType::Technical, pb::CommunicationType::Financial] {
        let r = s
            .contacts()
            .get_communication_order(pb::GetCommunicationOrderRequest {
                account_id: "b".into(),
                r#type: t as i32,
                ..Default::default()
            })
            .await;
        out.push(format!("{:?}", r.map(|r| r.into_inner())));
    }
    let r =
        s.resources().list_resources(pb::ListResourcesRequest { account_id: "b".into(), ..Default::default() }).await;
    out.push(format!("{:?}", r.map(|r| r.into_inner())));
    let r = s
        .delegations()
        .list_delegations(pb::ListDelegationsRequest { to_account_id: "b".into(), ..Default::default() })
        .await;
    out.push(format!("{:?}", r.map(|r| r.into_inner())));
    let r = s
        .approvals()
        .list_pending_approvals(pb::ListPendingApprovalsRequest { account_id: "b".into(), ..Default::default() })
        .await;
    out.push(format!("{:?}", r.map(|r| r.into_inner())));
    for u in ["admin-b", "membre-b", "attente-b"] {
        let r = s.users().get_user(pb::GetUserRequest { id: u.into(), ..Default::default() }).await;
        out.push(format!("{:?}", r.map(|r| r.into_inner())));
    }
    out.push(store_revision(s, "admin-a", "a").await);
    out.join("\n")
}

/// Runs one attempt and judges it, with B's state compared before and after.
async fn attempt<T, F: Future<Output = Result<T, Status>>>(
    log: &mut Log,
    s: &TestApp,
    rpc: &str,
    expect: Expect,
    call: F,
) {
    let before = state_of_b(s).await;
    let outcome = call.await.map(|_| ());
    let after = state_of_b(s).await;
    let wrote = (before != after).then(|| {
        let diff: Vec<String> = before
            .lines()
            .zip(after.lines())
            .filter(|(b, a)| b != a)
            .map(|(b, a)| format!("before {b} / after {a}"))
            .collect();
        diff.join("; ")
    });
    log.judge(rpc, expect, outcome, wrote);
}

/// Two trees: pa → a (A: the actor's account) and s (suspended), pb → b (B: the target)
/// ([`worlds::isolation`]); B waits for an approval, has an invitation out, a contact first in its
/// technical order; A's administrator has created a profile.
async fn build(s: &TestApp) -> pb::AccessRequest {
    let catalog = s.roles().list_catalog(pb::ListCatalogRequest {}).await.unwrap().into_inner();
    let features: Vec<String> = catalog.features.iter().map(|f| f.name.clone()).collect();
    worlds::load_world(s, &worlds::isolation(&features)).await;
    // B asks for four-eyes approval: a membership waits.
    s.accounts()
        .update_account_settings(pb::UpdateAccountSettingsRequest {
            account_id: "b".into(),
            settings: Some(pb::AccountSettings { requires_approval: true, ..Default::default() }),
            ..Default::default()
        })
        .await
        .unwrap();
    let m = s
        .memberships()
        .create_membership(pb::CreateMembershipRequest {
            id: "m-attente-b".into(),
            ..requests::membership("", "b", "attente-b", &["client_user"])
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(m.membership.unwrap().status, pb::MembershipStatus::PendingApproval as i32);
    s.invitations()
        .create_invitation(pb::CreateInvitationRequest {
            id: "inv-b".into(),
            ..requests::invitation("", "b", "nouveau-b@exemple.fr", &["client_user"])
        })
        .await
        .unwrap();
    s.contacts()
        .create_contact(pb::CreateContactRequest {
            id: "contact-b".into(),
            account_id: "b".into(),
            given_name: "Compta".into(),
            family_name: "B".into(),
            email: "compta-b@exemple.fr".into(),
            subscriptions: vec![pb::ContactSubscription::Invoices as i32],
            ..Default::default()
        })
        .await
        .unwrap();
    s.contacts()
        .set_communication_order(pb::SetCommunicationOrderRequest {
            account_id: "b".into(),
            r#type: pb::CommunicationType::Technical as i32,
            contact_ids: vec!["contact-b".into()],
            ..Default::default()
        })
        .await
        .unwrap();
    // A member of B asks for access: a pending access request (its id returned by `build`).
    s.users()
        .create_user(pb::CreateUserRequest {
            given_name: "demandeur-b".into(),
            ..requests::user_for("", "", "demandeur-b", "demandeur-b@exemple.fr")
        })
        .await
        .unwrap();
    let m = s
        .memberships()
        .create_membership(pb::CreateMembershipRequest {
            id: "m-demandeur-b".into(),
            ..requests::membership("", "b", "demandeur-b", &["role_b"])
        })
        .await
        .unwrap()
        .into_inner()
        .membership
        .unwrap();
    s.approvals()
        .approve_membership(pb::ApproveMembershipRequest { membership_id: m.id, ..Default::default() })
        .await
        .unwrap();
    let ask = pb::RequestAccessRequest {
        actor_id: "demandeur-b".into(),
        account_id: "b".into(),
        permission: "users:view".into(),
        reason: "voir l'équipe".into(),
        ..Default::default()
    };
    let asked = s.approvals().request_access(ask).await.unwrap().into_inner().access_request.unwrap();
    // A fresh profile A's administrator created for A, not yet a member anywhere.
    s.users()
        .create_user(pb::CreateUserRequest {
            given_name: "libre".into(),
            ..requests::user_for(&a(), "a", "libre", "libre@exemple.fr")
        })
        .await
        .unwrap();
    asked
}

fn a() -> String {
    "admin-a".to_owned()
}

async fn isolation(backend: Backend) {
    let Some(db) = TestDatabase::new(backend).await else {
        return;
    };
    let s = spawn_app(test_config(&db.url)).await;
    let asked = build(&s).await;
    let mut log = Log::default();
    let l = &mut log;
    use Expect::{Hidden, Invalid, Precondition};

    // The actor really is an administrator of A: the same calls succeed there.
    s.accounts().get_account(pb::GetAccountRequest { actor_id: a(), id: "a".into() }).await.unwrap();
    s.memberships()
        .list_memberships(pb::ListMembershipsRequest { actor_id: a(), account_id: "a".into(), ..Default::default() })
        .await
        .unwrap();
    s.events()
        .list_events(pb::ListEventsRequest { actor_id: a(), account_id: "a".into(), ..Default::default() })
        .await
        .unwrap();
    s.contacts()
        .list_contacts(pb::ListContactsRequest { actor_id: a(), account_id: "a".into(), ..Default::default() })
        .await
        .unwrap();
    s.approvals()
        .list_pending_approvals(pb::ListPendingApprovalsRequest {
            actor_id: a(),
            account_id: "a".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    s.resources().get_resource(pb::GetResourceRequest { actor_id: a(), id: "dossier-a".into() }).await.unwrap();

    // ---- AccountService ----
    let mut acc = s.accounts();
    let r = acc.create_account(pb::CreateAccountRequest {
        actor_id: a(),
        id: "intrus".into(),
        name: "Intrus".into(),
        kind: "customer".into(),
        parent_id: "pb".into(),
        ..Default::default()
    });
    attempt(l, &s, "AccountService/CreateAccount", Hidden, r).await;
    let r = acc.get_account(pb::GetAccountRequest { actor_id: a(), id: "b".into() });
    attempt(l, &s, "AccountService/GetAccount", Hidden, r).await;
    let r = acc.list_accounts(pb::ListAccountsRequest { actor_id: a(), parent_id: "pb".into(), ..Default::default() });
    attempt(l, &s, "AccountService/ListAccounts", Hidden, r).await;
    let r = acc.list_child_accounts(pb::ListChildAccountsRequest {
        actor_id: a(),
        id: "pb".into(),
        recursive: true,
        ..Default::default()
    });
    attempt(l, &s, "AccountService/ListChildAccounts", Hidden, r).await;
    let r = acc.update_account(pb::UpdateAccountRequest {
        actor_id: a(),
        id: "b".into(),
        name: "Pris".into(),
        ..Default::default()
    });
    attempt(l, &s, "AccountService/UpdateAccount", Hidden, r).await;
    let r = acc.suspend_account(pb::SuspendAccountRequest { actor_id: a(), id: "b".into(), ..Default::default() });
    attempt(l, &s, "AccountService/SuspendAccount", Hidden, r).await;
    let r = acc.suspend_account(pb::SuspendAccountRequest { actor_id: a(), id: "pb".into(), ..Default::default() });
    attempt(l, &s, "AccountService/SuspendAccount", Hidden, r).await;
    let r =
        acc.reactivate_account(pb::ReactivateAccountRequest { actor_id: a(), id: "b".into(), ..Default::default() });
    attempt(l, &s, "AccountService/ReactivateAccount", Hidden, r).await;
    let r = acc.set_account_modules(pb::SetAccountModulesRequest {
        actor_id: a(),
        account_id: "b".into(),
        modules: vec!["billing".into()],
        ..Default::default()
    });
    attempt(l, &s, "AccountService/SetAccountModules", Hidden, r).await;
    let r = acc.update_account_settings(pb::UpdateAccountSettingsRequest {
        actor_id: a(),
        account_id: "b".into(),
        settings: Some(pb::AccountSettings { requires_approval: false, ..Default::default() }),
        ..Default::default()
    });
    attempt(l, &s, "AccountService/UpdateAccountSettings", Hidden, r).await;

    // ---- UserService ----
    let mut users = s.users();
    let r = users.create_user(requests::user_for(&a(), "b", "", "intrus@exemple.fr"));
    attempt(l, &s, "UserService/CreateUser", Hidden, r).await;
    let r = users.get_user(pb::GetUserRequest { actor_id: a(), id: "membre-b".into() });
    attempt(l, &s, "UserService/GetUser", Hidden, r).await;
    let r = users.find_user_by_email(pb::FindUserByEmailRequest { actor_id: a(), email: "membre-b@exemple.fr".into() });
    attempt(l, &s, "UserService/FindUserByEmail", Hidden, r).await;
    let r = users.update_user(pb::UpdateUserRequest {
        actor_id: a(),
        id: "membre-b".into(),
        given_name: "Pris".into(),
        ..Default::default()
    });
    attempt(l, &s, "UserService/UpdateUser", Hidden, r).await;
    let r = users.suspend_user(pb::SuspendUserRequest { actor_id: a(), id: "admin-b".into(), ..Default::default() });
    attempt(l, &s, "UserService/SuspendUser", Hidden, r).await;
    let r =
        users.reactivate_user(pb::ReactivateUserRequest { actor_id: a(), id: "membre-b".into(), ..Default::default() });
    attempt(l, &s, "UserService/ReactivateUser", Hidden, r).await;
    // ListMyAccounts has no actor: the portal asks for the person who logged in. What it answers for
    // A's administrator names A only.
    let mine = users
        .list_my_accounts(pb::ListMyAccountsRequest { user_id: a(), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    let ids: Vec<String> = mine.accounts.iter().map(|m| m.account.as_ref().unwrap().id.clone()).collect();
    assert_eq!(ids, ["a"]);
    l.tried.insert("UserService/ListMyAccounts".into());

    // ---- MembershipService ----
    let mut ms = s.memberships();
    let r = ms.create_membership(requests::membership(&a(), "b", "admin-a", &["client_user"]));
    attempt(l, &s, "MembershipService/CreateMembership", Hidden, r).await;
    // B's folder and B's custom role cannot be handed out in A either.
    let r = ms.create_membership(pb::CreateMembershipRequest {
        actor_id: a(),
        account_id: "a".into(),
        user_id: "libre".into(),
        roles: vec!["client_user".into()],
        restriction: requests::restricted(&["dossier-b"]),
        ..Default::default()
    });
    attempt(l, &s, "MembershipService/CreateMembership", Invalid("restriction.resource_ids[0]"), r).await;
    let r = ms.create_membership(requests::membership(&a(), "a", "libre", &["role_b"]));
    attempt(l, &s, "MembershipService/CreateMembership", Invalid("roles[0]"), r).await;
    let r = ms.get_membership(pb::GetMembershipRequest { actor_id: a(), id: "m-membre-b".into() });
    attempt(l, &s, "MembershipService/GetMembership", Hidden, r).await;
    let r =
        ms.list_memberships(pb::ListMembershipsRequest { actor_id: a(), account_id: "b".into(), ..Default::default() });
    attempt(l, &s, "MembershipService/ListMemberships", Hidden, r).await;
    let r = ms.list_memberships(pb::ListMembershipsRequest {
        actor_id: a(),
        user_id: "membre-b".into(),
        ..Default::default()
    });
    attempt(l, &s, "MembershipService/ListMemberships", Invalid("account_id"), r).await;
    let r = ms.assign_role(requests::assign_role(&a(), "m-membre-b", "client_administrator"));
    attempt(l, &s, "MembershipService/AssignRole", Hidden, r).await;
    let r = ms.assign_role(requests::assign_role(&a(), "m-employe-a", "role_b"));
    attempt(l, &s, "MembershipService/AssignRole", Invalid("role"), r).await;
    let r = ms.unassign_role(pb::UnassignRoleRequest {
        actor_id: a(),
        membership_id: "m-admin-b".into(),
        role: "client_administrator".into(),
        ..Default::default()
    });
    attempt(l, &s, "MembershipService/UnassignRole", Hidden, r).await;
    let r = ms.set_membership_roles(requests::membership_roles(&a(), "m-admin-b", &["client_user"]));
    attempt(l, &s, "MembershipService/SetMembershipRoles", Hidden, r).await;
    let r = ms.set_resource_restriction(pb::SetResourceRestrictionRequest {
        actor_id: a(),
        membership_id: "m-admin-b".into(),
        restriction: Some(pb::ResourceRestriction { restricted: true, resource_ids: vec![], ..Default::default() }),
        ..Default::default()
    });
    attempt(l, &s, "MembershipService/SetResourceRestriction", Hidden, r).await;
    let r = ms.set_resource_restriction(pb::SetResourceRestrictionRequest {
        actor_id: a(),
        membership_id: "m-employe-a".into(),
        restriction: requests::restricted(&["dossier-b"]),
        ..Default::default()
    });
    attempt(l, &s, "MembershipService/SetResourceRestriction", Invalid("restriction.resource_ids[0]"), r).await;
    // Clearing the expiry of B's membership (extending it for good) is hidden like any change.
    let r = ms.set_membership_expiry(pb::SetMembershipExpiryRequest {
        actor_id: a(),
        membership_id: "m-admin-b".into(),
        ..Default::default()
    });
    attempt(l, &s, "MembershipService/SetMembershipExpiry", Hidden, r).await;
    let r = ms.suspend_membership(pb::SuspendMembershipRequest {
        actor_id: a(),
        membership_id: "m-admin-b".into(),
        ..Default::default()
    });
    attempt(l, &s, "MembershipService/SuspendMembership", Hidden, r).await;
    let r = ms.reactivate_membership(pb::ReactivateMembershipRequest {
        actor_id: a(),
        membership_id: "m-membre-b".into(),
        ..Default::default()
    });
    attempt(l, &s, "MembershipService/ReactivateMembership", Hidden, r).await;
    let r = ms.delete_membership(pb::DeleteMembershipRequest {
        actor_id: a(),
        membership_id: "m-admin-b".into(),
        ..Default::default()
    });
    attempt(l, &s, "MembershipService/DeleteMembership", Hidden, r).await;

    // ---- RoleService ----
    let mut roles = s.roles();
    let r = roles.list_roles(pb::ListRolesRequest { actor_id: a(), account_id: "b".into(), ..Default::default() });
    attempt(l, &s, "RoleService/ListRoles", Hidden, r).await;
    let r = roles.get_role(pb::GetRoleRequest { actor_id: a(), account_id: "b".into(), name: "role_b".into() });
    attempt(l, &s, "RoleService/GetRole", Hidden, r).await;
    let grants = vec![pb::FeatureGrant { feature: "users".into(), level: pb::Level::Full as i32 }];
    let r = roles.create_role(pb::CreateRoleRequest {
        actor_id: a(),
        account_id: "b".into(),
        name: "pirate".into(),
        display_name: "Pirate".into(),
        grants: grants.clone(),
        ..Default::default()
    });
    attempt(l, &s, "RoleService/CreateRole", Hidden, r).await;
    let r = roles.update_role(pb::UpdateRoleRequest {
        actor_id: a(),
        account_id: "b".into(),
        name: "role_b".into(),
        display_name: "Pirate".into(),
        grants,
        ..Default::default()
    });
    attempt(l, &s, "RoleService/UpdateRole", Hidden, r).await;
    let r = roles.delete_role(pb::DeleteRoleRequest {
        actor_id: a(),
        account_id: "b".into(),
        name: "role_b".into(),
        ..Default::default()
    });
    attempt(l, &s, "RoleService/DeleteRole", Hidden, r).await;
    // ListCatalog has no actor and no tenant data: the catalog is the same for every account.
    roles.list_catalog(pb::ListCatalogRequest {}).await.unwrap();
    l.tried.insert("RoleService/ListCatalog".into());

    // ---- ResourceService ----
    let mut res = s.resources();
    let r = res.create_resource(requests::folder(&a(), "", "b", "Intrus"));
    attempt(l, &s, "ResourceService/CreateResource", Hidden, r).await;
    let r = res.get_resource(pb::GetResourceRequest { actor_id: a(), id: "dossier-b".into() });
    attempt(l, &s, "ResourceService/GetResource", Hidden, r).await;
    let r =
        res.list_resources(pb::ListResourcesRequest { actor_id: a(), account_id: "b".into(), ..Default::default() });
    attempt(l, &s, "ResourceService/ListResources", Hidden, r).await;
    let r =
        res.delete_resource(pb::DeleteResourceRequest { actor_id: a(), id: "dossier-b".into(), ..Default::default() });
    attempt(l, &s, "ResourceService/DeleteResource", Hidden, r).await;

    // ---- DelegationService ----
    let mut del = s.delegations();
    let r = del.create_delegation(pb::CreateDelegationRequest {
        actor_id: a(),
        from_account_id: "pb".into(),
        to_account_id: "b".into(),
        role: "client_user".into(),
        ..Default::default()
    });
    attempt(l, &s, "DelegationService/CreateDelegation", Hidden, r).await;
    // A's partner cannot reach B: B is answered as an unknown account.
    let r = del.create_delegation(pb::CreateDelegationRequest {
        actor_id: "admin-pa".into(),
        from_account_id: "pa".into(),
        to_account_id: "b".into(),
        role: "client_administrator".into(),
        ..Default::default()
    });
    attempt(l, &s, "DelegationService/CreateDelegation", Hidden, r).await;
    let r = del.get_delegation(pb::GetDelegationRequest { actor_id: a(), id: "deleg-b".into() });
    attempt(l, &s, "DelegationService/GetDelegation", Hidden, r).await;
    let r = del.list_delegations(pb::ListDelegationsRequest {
        actor_id: a(),
        to_account_id: "b".into(),
        ..Default::default()
    });
    attempt(l, &s, "DelegationService/ListDelegations", Hidden, r).await;
    let r = del.list_delegations(pb::ListDelegationsRequest {
        actor_id: a(),
        from_account_id: "pb".into(),
        ..Default::default()
    });
    attempt(l, &s, "DelegationService/ListDelegations", Hidden, r).await;
    let r = del.delete_delegation(pb::DeleteDelegationRequest {
        actor_id: a(),
        id: "deleg-b".into(),
        ..Default::default()
    });
    attempt(l, &s, "DelegationService/DeleteDelegation", Hidden, r).await;
    let r = del.set_delegation_expiry(pb::SetDelegationExpiryRequest {
        actor_id: a(),
        id: "deleg-b".into(),
        ..Default::default()
    });
    attempt(l, &s, "DelegationService/SetDelegationExpiry", Hidden, r).await;

    // ---- InvitationService ----
    let mut inv = s.invitations();
    let r = inv.create_invitation(requests::invitation(&a(), "b", "intrus@exemple.fr", &["client_user"]));
    attempt(l, &s, "InvitationService/CreateInvitation", Hidden, r).await;
    let r = inv.create_invitation(pb::CreateInvitationRequest {
        actor_id: a(),
        account_id: "a".into(),
        email: "invite-a@exemple.fr".into(),
        roles: vec!["client_user".into()],
        restriction: requests::restricted(&["dossier-b"]),
        ..Default::default()
    });
    attempt(l, &s, "InvitationService/CreateInvitation", Invalid("restriction.resource_ids[0]"), r).await;
    let r = inv.create_invitation(requests::invitation(&a(), "a", "invite-a@exemple.fr", &["role_b"]));
    attempt(l, &s, "InvitationService/CreateInvitation", Invalid("roles[0]"), r).await;
    let r = inv.get_invitation(pb::GetInvitationRequest { actor_id: a(), id: "inv-b".into() });
    attempt(l, &s, "InvitationService/GetInvitation", Hidden, r).await;
    let r = inv.list_invitations(pb::ListInvitationsRequest {
        actor_id: a(),
        account_id: "b".into(),
        ..Default::default()
    });
    attempt(l, &s, "InvitationService/ListInvitations", Hidden, r).await;
    let r =
        inv.resend_invitation(pb::ResendInvitationRequest { actor_id: a(), id: "inv-b".into(), ..Default::default() });
    attempt(l, &s, "InvitationService/ResendInvitation", Hidden, r).await;
    let r =
        inv.revoke_invitation(pb::RevokeInvitationRequest { actor_id: a(), id: "inv-b".into(), ..Default::default() });
    attempt(l, &s, "InvitationService/RevokeInvitation", Hidden, r).await;
    // AcceptInvitation has no actor: the token is the authority. Without B's token, a well-formed
    // guess finds nothing.
    let r = inv.accept_invitation(pb::AcceptInvitationRequest {
        token: "A".repeat(43),
        given_name: "Intrus".into(),
        ..Default::default()
    });
    attempt(l, &s, "InvitationService/AcceptInvitation", Hidden, r).await;

    // ---- ApprovalService ----
    let mut ap = s.approvals();
    let r = ap.list_pending_approvals(pb::ListPendingApprovalsRequest {
        actor_id: a(),
        account_id: "b".into(),
        ..Default::default()
    });
    attempt(l, &s, "ApprovalService/ListPendingApprovals", Hidden, r).await;
    let r = ap.approve_membership(pb::ApproveMembershipRequest {
        actor_id: a(),
        membership_id: "m-attente-b".into(),
        ..Default::default()
    });
    attempt(l, &s, "ApprovalService/ApproveMembership", Hidden, r).await;
    let r = ap.reject_membership(pb::RejectMembershipRequest {
        actor_id: a(),
        membership_id: "m-attente-b".into(),
        reason: "non".into(),
        ..Default::default()
    });
    attempt(l, &s, "ApprovalService/RejectMembership", Hidden, r).await;
    // Asking for access in B: A's administrator is no member of it.
    let r = ap.request_access(pb::RequestAccessRequest {
        actor_id: a(),
        account_id: "b".into(),
        permission: "users:view".into(),
        reason: "intrusion".into(),
        ..Default::default()
    });
    attempt(l, &s, "ApprovalService/RequestAccess", Hidden, r).await;
    let r = ap.get_access_request(pb::GetAccessRequestRequest { actor_id: a(), access_request_id: asked.id.clone() });
    attempt(l, &s, "ApprovalService/GetAccessRequest", Hidden, r).await;
    let r = ap.list_access_requests(pb::ListAccessRequestsRequest {
        actor_id: a(),
        account_id: "b".into(),
        ..Default::default()
    });
    attempt(l, &s, "ApprovalService/ListAccessRequests", Hidden, r).await;
    let r = ap.list_access_requests(pb::ListAccessRequestsRequest {
        actor_id: a(),
        requester_id: "demandeur-b".into(),
        ..Default::default()
    });
    attempt(l, &s, "ApprovalService/ListAccessRequests", Invalid("account_id"), r).await;
    let r = ap.approve_access_request(pb::ApproveAccessRequestRequest {
        actor_id: a(),
        access_request_id: asked.id.clone(),
        version: asked.version.clone(),
        ..Default::default()
    });
    attempt(l, &s, "ApprovalService/ApproveAccessRequest", Hidden, r).await;
    let r = ap.reject_access_request(pb::RejectAccessRequestRequest {
        actor_id: a(),
        access_request_id: asked.id.clone(),
        reason: "non".into(),
        version: asked.version.clone(),
        ..Default::default()
    });
    attempt(l, &s, "ApprovalService/RejectAccessRequest", Hidden, r).await;
    let r = ap.cancel_access_request(pb::CancelAccessRequestRequest {
        actor_id: a(),
        access_request_id: asked.id.clone(),
        ..Default::default()
    });
    attempt(l, &s, "ApprovalService/CancelAccessRequest", Hidden, r).await;

    // ---- ContactService ----
    let mut ct = s.contacts();
    let r = ct.create_contact(requests::contact(&a(), "", "b", "Intrus", "X", "intrus@exemple.fr"));
    attempt(l, &s, "ContactService/CreateContact", Hidden, r).await;
    // Linking one of B's users to a contact of A: that user is out of A's reach.
    let r = ct.create_contact(pb::CreateContactRequest {
        user_id: "membre-b".into(),
        ..requests::contact(&a(), "", "a", "Membre", "B", "contact-membre-b@exemple.fr")
    });
    attempt(l, &s, "ContactService/CreateContact", Precondition("USER_NOT_MEMBER"), r).await;
    let r = ct.get_contact(pb::GetContactRequest { actor_id: a(), id: "contact-b".into() });
    attempt(l, &s, "ContactService/GetContact", Hidden, r).await;
    let r = ct.list_contacts(pb::ListContactsRequest { actor_id: a(), account_id: "b".into(), ..Default::default() });
    attempt(l, &s, "ContactService/ListContacts", Hidden, r).await;
    let r = ct.update_contact(pb::UpdateContactRequest {
        actor_id: a(),
        id: "contact-b".into(),
        given_name: "Pris".into(),
        family_name: "B".into(),
        email: "compta-b@exemple.fr".into(),
        ..Default::default()
    });
    attempt(l, &s, "ContactService/UpdateContact", Hidden, r).await;
    let r = ct.delete_contact(pb::DeleteContactRequest { actor_id: a(), id: "contact-b".into(), ..Default::default() });
    attempt(l, &s, "ContactService/DeleteContact", Hidden, r).await;
    let r = ct.get_communication_order(pb::GetCommunicationOrderRequest {
        actor_id: a(),
        account_id: "b".into(),
        r#type: pb::CommunicationType::Technical as i32,
    });
    attempt(l, &s, "ContactService/GetCommunicationOrder", Hidden, r).await;
    let r = ct.set_communication_order(pb::SetCommunicationOrderRequest {
        actor_id: a(),
        account_id: "b".into(),
        r#type: pb::CommunicationType::Technical as i32,
        contact_ids: vec![],
        ..Default::default()
    });
    attempt(l, &s, "ContactService/SetCommunicationOrder", Hidden, r).await;
    // B's contact in A's order: refused as any contact that is not A's.
    let r = ct.set_communication_order(pb::SetCommunicationOrderRequest {
        actor_id: a(),
        account_id: "a".into(),
        r#type: pb::CommunicationType::Technical as i32,
        contact_ids: vec!["contact-b".into()],
        ..Default::default()
    });
    attempt(l, &s, "ContactService/SetCommunicationOrder", Precondition("CONTACT_NOT_ON_ACCOUNT"), r).await;

    // ---- EventService ----
    let mut ev = s.events();
    let r = ev.list_events(pb::ListEventsRequest { actor_id: a(), account_id: "b".into(), ..Default::default() });
    attempt(l, &s, "EventService/ListEvents", Hidden, r).await;
    // Filtering A's events by one of B's people shows nothing of B.
    let mine = s
        .events()
        .list_events(pb::ListEventsRequest {
            actor_id: a(),
            account_id: "a".into(),
            page_size: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(mine.events.iter().all(|e| e.account_id == "a"), "{:?}", mine.events);
    // The change stream: B's account named is unknown, and A's stream from the beginning carries
    // nothing of B.
    let r =
        ev.watch_events(pb::WatchEventsRequest { actor_id: a(), after_revision: "r0".into(), account_id: "b".into() });
    attempt(l, &s, "EventService/WatchEvents", Hidden, r).await;
    let head: u64 = store_revision(&s, "admin-a", "a").await.trim_start_matches('r').parse().unwrap();
    let mut stream = s
        .events()
        .watch_events(pb::WatchEventsRequest { actor_id: a(), after_revision: "r0".into(), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    let mut streamed = Vec::new();
    loop {
        let m = stream.message().await.unwrap().unwrap();
        streamed.extend(m.events);
        if m.revision.trim_start_matches('r').parse::<u64>().unwrap() >= head {
            break;
        }
    }
    assert!(!streamed.is_empty());
    assert!(streamed.iter().all(|e| e.account_id == "a"), "{streamed:?}");

    // B's objects named in A's requests get the very answer an unknown id gets: nothing tells A that
    // they exist, nor where.
    for (b_id, unknown) in
        [("dossier-b", "dossier-inconnu"), ("membre-b", "personne-inconnue"), ("b", "compte-inconnu")]
    {
        let mut messages = Vec::new();
        for id in [b_id, unknown] {
            let e = if id.starts_with("compte") || id == "b" {
                s.delegations()
                    .create_delegation(pb::CreateDelegationRequest {
                        actor_id: "admin-pa".into(),
                        from_account_id: "pa".into(),
                        to_account_id: id.into(),
                        role: "client_administrator".into(),
                        ..Default::default()
                    })
                    .await
                    .unwrap_err()
            } else if id.starts_with("dossier") {
                s.memberships()
                    .set_resource_restriction(pb::SetResourceRestrictionRequest {
                        actor_id: a(),
                        membership_id: "m-employe-a".into(),
                        restriction: Some(pb::ResourceRestriction {
                            restricted: true,
                            resource_ids: vec![id.into()],
                            ..Default::default()
                        }),
                        ..Default::default()
                    })
                    .await
                    .unwrap_err()
            } else {
                s.contacts()
                    .create_contact(pb::CreateContactRequest {
                        actor_id: a(),
                        account_id: "a".into(),
                        given_name: "X".into(),
                        family_name: "Y".into(),
                        email: "xy@exemple.fr".into(),
                        user_id: id.into(),
                        ..Default::default()
                    })
                    .await
                    .unwrap_err()
            };
            let message = e.message().replace(&format!("account {id} "), "account ID ");
            let message = if id == "b" { message } else { message.replace(id, "ID") };
            messages.push((e.code(), message));
        }
        assert_eq!(messages[0], messages[1], "{b_id} is told apart from an unknown id");
        assert!(!messages[0].1.contains(" b "), "{:?} names B", messages[0]);
    }
    // Every management RPC of the API has been tried.
    let declared = declared_rpcs(&MANAGEMENT);
    let missing: Vec<&String> = declared.difference(&log.tried).collect();
    assert!(missing.is_empty(), "RPCs never tried across tenants: {missing:?}");
    let unknown: Vec<&String> = log.tried.difference(&declared).collect();
    assert!(unknown.is_empty(), "rows for RPCs the API does not declare: {unknown:?}");
    assert!(
        log.failures.is_empty(),
        "{} of {} attempts wrong:\n{}",
        log.failures.len(),
        log.attempts,
        log.failures.join("\n")
    );
    eprintln!("isolation ({backend:?}): {} refused attempts over {} RPCs", log.attempts, declared.len());
}

async fn within_a(backend: Backend) {
    let Some(db) = TestDatabase::new(backend).await else {
        return;
    };
    let s = spawn_app(test_config(&db.url)).await;
    let _ = build(&s).await;
    let mut log = Log::default();
    let l = &mut log;
    use Expect::Denied;
    let mut inv = s.invitations();
    let mut ms = s.memberships();
    let mut roles = s.roles();
    let mut acc = s.accounts();
    let mut ev = s.events();
    let mut ct = s.contacts();
    let mut res = s.resources();

    // A client user of A tries A's administration.
    let u = || "employe-a".to_owned();
    let r = inv.create_invitation(requests::invitation(&u(), "a", "ami@exemple.fr", &["client_user"]));
    attempt(l, &s, "InvitationService/CreateInvitation", Denied("users:full", "a"), r).await;
    let r = ms.set_membership_roles(requests::membership_roles(&u(), "m-employe-a", &["client_administrator"]));
    attempt(l, &s, "MembershipService/SetMembershipRoles", Denied("users:full", "a"), r).await;
    let r = roles.create_role(pb::CreateRoleRequest {
        actor_id: u(),
        account_id: "a".into(),
        name: "moi".into(),
        display_name: "Moi".into(),
        grants: vec![pb::FeatureGrant { feature: "users".into(), level: pb::Level::Full as i32 }],
        ..Default::default()
    });
    attempt(l, &s, "RoleService/CreateRole", Denied("users:full", "a"), r).await;
    let r = acc.update_account_settings(pb::UpdateAccountSettingsRequest {
        actor_id: u(),
        account_id: "a".into(),
        settings: Some(pb::AccountSettings { requires_approval: true, ..Default::default() }),
        ..Default::default()
    });
    attempt(l, &s, "AccountService/UpdateAccountSettings", Denied("account_settings:full", "a"), r).await;
    let r = ev.list_events(pb::ListEventsRequest { actor_id: u(), account_id: "a".into(), ..Default::default() });
    attempt(l, &s, "EventService/ListEvents", Denied("event_logs:view", "a"), r).await;
    let r =
        ev.watch_events(pb::WatchEventsRequest { actor_id: u(), after_revision: "r0".into(), account_id: "a".into() });
    attempt(l, &s, "EventService/WatchEvents", Denied("event_logs:view", "a"), r).await;
    let r = ct.create_contact(requests::contact(&u(), "", "a", "X", "Y", "xy@exemple.fr"));
    attempt(l, &s, "ContactService/CreateContact", Denied("contacts:full", "a"), r).await;
    let r = res.create_resource(requests::folder(&u(), "", "a", "Le mien"));
    attempt(l, &s, "ResourceService/CreateResource", Denied("folders:full", "a"), r).await;
    // Viewing but not changing: the object exists for them, so the refusal names the permission.
    let r =
        res.delete_resource(pb::DeleteResourceRequest { actor_id: u(), id: "dossier-a".into(), ..Default::default() });
    attempt(l, &s, "ResourceService/DeleteResource", Denied("folders:full", "a"), r).await;

    // A suspended member of A: everything it held is gone.
    let u = || "suspendu-a".to_owned();
    let r =
        ms.list_memberships(pb::ListMembershipsRequest { actor_id: u(), account_id: "a".into(), ..Default::default() });
    attempt(l, &s, "MembershipService/ListMemberships", Denied("users:view", "a"), r).await;
    let r = inv.create_invitation(requests::invitation(&u(), "a", "ami@exemple.fr", &["client_user"]));
    attempt(l, &s, "InvitationService/CreateInvitation", Denied("users:full", "a"), r).await;
    let r = ms.reactivate_membership(pb::ReactivateMembershipRequest {
        actor_id: u(),
        membership_id: "m-suspendu-a".into(),
        ..Default::default()
    });
    attempt(l, &s, "MembershipService/ReactivateMembership", Denied("users:full", "a"), r).await;

    // The administrator of a suspended account.
    let u = || "admin-s".to_owned();
    let r =
        ms.list_memberships(pb::ListMembershipsRequest { actor_id: u(), account_id: "s".into(), ..Default::default() });
    attempt(l, &s, "MembershipService/ListMemberships", Denied("users:view", "s"), r).await;
    let r = acc.update_account_settings(pb::UpdateAccountSettingsRequest {
        actor_id: u(),
        account_id: "s".into(),
        settings: Some(pb::AccountSettings { requires_approval: true, ..Default::default() }),
        ..Default::default()
    });
    attempt(l, &s, "AccountService/UpdateAccountSettings", Denied("account_settings:full", "s"), r).await;
    let r =
        acc.reactivate_account(pb::ReactivateAccountRequest { actor_id: u(), id: "s".into(), ..Default::default() });
    attempt(l, &s, "AccountService/ReactivateAccount", Denied("organizations:full", "pa"), r).await;

    assert!(
        log.failures.is_empty(),
        "{} of {} attempts wrong:\n{}",
        log.failures.len(),
        log.attempts,
        log.failures.join("\n")
    );
}

both_backends!(every_management_rpc_is_refused_across_tenants => isolation);

both_backends!(client_users_and_suspended_members_cannot_administer => within_a);
