//! Bad input for every RPC of the API, table-driven: each row sends one invalid request and expects
//! INVALID_ARGUMENT with exactly the listed `google.rpc.BadRequest` field violations, and nothing
//! written (the store revision is unchanged). The table must name every RPC the descriptor set
//! declares.

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

use crate::scenario::build_world;

#[derive(Default)]
struct Table {
    rows: BTreeSet<String>,
    failures: Vec<String>,
    count: usize,
    /// Every refusal as a client reads it: the RPC, the code, the message and each violation with
    /// its description (snapshot `bad_input_violations`, the same on both backends).
    transcript: Vec<String>,
}

impl Table {
    /// Sends one bad request: INVALID_ARGUMENT naming exactly `fields`, and no write.
    async fn row<T, F: Future<Output = Result<T, Status>>>(
        &mut self,
        s: &TestApp,
        rpc: &str,
        fields: &[&str],
        call: F,
    ) {
        self.count += 1;
        self.rows.insert(rpc.to_owned());
        let before = store_revision(s, "gerant", "partner").await;
        let outcome = call.await;
        let after = store_revision(s, "gerant", "partner").await;
        if before != after {
            self.failures.push(format!("{rpc}: wrote (revision {before} -> {after})"));
        }
        if let Err(e) = &outcome {
            let mut entry = format!("{rpc}: {:?} {:?}", e.code(), e.message());
            for v in details(e).bad_request().map(|b| b.field_violations.clone()).unwrap_or_default() {
                entry.push_str(&format!("\n    {}: {}", v.field, v.description));
            }
            self.transcript.push(entry);
        }
        match outcome {
            Ok(_) => self.failures.push(format!("{rpc}: accepted, expected INVALID_ARGUMENT on {fields:?}")),
            Err(e) if e.code() == Code::InvalidArgument && violated_fields(&e) == fields => {}
            Err(e) => self.failures.push(format!(
                "{rpc}: expected INVALID_ARGUMENT on {fields:?}, got {:?} {:?} on {:?}",
                e.code(),
                e.message(),
                violated_fields(&e)
            )),
        }
    }
}

fn long(n: usize) -> String {
    "x".repeat(n)
}

/// ApprovalService's access requests: their own future, boxed, so that the test's stays small.
async fn access_request_rows(t: &mut Table, s: &TestApp) {
    let mut ap = s.approvals();
    let r = ap.request_access(pb::RequestAccessRequest {
        actor_id: "admin-a".into(),
        account_id: "client-a".into(),
        permission: "billing:admin".into(),
        reason: "besoin".into(),
        ..Default::default()
    });
    t.row(s, "ApprovalService/RequestAccess", &["permission"], r).await;
    let r = ap.get_access_request(pb::GetAccessRequestRequest::default());
    t.row(s, "ApprovalService/GetAccessRequest", &["access_request_id"], r).await;
    let r = ap.list_access_requests(pb::ListAccessRequestsRequest::default());
    t.row(s, "ApprovalService/ListAccessRequests", &["account_id"], r).await;
    let r = ap.approve_access_request(pb::ApproveAccessRequestRequest {
        access_request_id: "ar-x".into(),
        version: "VERSION".into(),
        ..Default::default()
    });
    t.row(s, "ApprovalService/ApproveAccessRequest", &["version"], r).await;
    let r = ap.reject_access_request(pb::RejectAccessRequestRequest {
        access_request_id: "ar-x".into(),
        reason: long(1025),
        ..Default::default()
    });
    t.row(s, "ApprovalService/RejectAccessRequest", &["reason"], r).await;
    let r = ap.cancel_access_request(pb::CancelAccessRequestRequest {
        access_request_id: "bad/id".into(),
        ..Default::default()
    });
    t.row(s, "ApprovalService/CancelAccessRequest", &["access_request_id"], r).await;
}

/// The AccessService rows (a future of its own: the whole table in one would overflow the test
/// thread's stack in a debug build).
async fn access_rows(t: &mut Table, s: &TestApp) {
    // ---- AccessService ----
    let mut access = s.access();
    let r = access.check_access(pb::CheckAccessRequest::default());
    t.row(s, "AccessService/CheckAccess", &["subject_id", "account_id", "permission"], r).await;
    let item = requests::batch_item("gerant", "partner", "billing:view");
    let r = access.check_access_batch(pb::CheckAccessBatchRequest { items: vec![item; 1001], consistency: None });
    t.row(s, "AccessService/CheckAccessBatch", &["items"], r).await;
    let r = access.explain_access(requests::explain("gerant", "partner", "billing:lire", ""));
    t.row(s, "AccessService/ExplainAccess", &["permission"], r).await;
    let r = access.list_accessible_accounts(pb::ListAccessibleAccountsRequest {
        page_size: 1001,
        ..requests::accessible_accounts("gerant", "billing:view")
    });
    t.row(s, "AccessService/ListAccessibleAccounts", &["page_size"], r).await;
    let r = access.list_accessible_resources(pb::ListAccessibleResourcesRequest {
        subject_id: "employe-a".into(),
        account_id: "client-a".into(),
        permission: "folders:view".into(),
        page_token: "pas-un-jeton".into(),
        ..Default::default()
    });
    t.row(s, "AccessService/ListAccessibleResources", &["page_token"], r).await;
    let r = access.list_authorized_subjects(pb::ListAuthorizedSubjectsRequest::default());
    t.row(s, "AccessService/ListAuthorizedSubjects", &["account_id", "permission"], r).await;
    let r = access.simulate_changes(pb::SimulateChangesRequest::default());
    t.row(s, "AccessService/SimulateChanges", &["operations"], r).await;
}

/// Every write a preview covers (SimulateChanges) takes `unchanged_since`: a token that is not a
/// revision is the client's error on that field, whatever the write (a future of its own, as
/// `access_rows`).
async fn unchanged_since_rows(t: &mut Table, s: &TestApp) {
    const BAD: &str = "r-pas-un-jeton";
    let since = || BAD.to_owned();
    let mut acc = s.accounts();
    let r = acc.set_account_modules(pb::SetAccountModulesRequest {
        account_id: "client-a".into(),
        unchanged_since: since(),
        ..Default::default()
    });
    t.row(s, "AccountService/SetAccountModules", &["unchanged_since"], r).await;
    let r = acc.suspend_account(pb::SuspendAccountRequest {
        id: "client-a".into(),
        unchanged_since: since(),
        ..Default::default()
    });
    t.row(s, "AccountService/SuspendAccount", &["unchanged_since"], r).await;
    let r = acc.reactivate_account(pb::ReactivateAccountRequest {
        id: "client-a".into(),
        unchanged_since: since(),
        ..Default::default()
    });
    t.row(s, "AccountService/ReactivateAccount", &["unchanged_since"], r).await;
    let mut users = s.users();
    let r = users.suspend_user(pb::SuspendUserRequest {
        id: "factu".into(),
        unchanged_since: since(),
        ..Default::default()
    });
    t.row(s, "UserService/SuspendUser", &["unchanged_since"], r).await;
    let r = users.reactivate_user(pb::ReactivateUserRequest {
        id: "factu".into(),
        unchanged_since: since(),
        ..Default::default()
    });
    t.row(s, "UserService/ReactivateUser", &["unchanged_since"], r).await;
    let mut ms = s.memberships();
    let r = ms.assign_role(pb::AssignRoleRequest {
        unchanged_since: since(),
        ..requests::assign_role("", "m-factu", "billing_manager")
    });
    t.row(s, "MembershipService/AssignRole", &["unchanged_since"], r).await;
    let r = ms.unassign_role(pb::UnassignRoleRequest {
        membership_id: "m-factu".into(),
        role: "billing_manager".into(),
        unchanged_since: since(),
        ..Default::default()
    });
    t.row(s, "MembershipService/UnassignRole", &["unchanged_since"], r).await;
    let r = ms.set_membership_roles(pb::SetMembershipRolesRequest {
        unchanged_since: since(),
        ..requests::membership_roles("", "m-factu", &["billing_manager"])
    });
    t.row(s, "MembershipService/SetMembershipRoles", &["unchanged_since"], r).await;
    let r = ms.set_resource_restriction(pb::SetResourceRestrictionRequest {
        membership_id: "m-employe-a".into(),
        restriction: requests::restricted(&["dossier-a"]),
        unchanged_since: since(),
        ..Default::default()
    });
    t.row(s, "MembershipService/SetResourceRestriction", &["unchanged_since"], r).await;
    let r = ms.suspend_membership(pb::SuspendMembershipRequest {
        membership_id: "m-factu".into(),
        unchanged_since: since(),
        ..Default::default()
    });
    t.row(s, "MembershipService/SuspendMembership", &["unchanged_since"], r).await;
    let r = ms.reactivate_membership(pb::ReactivateMembershipRequest {
        membership_id: "m-factu".into(),
        unchanged_since: since(),
        ..Default::default()
    });
    t.row(s, "MembershipService/ReactivateMembership", &["unchanged_since"], r).await;
    let mut roles = s.roles();
    let r = roles.update_role(pb::UpdateRoleRequest {
        account_id: "client-a".into(),
        name: "lecteur".into(),
        display_name: "Lecteur".into(),
        grants: vec![pb::FeatureGrant { feature: "billing".into(), level: pb::Level::View as i32 }],
        unchanged_since: since(),
        ..Default::default()
    });
    t.row(s, "RoleService/UpdateRole", &["unchanged_since"], r).await;
    let mut dl = s.delegations();
    let r = dl.create_delegation(pb::CreateDelegationRequest {
        from_account_id: "partner".into(),
        to_account_id: "client-a".into(),
        role: "client_administrator".into(),
        unchanged_since: since(),
        ..Default::default()
    });
    t.row(s, "DelegationService/CreateDelegation", &["unchanged_since"], r).await;
    let r = dl.delete_delegation(pb::DeleteDelegationRequest {
        id: "d-x".into(),
        unchanged_since: since(),
        ..Default::default()
    });
    t.row(s, "DelegationService/DeleteDelegation", &["unchanged_since"], r).await;
}

async fn bad_input(backend: Backend) {
    let Some(db) = TestDatabase::new(backend).await else {
        return;
    };
    let s = spawn_app(test_config(&db.url)).await;
    build_world(&s).await;
    s.contacts()
        .create_contact(requests::contact("", "contact-a", "client-a", "Compta", "A", "compta@client-a.fr"))
        .await
        .unwrap();
    let mut t = Table::default();
    let t = &mut t;
    let s = &s;

    Box::pin(access_rows(t, s)).await;
    Box::pin(unchanged_since_rows(t, s)).await;

    // ---- AccountService ----
    let mut acc = s.accounts();
    let r = acc.create_account(requests::account("pas un id!", "X", "customer", "partner"));
    t.row(s, "AccountService/CreateAccount", &["id"], r).await;
    let r = acc.create_account(requests::account("", "X", "Customer", "partner"));
    t.row(s, "AccountService/CreateAccount", &["kind"], r).await;
    let r = acc.get_account(pb::GetAccountRequest { id: String::new(), ..Default::default() });
    t.row(s, "AccountService/GetAccount", &["id"], r).await;
    let r = acc.list_accounts(pb::ListAccountsRequest { status: 42, ..Default::default() });
    t.row(s, "AccountService/ListAccounts", &["status"], r).await;
    let r = acc.list_child_accounts(pb::ListChildAccountsRequest {
        id: "partner".into(),
        page_size: -1,
        ..Default::default()
    });
    t.row(s, "AccountService/ListChildAccounts", &["page_size"], r).await;
    let r =
        acc.update_account(pb::UpdateAccountRequest { id: "partner".into(), name: long(257), ..Default::default() });
    t.row(s, "AccountService/UpdateAccount", &["name"], r).await;
    let r = acc.suspend_account(pb::SuspendAccountRequest { id: String::new(), ..Default::default() });
    t.row(s, "AccountService/SuspendAccount", &["id"], r).await;
    let r = acc.suspend_account(pb::SuspendAccountRequest {
        id: "client-a".into(),
        reason: long(1025),
        ..Default::default()
    });
    t.row(s, "AccountService/SuspendAccount", &["reason"], r).await;
    let r = acc.reactivate_account(pb::ReactivateAccountRequest {
        id: "client-a".into(),
        request_id: long(129),
        ..Default::default()
    });
    t.row(s, "AccountService/ReactivateAccount", &["request_id"], r).await;
    let r = acc.set_account_modules(pb::SetAccountModulesRequest {
        account_id: "client-a".into(),
        modules: vec!["teleportation".into()],
        ..Default::default()
    });
    t.row(s, "AccountService/SetAccountModules", &["modules[0]"], r).await;
    let r = acc.update_account_settings(pb::UpdateAccountSettingsRequest {
        account_id: "client-a".into(),
        settings: Some(pb::AccountSettings { invitation_ttl_days: 91, ..Default::default() }),
        ..Default::default()
    });
    t.row(s, "AccountService/UpdateAccountSettings", &["settings.invitation_ttl_days"], r).await;

    // ---- UserService ----
    let mut users = s.users();
    let r = users.create_user(pb::CreateUserRequest { email: "pas-une-adresse".into(), ..Default::default() });
    t.row(s, "UserService/CreateUser", &["email"], r).await;
    let r = users.get_user(pb::GetUserRequest { id: String::new(), ..Default::default() });
    t.row(s, "UserService/GetUser", &["id"], r).await;
    let r = users.find_user_by_email(pb::FindUserByEmailRequest { email: "x@".into(), ..Default::default() });
    t.row(s, "UserService/FindUserByEmail", &["email"], r).await;
    let r = users.update_user(pb::UpdateUserRequest { id: "factu".into(), phone: "0123".into(), ..Default::default() });
    t.row(s, "UserService/UpdateUser", &["phone"], r).await;
    let r = users.suspend_user(pb::SuspendUserRequest { id: "factu".into(), reason: long(1025), ..Default::default() });
    t.row(s, "UserService/SuspendUser", &["reason"], r).await;
    let r = users.reactivate_user(pb::ReactivateUserRequest { id: String::new(), ..Default::default() });
    t.row(s, "UserService/ReactivateUser", &["id"], r).await;
    let r = users.list_my_accounts(pb::ListMyAccountsRequest {
        user_id: "gerant".into(),
        page_size: 5000,
        ..Default::default()
    });
    t.row(s, "UserService/ListMyAccounts", &["page_size"], r).await;

    // ---- MembershipService ----
    let mut ms = s.memberships();
    let r = ms.create_membership(requests::membership("", "client-b", "factu", &[]));
    t.row(s, "MembershipService/CreateMembership", &["roles"], r).await;
    let r = ms.get_membership(pb::GetMembershipRequest { id: String::new(), ..Default::default() });
    t.row(s, "MembershipService/GetMembership", &["id"], r).await;
    let r = ms.list_memberships(pb::ListMembershipsRequest::default());
    t.row(s, "MembershipService/ListMemberships", &["account_id"], r).await;
    let r = ms.list_memberships(pb::ListMembershipsRequest {
        account_id: "partner".into(),
        status: 9,
        ..Default::default()
    });
    t.row(s, "MembershipService/ListMemberships", &["status"], r).await;
    let r = ms.assign_role(requests::assign_role("", "m-factu", "Pas Un Nom"));
    t.row(s, "MembershipService/AssignRole", &["role"], r).await;
    let r = ms.unassign_role(pb::UnassignRoleRequest {
        membership_id: String::new(),
        role: "billing_manager".into(),
        ..Default::default()
    });
    t.row(s, "MembershipService/UnassignRole", &["membership_id"], r).await;
    let r = ms.set_membership_roles(requests::membership_roles("", "m-factu", &["billing_manager", "billing_manager"]));
    t.row(s, "MembershipService/SetMembershipRoles", &["roles[1]"], r).await;
    let r = ms.set_resource_restriction(pb::SetResourceRestrictionRequest {
        membership_id: "m-employe-a".into(),
        restriction: requests::restricted(&["pas un id!"]),
        ..Default::default()
    });
    t.row(s, "MembershipService/SetResourceRestriction", &["restriction.resource_ids[0]"], r).await;
    // An expiry already past (1970) is refused, never taken as "expire now".
    let r = ms.set_membership_expiry(pb::SetMembershipExpiryRequest {
        membership_id: "m-employe-a".into(),
        expire_time: Some(prost_types::Timestamp { seconds: 1, nanos: 0 }),
        ..Default::default()
    });
    t.row(s, "MembershipService/SetMembershipExpiry", &["expire_time"], r).await;
    let r = ms.suspend_membership(pb::SuspendMembershipRequest { membership_id: String::new(), ..Default::default() });
    t.row(s, "MembershipService/SuspendMembership", &["membership_id"], r).await;
    let r = ms.reactivate_membership(pb::ReactivateMembershipRequest {
        membership_id: "m-factu".into(),
        request_id: long(129),
        ..Default::default()
    });
    t.row(s, "MembershipService/ReactivateMembership", &["request_id"], r).await;
    let r =
        ms.delete_membership(pb::DeleteMembershipRequest { membership_id: "pas un id!".into(), ..Default::default() });
    t.row(s, "MembershipService/DeleteMembership", &["membership_id"], r).await;

    // ---- RoleService ----
    let mut roles = s.roles();
    let r = roles.list_roles(pb::ListRolesRequest {
        account_id: "partner".into(),
        page_token: "pas-un-jeton".into(),
        ..Default::default()
    });
    t.row(s, "RoleService/ListRoles", &["page_token"], r).await;
    let r = roles.get_role(pb::GetRoleRequest {
        account_id: "partner".into(),
        name: "Pas Un Nom".into(),
        ..Default::default()
    });
    t.row(s, "RoleService/GetRole", &["name"], r).await;
    let r = roles.create_role(pb::CreateRoleRequest {
        account_id: "client-a".into(),
        name: "lecteur".into(),
        display_name: "Lecteur".into(),
        grants: vec![pb::FeatureGrant { feature: "teleportation".into(), level: pb::Level::Full as i32 }],
        ..Default::default()
    });
    t.row(s, "RoleService/CreateRole", &["grants[0].feature"], r).await;
    let r = roles.update_role(pb::UpdateRoleRequest {
        account_id: "client-a".into(),
        name: "lecteur".into(),
        display_name: "Lecteur".into(),
        grants: vec![pb::FeatureGrant { feature: "billing".into(), level: pb::Level::Unspecified as i32 }],
        ..Default::default()
    });
    t.row(s, "RoleService/UpdateRole", &["grants[0].level"], r).await;
    let r = roles.delete_role(pb::DeleteRoleRequest {
        account_id: String::new(),
        name: "lecteur".into(),
        ..Default::default()
    });
    t.row(s, "RoleService/DeleteRole", &["account_id"], r).await;
    // ListCatalog takes no input at all: there is nothing to get wrong, and it answers.
    roles.list_catalog(pb::ListCatalogRequest {}).await.unwrap();
    t.rows.insert("RoleService/ListCatalog".into());

    // ---- ResourceService ----
    let mut res = s.resources();
    let r = res.create_resource(pb::CreateResourceRequest {
        account_id: "client-a".into(),
        kind: "Dossier".into(),
        name: "X".into(),
        ..Default::default()
    });
    t.row(s, "ResourceService/CreateResource", &["kind"], r).await;
    let r = res.create_resource(pb::CreateResourceRequest {
        account_id: "client-a".into(),
        kind: "folder".into(),
        name: String::new(),
        ..Default::default()
    });
    t.row(s, "ResourceService/CreateResource", &["name"], r).await;
    let r = res.get_resource(pb::GetResourceRequest { id: String::new(), ..Default::default() });
    t.row(s, "ResourceService/GetResource", &["id"], r).await;
    let r = res.list_resources(pb::ListResourcesRequest {
        account_id: "client-a".into(),
        kind: "Pas Un Type".into(),
        ..Default::default()
    });
    t.row(s, "ResourceService/ListResources", &["kind"], r).await;
    let r = res.delete_resource(pb::DeleteResourceRequest { id: "pas un id!".into(), ..Default::default() });
    t.row(s, "ResourceService/DeleteResource", &["id"], r).await;

    // ---- DelegationService ----
    let mut del = s.delegations();
    let r = del.create_delegation(pb::CreateDelegationRequest {
        from_account_id: "partner".into(),
        to_account_id: "partner".into(),
        role: "client_administrator".into(),
        ..Default::default()
    });
    t.row(s, "DelegationService/CreateDelegation", &["to_account_id"], r).await;
    let r = del.get_delegation(pb::GetDelegationRequest { id: String::new(), ..Default::default() });
    t.row(s, "DelegationService/GetDelegation", &["id"], r).await;
    let r = del.list_delegations(pb::ListDelegationsRequest::default());
    t.row(s, "DelegationService/ListDelegations", &["from_account_id"], r).await;
    let r = del.delete_delegation(pb::DeleteDelegationRequest { id: "pas un id!".into(), ..Default::default() });
    t.row(s, "DelegationService/DeleteDelegation", &["id"], r).await;
    let r = del.set_delegation_expiry(pb::SetDelegationExpiryRequest { id: "pas un id!".into(), ..Default::default() });
    t.row(s, "DelegationService/SetDelegationExpiry", &["id"], r).await;

    // ---- InvitationService ----
    let mut inv = s.invitations();
    let r = inv.create_invitation(requests::invitation("", "client-a", "pas-une-adresse", &["client_user"]));
    t.row(s, "InvitationService/CreateInvitation", &["email"], r).await;
    let r = inv.get_invitation(pb::GetInvitationRequest { id: String::new(), ..Default::default() });
    t.row(s, "InvitationService/GetInvitation", &["id"], r).await;
    let r = inv.list_invitations(pb::ListInvitationsRequest {
        account_id: "client-a".into(),
        status: 42,
        ..Default::default()
    });
    t.row(s, "InvitationService/ListInvitations", &["status"], r).await;
    let r = inv.resend_invitation(pb::ResendInvitationRequest { id: String::new(), ..Default::default() });
    t.row(s, "InvitationService/ResendInvitation", &["id"], r).await;
    let r = inv.revoke_invitation(pb::RevokeInvitationRequest {
        id: "inv-x".into(),
        reason: long(1025),
        ..Default::default()
    });
    t.row(s, "InvitationService/RevokeInvitation", &["reason"], r).await;
    let r = inv.accept_invitation(pb::AcceptInvitationRequest::default());
    t.row(s, "InvitationService/AcceptInvitation", &["token"], r).await;

    // ---- ApprovalService ----
    let mut ap = s.approvals();
    let r = ap.list_pending_approvals(pb::ListPendingApprovalsRequest::default());
    t.row(s, "ApprovalService/ListPendingApprovals", &["account_id"], r).await;
    let r = ap.approve_membership(pb::ApproveMembershipRequest { membership_id: String::new(), ..Default::default() });
    t.row(s, "ApprovalService/ApproveMembership", &["membership_id"], r).await;
    let r = ap.reject_membership(pb::RejectMembershipRequest {
        membership_id: "m-factu".into(),
        reason: String::new(),
        ..Default::default()
    });
    t.row(s, "ApprovalService/RejectMembership", &["reason"], r).await;
    Box::pin(access_request_rows(t, s)).await;

    // ---- ContactService ----
    let mut ct = s.contacts();
    let r = ct.create_contact(requests::contact("", "", "client-a", "X", "Y", "pas-une-adresse"));
    t.row(s, "ContactService/CreateContact", &["email"], r).await;
    let r = ct.get_contact(pb::GetContactRequest { id: String::new(), ..Default::default() });
    t.row(s, "ContactService/GetContact", &["id"], r).await;
    let r = ct.list_contacts(pb::ListContactsRequest {
        account_id: "client-a".into(),
        subscription: 99,
        ..Default::default()
    });
    t.row(s, "ContactService/ListContacts", &["subscription"], r).await;
    let r = ct.update_contact(pb::UpdateContactRequest {
        id: "contact-a".into(),
        given_name: "Compta".into(),
        family_name: "A".into(),
        email: "compta@client-a.fr".into(),
        subscriptions: vec![pb::ContactSubscription::Unspecified as i32],
        ..Default::default()
    });
    t.row(s, "ContactService/UpdateContact", &["subscriptions[0]"], r).await;
    let r = ct.delete_contact(pb::DeleteContactRequest { id: String::new(), ..Default::default() });
    t.row(s, "ContactService/DeleteContact", &["id"], r).await;
    let r = ct.get_communication_order(pb::GetCommunicationOrderRequest {
        account_id: "client-a".into(),
        r#type: pb::CommunicationType::Unspecified as i32,
        ..Default::default()
    });
    t.row(s, "ContactService/GetCommunicationOrder", &["type"], r).await;
    let r = ct.set_communication_order(pb::SetCommunicationOrderRequest {
        account_id: "client-a".into(),
        r#type: pb::CommunicationType::Technical as i32,
        contact_ids: (0..101).map(|i| format!("c{i}")).collect(),
        ..Default::default()
    });
    t.row(s, "ContactService/SetCommunicationOrder", &["contact_ids"], r).await;

    // ---- EventService ----
    let mut ev = s.events();
    let r = ev.list_events(pb::ListEventsRequest {
        account_id: "partner".into(),
        types: vec!["Pas Un Type!".into()],
        ..Default::default()
    });
    t.row(s, "EventService/ListEvents", &["types[0]"], r).await;
    let r = ev.list_events(pb::ListEventsRequest {
        account_id: "partner".into(),
        start_time: Some(prost_types::Timestamp { seconds: 2_000_000_000, nanos: 0 }),
        end_time: Some(prost_types::Timestamp { seconds: 1_000_000_000, nanos: 0 }),
        ..Default::default()
    });
    t.row(s, "EventService/ListEvents", &["end_time"], r).await;

    // ---- more of what the protos document, one row each ----
    let mut access = s.access();
    let item = |permission: &str| requests::batch_item("gerant", "partner", permission);
    let r = access.check_access_batch(pb::CheckAccessBatchRequest {
        items: vec![item("billing:view"), item("billing"), item("users:view")],
        consistency: None,
    });
    t.row(s, "AccessService/CheckAccessBatch", &["items[1].permission"], r).await;
    let r = access.list_accessible_accounts(pb::ListAccessibleAccountsRequest {
        subject_id: "gerant".into(),
        permission: "billing:view".into(),
        consistency: Some(pb::Consistency {
            requirement: Some(pb::consistency::Requirement::AtLeastAsFresh("pas-un-jeton".into())),
        }),
        ..Default::default()
    });
    t.row(s, "AccessService/ListAccessibleAccounts", &["consistency.at_least_as_fresh"], r).await;
    let r = acc.create_account(pb::CreateAccountRequest {
        name: "X".into(),
        kind: "customer".into(),
        parent_id: "partner".into(),
        modules: vec!["billing".into(), "billing".into()],
        ..Default::default()
    });
    t.row(s, "AccountService/CreateAccount", &["modules[1]"], r).await;
    let r = acc.list_accounts(pb::ListAccountsRequest { kind: "Pas Un Type".into(), ..Default::default() });
    t.row(s, "AccountService/ListAccounts", &["kind"], r).await;
    let r = acc.update_account_settings(pb::UpdateAccountSettingsRequest {
        account_id: "client-a".into(),
        settings: Some(pb::AccountSettings {
            email_policy: Some(pb::EmailPolicy {
                forbidden_domains: vec!["exemple.fr".into(), "pas un domaine".into()],
                generic_addresses: 0,
            }),
            ..Default::default()
        }),
        ..Default::default()
    });
    t.row(s, "AccountService/UpdateAccountSettings", &["settings.email_policy.forbidden_domains[1]"], r).await;
    let r = acc.update_account_settings(pb::UpdateAccountSettingsRequest {
        account_id: "client-a".into(),
        settings: Some(pb::AccountSettings {
            email_policy: Some(pb::EmailPolicy { forbidden_domains: vec![], generic_addresses: 7 }),
            ..Default::default()
        }),
        ..Default::default()
    });
    t.row(s, "AccountService/UpdateAccountSettings", &["settings.email_policy.generic_addresses"], r).await;
    let r = users.create_user(pb::CreateUserRequest {
        email: "nouveau@exemple.fr".into(),
        phone: "+33 1 23".into(),
        ..Default::default()
    });
    t.row(s, "UserService/CreateUser", &["phone"], r).await;
    let r = users.get_user(pb::GetUserRequest { id: long(65), ..Default::default() });
    t.row(s, "UserService/GetUser", &["id"], r).await;
    let r = ms.create_membership(requests::membership("", "client-b", "factu", &["client_user", "client_user"]));
    t.row(s, "MembershipService/CreateMembership", &["roles[1]"], r).await;
    let r = roles.create_role(pb::CreateRoleRequest {
        account_id: "client-a".into(),
        name: "double".into(),
        display_name: "Double".into(),
        grants: vec![
            pb::FeatureGrant { feature: "billing".into(), level: pb::Level::View as i32 },
            pb::FeatureGrant { feature: "billing".into(), level: pb::Level::Full as i32 },
        ],
        ..Default::default()
    });
    t.row(s, "RoleService/CreateRole", &["grants[1].feature"], r).await;
    let r = roles.create_role(pb::CreateRoleRequest {
        account_id: "client-a".into(),
        name: "sans_nom".into(),
        display_name: String::new(),
        grants: vec![pb::FeatureGrant { feature: "billing".into(), level: pb::Level::View as i32 }],
        ..Default::default()
    });
    t.row(s, "RoleService/CreateRole", &["display_name"], r).await;
    let r = res.list_resources(pb::ListResourcesRequest {
        account_id: "client-a".into(),
        page_size: 1001,
        ..Default::default()
    });
    t.row(s, "ResourceService/ListResources", &["page_size"], r).await;
    let r = inv.create_invitation(requests::invitation("", "client-a", "nouveau@exemple.fr", &[]));
    t.row(s, "InvitationService/CreateInvitation", &["roles"], r).await;
    let r = inv.list_invitations(pb::ListInvitationsRequest {
        account_id: "client-a".into(),
        email: "pas-une-adresse".into(),
        ..Default::default()
    });
    t.row(s, "InvitationService/ListInvitations", &["email"], r).await;
    let r = inv.accept_invitation(pb::AcceptInvitationRequest { token: "trop court".into(), ..Default::default() });
    t.row(s, "InvitationService/AcceptInvitation", &["token"], r).await;
    let r = ap.list_pending_approvals(pb::ListPendingApprovalsRequest {
        account_id: "client-a".into(),
        page_token: "pas-un-jeton".into(),
        ..Default::default()
    });
    t.row(s, "ApprovalService/ListPendingApprovals", &["page_token"], r).await;
    let r = ct.create_contact(pb::CreateContactRequest {
        account_id: "client-a".into(),
        given_name: "X".into(),
        family_name: "Y".into(),
        email: "xy@exemple.fr".into(),
        subscriptions: vec![pb::ContactSubscription::Invoices as i32, pb::ContactSubscription::Invoices as i32],
        ..Default::default()
    });
    t.row(s, "ContactService/CreateContact", &["subscriptions[1]"], r).await;
    let r = ct.set_communication_order(pb::SetCommunicationOrderRequest {
        account_id: "client-a".into(),
        r#type: pb::CommunicationType::Financial as i32,
        contact_ids: vec!["contact-a".into(), "contact-a".into()],
        ..Default::default()
    });
    t.row(s, "ContactService/SetCommunicationOrder", &["contact_ids[1]"], r).await;
    let r = ev.list_events(pb::ListEventsRequest {
        account_id: "partner".into(),
        types: (0..51).map(|i| format!("type_{i}")).collect(),
        ..Default::default()
    });
    t.row(s, "EventService/ListEvents", &["types"], r).await;
    let r = ev.list_events(pb::ListEventsRequest {
        account_id: "partner".into(),
        by_actor_id: "pas un id!".into(),
        ..Default::default()
    });
    t.row(s, "EventService/ListEvents", &["by_actor_id"], r).await;
    let r = ev.list_events(pb::ListEventsRequest::default());
    t.row(s, "EventService/ListEvents", &["account_id"], r).await;
    for (after, account, actor, fields) in [
        ("42", "", "", &["after_revision"][..]),
        ("r", "", "", &["after_revision"]),
        ("r18446744073709551616", "", "", &["after_revision"]),
        ("r0", "pas un id!", "", &["account_id"]),
        ("r0", "", "pas un id!", &["actor_id"]),
        ("x", "pas un id!", "", &["after_revision", "account_id"]),
    ] {
        let r = ev.watch_events(pb::WatchEventsRequest {
            actor_id: actor.into(),
            after_revision: after.into(),
            account_id: account.into(),
        });
        t.row(s, "EventService/WatchEvents", fields, r).await;
    }
    // A cursor newer than the store's latest revision.
    let r = ev.watch_events(pb::WatchEventsRequest { after_revision: "r999999999".into(), ..Default::default() });
    t.row(s, "EventService/WatchEvents", &["after_revision"], r).await;

    let declared = declared_rpcs(&[]);
    let missing: Vec<&String> = declared.difference(&t.rows).collect();
    assert!(missing.is_empty(), "RPCs without a bad-input row: {missing:?}");
    let unknown: Vec<&String> = t.rows.difference(&declared).collect();
    assert!(unknown.is_empty(), "rows for RPCs the API does not declare: {unknown:?}");
    assert!(t.failures.is_empty(), "{} of {} rows wrong:\n{}", t.failures.len(), t.count, t.failures.join("\n"));
    insta::assert_snapshot!("bad_input_violations", crate::snapshots::redact(&t.transcript.join("\n")));
    eprintln!("bad input ({backend:?}): {} rows over {} RPCs", t.count, declared.len());
}

both_backends!(every_rpc_refuses_bad_input_with_its_field => bad_input);
