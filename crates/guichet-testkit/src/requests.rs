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
