//! SimulateChanges: the operations, each read by the inbound conversion of its own RPC's request
//! (so a field is invalid exactly when that RPC would say so), its violations prefixed with the
//! operation's place (`operations[2].update_role.name`); the preview's answer back.

use guichet_domain as d;

use super::{Authored, Check, Invalid};
use crate::v1 as pb;

/// The most operations one preview takes.
pub const MAX_SIMULATED_OPERATIONS: usize = 50;

/// The most effects one preview returns.
pub const MAX_SIMULATED_EFFECTS: usize = 1000;

/// The effects returned when the request does not say.
pub const DEFAULT_SIMULATED_EFFECTS: usize = 100;

/// A SimulateChanges request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimulateQuery {
    /// The actor; `None`: the calling service's own authority.
    pub actor: Option<d::UserId>,
    /// The operations, in order.
    pub operations: Vec<d::SimOp>,
    /// The most effects returned.
    pub max_effects: usize,
}

/// One operation read by its RPC's conversion: its field name in the oneof, its raw actor id, and
/// the operation or the RPC's violations.
fn operation(op: pb::management_operation::Operation) -> (&'static str, String, Result<d::SimOp, Invalid>) {
    use pb::management_operation::Operation as O;
    fn read<R, T>(
        name: &'static str,
        actor: String,
        r: R,
        to: impl FnOnce(T) -> d::SimOp,
    ) -> (&'static str, String, Result<d::SimOp, Invalid>)
    where
        Authored<T>: TryFrom<R, Error = Invalid>,
    {
        (name, actor, Authored::<T>::try_from(r).map(|a| to(a.body)))
    }
    match op {
        O::UpdateRole(r) => read("update_role", r.actor_id.clone(), r, d::SimOp::UpdateRole),
        O::SetMembershipRoles(r) => read("set_membership_roles", r.actor_id.clone(), r, |b: super::MembershipRoles| {
            d::SimOp::SetMembershipRoles { membership: b.id, roles: b.roles }
        }),
        O::AssignRole(r) => read("assign_role", r.actor_id.clone(), r, |b: super::MembershipRole| {
            d::SimOp::AssignRole { membership: b.id, role: b.role }
        }),
        O::UnassignRole(r) => read("unassign_role", r.actor_id.clone(), r, |b: super::MembershipRole| {
            d::SimOp::UnassignRole { membership: b.id, role: b.role }
        }),
        O::SetResourceRestriction(r) => {
            read("set_resource_restriction", r.actor_id.clone(), r, |b: super::MembershipRestriction| {
                d::SimOp::SetResourceRestriction { membership: b.id, restriction: b.restriction }
            })
        }
        O::SuspendMembership(r) => read("suspend_membership", r.actor_id.clone(), r, |id: d::MembershipId| {
            d::SimOp::SetMembershipStatus { membership: id, status: d::MembershipStatus::Suspended }
        }),
        O::ReactivateMembership(r) => read("reactivate_membership", r.actor_id.clone(), r, |id: d::MembershipId| {
            d::SimOp::SetMembershipStatus { membership: id, status: d::MembershipStatus::Active }
        }),
        O::SetAccountModules(r) => read("set_account_modules", r.actor_id.clone(), r, |b: super::SetModules| {
            d::SimOp::SetAccountModules { account: b.id, modules: b.modules }
        }),
        O::SuspendAccount(r) => read("suspend_account", r.actor_id.clone(), r, |b: super::AccountText| {
            d::SimOp::SetAccountStatus { account: b.id, status: d::AccountStatus::Suspended }
        }),
        O::ReactivateAccount(r) => read("reactivate_account", r.actor_id.clone(), r, |id: d::AccountId| {
            d::SimOp::SetAccountStatus { account: id, status: d::AccountStatus::Active }
        }),
        O::SuspendUser(r) => read("suspend_user", r.actor_id.clone(), r, |id: d::UserId| d::SimOp::SetUserStatus {
            user: id,
            status: d::UserStatus::Suspended,
        }),
        O::ReactivateUser(r) => read("reactivate_user", r.actor_id.clone(), r, |id: d::UserId| {
            d::SimOp::SetUserStatus { user: id, status: d::UserStatus::Active }
        }),
        O::CreateDelegation(r) => read("create_delegation", r.actor_id.clone(), r, d::SimOp::CreateDelegation),
        O::DeleteDelegation(r) => read("delete_delegation", r.actor_id.clone(), r, d::SimOp::DeleteDelegation),
    }
}

/// The name of an operation in the oneof, for field paths (`update_role`, ...).
pub fn operation_name(op: &d::SimOp) -> &'static str {
    match op {
        d::SimOp::UpdateRole(_) => "update_role",
        d::SimOp::SetMembershipRoles { .. } => "set_membership_roles",
        d::SimOp::AssignRole { .. } => "assign_role",
        d::SimOp::UnassignRole { .. } => "unassign_role",
        d::SimOp::SetResourceRestriction { .. } => "set_resource_restriction",
        d::SimOp::SetMembershipStatus { status: d::MembershipStatus::Active, .. } => "reactivate_membership",
        d::SimOp::SetMembershipStatus { .. } => "suspend_membership",
        d::SimOp::SetAccountModules { .. } => "set_account_modules",
        d::SimOp::SetAccountStatus { status: d::AccountStatus::Active, .. } => "reactivate_account",
        d::SimOp::SetAccountStatus { .. } => "suspend_account",
        d::SimOp::SetUserStatus { status: d::UserStatus::Active, .. } => "reactivate_user",
        d::SimOp::SetUserStatus { .. } => "suspend_user",
        d::SimOp::CreateDelegation(_) => "create_delegation",
        d::SimOp::DeleteDelegation(_) => "delete_delegation",
    }
}

impl TryFrom<pb::SimulateChangesRequest> for SimulateQuery {
    type Error = Invalid;
    fn try_from(r: pb::SimulateChangesRequest) -> Result<Self, Invalid> {
        let pb::SimulateChangesRequest { actor_id, operations, max_effects } = r;
        let mut c = Check::default();
        let actor = c.actor(&actor_id);
        if operations.is_empty() {
            c.push("operations", "at least one operation is required");
        } else if operations.len() > MAX_SIMULATED_OPERATIONS {
            c.push(
                "operations",
                format!("at most {MAX_SIMULATED_OPERATIONS} operations per preview, got {}", operations.len()),
            );
        }
        let max = match usize::try_from(max_effects) {
            Err(_) => {
                c.push("max_effects", format!("must be 0..={MAX_SIMULATED_EFFECTS}"));
                None
            }
            Ok(0) => Some(DEFAULT_SIMULATED_EFFECTS),
            Ok(n) if n > MAX_SIMULATED_EFFECTS => {
                c.push("max_effects", format!("must be 0..={MAX_SIMULATED_EFFECTS}"));
                None
            }
            Ok(n) => Some(n),
        };
        let mut ops = Vec::with_capacity(operations.len());
        for (i, op) in operations.into_iter().take(MAX_SIMULATED_OPERATIONS).enumerate() {
            let pb::ManagementOperation { operation: inner } = op;
            let Some(inner) = inner else {
                c.push(format!("operations[{i}]"), "an operation is required");
                continue;
            };
            let (name, op_actor, read) = operation(inner);
            if !op_actor.is_empty() && op_actor != actor_id {
                c.push(
                    format!("operations[{i}].{name}.actor_id"),
                    "must be empty or the request's actor_id: a preview has one actor",
                );
            }
            match read {
                Ok(op) => ops.push(op),
                Err(Invalid(violations)) => {
                    for v in violations {
                        c.push(format!("operations[{i}].{name}.{}", v.field), v.description);
                    }
                }
            }
        }
        c.finish(|| Some(SimulateQuery { actor: actor?, operations: ops, max_effects: max? }))
    }
}

impl From<&d::LevelChange> for pb::LevelChange {
    fn from(c: &d::LevelChange) -> Self {
        Self {
            feature: c.feature.to_string(),
            resource_id: c.resource.as_ref().map(ToString::to_string).unwrap_or_default(),
            from: pb::Level::from(c.from) as i32,
            to: pb::Level::from(c.to) as i32,
        }
    }
}

impl From<&d::Effect> for pb::AccessEffect {
    fn from(e: &d::Effect) -> Self {
        Self {
            user_id: e.user.to_string(),
            account_id: e.account.to_string(),
            changes: e.changes.iter().map(Into::into).collect(),
        }
    }
}
