//! The requests the end-to-end tests send most, built from their few values: an empty `actor` is
//! the calling service's own authority. A test that needs another field sets it with struct
//! update syntax (`pb::CreateMembershipRequest { id, ..membership(..) }`).

use guichet_proto::v1 as pb;

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

/// CreateMembership of `user` in `account` with `roles`, for `actor`.
pub fn membership(actor: &str, account: &str, user: &str, roles: &[&str]) -> pb::CreateMembershipRequest {
    pb::CreateMembershipRequest {
        actor_id: actor.into(),
        account_id: account.into(),
        user_id: user.into(),
        roles: strings(roles),
        ..Default::default()
    }
}

/// CreateInvitation of `email` into `account` with `roles`, for `actor`.
pub fn invitation(actor: &str, account: &str, email: &str, roles: &[&str]) -> pb::CreateInvitationRequest {
    pb::CreateInvitationRequest {
        actor_id: actor.into(),
        account_id: account.into(),
        email: email.into(),
        roles: strings(roles),
        ..Default::default()
    }
}

/// CreateUser `id` with `email`, on the service's own authority.
pub fn user(id: &str, email: &str) -> pb::CreateUserRequest {
    pb::CreateUserRequest { id: id.into(), email: email.into(), ..Default::default() }
}

/// CheckAccess of `subject` for `permission` in `account` (on `resource`, if not empty), at the
/// default consistency.
pub fn check(subject: &str, account: &str, permission: &str, resource: &str) -> pb::CheckAccessRequest {
    pb::CheckAccessRequest {
        subject_id: subject.into(),
        account_id: account.into(),
        permission: permission.into(),
        resource_id: resource.into(),
        consistency: None,
    }
}

/// ExplainAccess of `subject` for `permission` in `account` (on `resource`, if not empty), at the
/// default consistency, on the calling service's own authority.
pub fn explain(subject: &str, account: &str, permission: &str, resource: &str) -> pb::ExplainAccessRequest {
    pb::ExplainAccessRequest {
        subject_id: subject.into(),
        account_id: account.into(),
        permission: permission.into(),
        resource_id: resource.into(),
        ..Default::default()
    }
}

/// ListAuthorizedSubjects: who holds `permission` in `account` (on `resource`, if not empty); the
/// first page, of the default size.
pub fn authorized_subjects(account: &str, permission: &str, resource: &str) -> pb::ListAuthorizedSubjectsRequest {
    pb::ListAuthorizedSubjectsRequest {
        account_id: account.into(),
        permission: permission.into(),
        resource_id: resource.into(),
        ..Default::default()
    }
}

/// ListAccessibleAccounts: where `subject` holds `permission`; the first page, of the default size.
pub fn accessible_accounts(subject: &str, permission: &str) -> pb::ListAccessibleAccountsRequest {
    pb::ListAccessibleAccountsRequest {
        subject_id: subject.into(),
        permission: permission.into(),
        ..Default::default()
    }
}

/// CreateResource of the folder `id` of `account`, named `name`, for `actor`.
pub fn folder(actor: &str, id: &str, account: &str, name: &str) -> pb::CreateResourceRequest {
    pb::CreateResourceRequest {
        actor_id: actor.into(),
        id: id.into(),
        account_id: account.into(),
        kind: "folder".into(),
        name: name.into(),
        ..Default::default()
    }
}

/// CreateAccount `id` named `name`, of `kind`, under `parent` (empty: a root), on the service's
/// own authority.
pub fn account(id: &str, name: &str, kind: &str, parent: &str) -> pb::CreateAccountRequest {
    pb::CreateAccountRequest {
        id: id.into(),
        name: name.into(),
        kind: kind.into(),
        parent_id: parent.into(),
        ..Default::default()
    }
}

/// A restriction to the resources `ids`, each at the role's level.
pub fn restricted(ids: &[&str]) -> Option<pb::ResourceRestriction> {
    Some(pb::ResourceRestriction { restricted: true, resource_ids: strings(ids), ..Default::default() })
}

/// CreateContact `id` (empty: one the server gives) of `account`, for `actor`.
pub fn contact(
    actor: &str,
    id: &str,
    account: &str,
    given: &str,
    family: &str,
    email: &str,
) -> pb::CreateContactRequest {
    pb::CreateContactRequest {
        actor_id: actor.into(),
        id: id.into(),
        account_id: account.into(),
        given_name: given.into(),
        family_name: family.into(),
        email: email.into(),
        ..Default::default()
    }
}

/// SetMembershipRoles of `membership` to `roles`, for `actor`.
pub fn membership_roles(actor: &str, membership: &str, roles: &[&str]) -> pb::SetMembershipRolesRequest {
    pb::SetMembershipRolesRequest {
        actor_id: actor.into(),
        membership_id: membership.into(),
        roles: strings(roles),
        ..Default::default()
    }
}

/// AssignRole `role` to `membership`, for `actor`.
pub fn assign_role(actor: &str, membership: &str, role: &str) -> pb::AssignRoleRequest {
    pb::AssignRoleRequest {
        actor_id: actor.into(),
        membership_id: membership.into(),
        role: role.into(),
        ..Default::default()
    }
}

/// CreateUser `id` (empty: one the server gives) with `email`, by `actor` for `account`.
pub fn user_for(actor: &str, account: &str, id: &str, email: &str) -> pb::CreateUserRequest {
    pb::CreateUserRequest {
        actor_id: actor.into(),
        account_id: account.into(),
        id: id.into(),
        email: email.into(),
        ..Default::default()
    }
}

/// An item of CheckAccessBatch: `subject` for `permission` in `account`.
pub fn batch_item(subject: &str, account: &str, permission: &str) -> pb::CheckAccessBatchItem {
    pb::CheckAccessBatchItem {
        subject_id: subject.into(),
        account_id: account.into(),
        permission: permission.into(),
        ..Default::default()
    }
}

/// CreateDelegation `id` of `role` from the partner `from` into `to`, for `actor`.
pub fn delegation(actor: &str, id: &str, from: &str, to: &str, role: &str) -> pb::CreateDelegationRequest {
    pb::CreateDelegationRequest {
        actor_id: actor.into(),
        id: id.into(),
        from_account_id: from.into(),
        to_account_id: to.into(),
        role: role.into(),
        ..Default::default()
    }
}

/// ListEvents of `account` of the `types` given (every type when empty), for `actor`, a page of the
/// server's default size.
pub fn events(actor: &str, account: &str, types: &[&str]) -> pb::ListEventsRequest {
    pb::ListEventsRequest {
        actor_id: actor.into(),
        account_id: account.into(),
        types: strings(types),
        ..Default::default()
    }
}
