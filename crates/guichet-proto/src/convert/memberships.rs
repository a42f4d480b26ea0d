//! MembershipService: requests in, memberships out; resource restrictions both ways.

use guichet_domain as d;

use super::events::time_in;
use super::{
    Authored, Check, Expiry, Invalid, MAX_RESTRICTED_RESOURCES, MAX_ROLES, PageParams, authored, authored_since,
    expiry_in, ids_in, level_in, reason_in, ts,
};
use crate::v1 as pb;

/// ListMemberships filters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListMemberships {
    /// Only in this account.
    pub account: Option<d::AccountId>,
    /// Only of this user.
    pub user: Option<d::UserId>,
    /// Only with this status.
    pub status: Option<d::MembershipStatus>,
    /// Only those with an expiry strictly before this instant.
    pub expiring_before: Option<d::Timestamp>,
    /// Paging.
    pub page: PageParams,
}

/// SetMembershipExpiry: the membership and its new expiry (`None`: never).
pub type MembershipExpiry = Expiry<d::MembershipId>;

/// A membership and one role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MembershipRole {
    /// The membership.
    pub id: d::MembershipId,
    /// The role.
    pub role: d::RoleName,
}

/// A membership and its new roles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MembershipRoles {
    /// The membership.
    pub id: d::MembershipId,
    /// The roles.
    pub roles: Vec<d::RoleName>,
}

/// A membership and its new restriction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MembershipRestriction {
    /// The membership.
    pub id: d::MembershipId,
    /// `None`: every resource.
    pub restriction: Option<d::Restriction>,
}

impl TryFrom<pb::CreateMembershipRequest> for Authored<d::NewMembership> {
    type Error = Invalid;
    fn try_from(r: pb::CreateMembershipRequest) -> Result<Self, Invalid> {
        let pb::CreateMembershipRequest {
            request_id,
            actor_id,
            id,
            account_id,
            user_id,
            roles,
            restriction,
            expire_time,
        } = r;
        authored(&request_id, &actor_id, |c| {
            let id = c.optional("id", &id, d::MembershipId::parse);
            let account = c.required("account_id", &account_id, d::AccountId::parse);
            let user = c.required("user_id", &user_id, d::UserId::parse);
            let roles = roles_in(c, "roles", &roles);
            let restriction = restriction_in(c, "restriction", restriction);
            let expires_at = time_in(c, "expire_time", expire_time);
            Some(d::NewMembership {
                id: id?,
                account: account?,
                user: user?,
                roles: roles?,
                restriction: restriction?,
                expires_at: expires_at?,
            })
        })
    }
}

by_id!(read GetMembershipRequest => d::MembershipId);

impl TryFrom<pb::ListMembershipsRequest> for Authored<ListMemberships> {
    type Error = Invalid;
    fn try_from(r: pb::ListMembershipsRequest) -> Result<Self, Invalid> {
        let pb::ListMembershipsRequest {
            actor_id,
            account_id,
            user_id,
            status,
            page_size,
            page_token,
            expiring_before,
        } = r;
        authored("", &actor_id, |c| {
            let account = c.optional("account_id", &account_id, d::AccountId::parse);
            let user = c.optional("user_id", &user_id, d::UserId::parse);
            let status = match pb::MembershipStatus::try_from(status) {
                Ok(pb::MembershipStatus::Unspecified) => Some(None),
                Ok(pb::MembershipStatus::PendingApproval) => Some(Some(d::MembershipStatus::PendingApproval)),
                Ok(pb::MembershipStatus::Active) => Some(Some(d::MembershipStatus::Active)),
                Ok(pb::MembershipStatus::Suspended) => Some(Some(d::MembershipStatus::Suspended)),
                Err(_) => {
                    c.push("status", "unknown membership status");
                    None
                }
            };
            if account_id.is_empty() && user_id.is_empty() {
                c.push("account_id", "account_id or user_id is required");
            }
            let expiring_before = time_in(c, "expiring_before", expiring_before);
            Some(ListMemberships {
                account: account?,
                user: user?,
                status: status?,
                expiring_before: expiring_before?,
                page: PageParams { size: page_size, token: page_token },
            })
        })
    }
}

impl TryFrom<pb::SetMembershipExpiryRequest> for Authored<MembershipExpiry> {
    type Error = Invalid;
    fn try_from(r: pb::SetMembershipExpiryRequest) -> Result<Self, Invalid> {
        let pb::SetMembershipExpiryRequest { request_id, actor_id, membership_id, expire_time } = r;
        expiry_in(&request_id, &actor_id, "membership_id", &membership_id, d::MembershipId::parse, expire_time)
    }
}

/// AssignRole and UnassignRole carry the same fields: a membership and one role.
macro_rules! membership_role {
    ($($request:ident),+) => {$(
        impl TryFrom<pb::$request> for Authored<MembershipRole> {
            type Error = Invalid;
            fn try_from(r: pb::$request) -> Result<Self, Invalid> {
                let pb::$request { request_id, actor_id, membership_id, role, unchanged_since } = r;
                authored_since(&request_id, &actor_id, &unchanged_since, |c| {
                    let id = c.required("membership_id", &membership_id, d::MembershipId::parse);
                    let role = c.required("role", &role, d::RoleName::parse);
                    Some(MembershipRole { id: id?, role: role? })
                })
            }
        }
    )+};
}

membership_role!(AssignRoleRequest, UnassignRoleRequest);

impl TryFrom<pb::SetMembershipRolesRequest> for Authored<MembershipRoles> {
    type Error = Invalid;
    fn try_from(r: pb::SetMembershipRolesRequest) -> Result<Self, Invalid> {
        let pb::SetMembershipRolesRequest { request_id, actor_id, membership_id, roles, unchanged_since } = r;
        authored_since(&request_id, &actor_id, &unchanged_since, |c| {
            let id = c.required("membership_id", &membership_id, d::MembershipId::parse);
            let roles = roles_in(c, "roles", &roles);
            Some(MembershipRoles { id: id?, roles: roles? })
        })
    }
}

impl TryFrom<pb::SetResourceRestrictionRequest> for Authored<MembershipRestriction> {
    type Error = Invalid;
    fn try_from(r: pb::SetResourceRestrictionRequest) -> Result<Self, Invalid> {
        let pb::SetResourceRestrictionRequest { request_id, actor_id, membership_id, restriction, unchanged_since } = r;
        authored_since(&request_id, &actor_id, &unchanged_since, |c| {
            let id = c.required("membership_id", &membership_id, d::MembershipId::parse);
            if restriction.is_none() {
                c.push("restriction", "is required (restricted: false lifts the restriction)");
            }
            let restriction = restriction_in(c, "restriction", restriction);
            Some(MembershipRestriction { id: id?, restriction: restriction? })
        })
    }
}

impl TryFrom<pb::SuspendMembershipRequest> for Authored<d::MembershipId> {
    type Error = Invalid;
    fn try_from(r: pb::SuspendMembershipRequest) -> Result<Self, Invalid> {
        let pb::SuspendMembershipRequest { request_id, actor_id, membership_id, reason, unchanged_since } = r;
        authored_since(&request_id, &actor_id, &unchanged_since, |c| {
            let id = c.required("membership_id", &membership_id, d::MembershipId::parse);
            reason_in(c, &reason)?;
            id
        })
    }
}

impl TryFrom<pb::ReactivateMembershipRequest> for Authored<d::MembershipId> {
    type Error = Invalid;
    fn try_from(r: pb::ReactivateMembershipRequest) -> Result<Self, Invalid> {
        let pb::ReactivateMembershipRequest { request_id, actor_id, membership_id, unchanged_since } = r;
        authored_since(&request_id, &actor_id, &unchanged_since, |c| {
            c.required("membership_id", &membership_id, d::MembershipId::parse)
        })
    }
}

impl TryFrom<pb::DeleteMembershipRequest> for Authored<d::MembershipId> {
    type Error = Invalid;
    fn try_from(r: pb::DeleteMembershipRequest) -> Result<Self, Invalid> {
        let pb::DeleteMembershipRequest { request_id, actor_id, membership_id } = r;
        authored(&request_id, &actor_id, |c| c.required("membership_id", &membership_id, d::MembershipId::parse))
    }
}

fn roles_in(check: &mut Check, field: &str, values: &[String]) -> Option<Vec<d::RoleName>> {
    if values.is_empty() {
        check.push(field, "at least one role is required");
        return None;
    }
    let mut ok = true;
    for (i, v) in values.iter().enumerate() {
        if values[..i].contains(v) {
            check.push(format!("{field}[{i}]"), format!("role {v} is listed twice"));
            ok = false;
        }
    }
    let roles = ids_in(check, field, values, MAX_ROLES, d::RoleName::parse);
    if ok { roles } else { None }
}

pub(super) fn restriction_in(
    check: &mut Check,
    field: &str,
    r: Option<pb::ResourceRestriction>,
) -> Option<Option<d::Restriction>> {
    let Some(pb::ResourceRestriction { restricted, resource_ids, resource_levels }) = r else {
        return Some(None);
    };
    if !restricted {
        let mut ok = true;
        if !resource_ids.is_empty() {
            check.push(format!("{field}.resource_ids"), "must be empty when restricted is false");
            ok = false;
        }
        if !resource_levels.is_empty() {
            check.push(format!("{field}.resource_levels"), "must be empty when restricted is false");
            ok = false;
        }
        return ok.then_some(None);
    }
    if resource_ids.len() + resource_levels.len() > MAX_RESTRICTED_RESOURCES {
        check.push(
            format!("{field}.resource_levels"),
            format!("at most {MAX_RESTRICTED_RESOURCES} resources in resource_ids and resource_levels together"),
        );
        return None;
    }
    let ids_field = format!("{field}.resource_ids");
    let ids = ids_in(check, &ids_field, &resource_ids, MAX_RESTRICTED_RESOURCES, d::ResourceId::parse);
    let mut capped = Vec::with_capacity(resource_levels.len());
    let mut ok = ids.is_some();
    for (i, pb::ResourceLevel { resource_id, level }) in resource_levels.into_iter().enumerate() {
        let at = format!("{field}.resource_levels[{i}]");
        let id = match d::ResourceId::parse(&resource_id) {
            Ok(id) => Some(id),
            Err(e) => {
                check.push(format!("{at}.resource_id"), e.to_string());
                None
            }
        };
        let level = match level_in(check, &format!("{at}.level"), level) {
            Some(d::Level::None) => {
                check.push(
                    format!("{at}.level"),
                    "must be LEVEL_VIEW or LEVEL_FULL (leave out a resource the membership must not reach)",
                );
                None
            }
            other => other,
        };
        match (id, level) {
            (Some(id), Some(level)) => capped.push((at, id, level)),
            _ => ok = false,
        }
    }
    let ids = ids?;
    // A resource listed twice is a mistake of the caller's, not something to fold away silently.
    let mut restriction = d::Restriction::new();
    let listed =
        ids.into_iter().enumerate().map(|(i, id)| (format!("{ids_field}[{i}]"), id, d::Level::Full)).chain(capped);
    for (at, id, level) in listed {
        if restriction.contains(&id) {
            check.push(at, format!("resource {id} is listed twice"));
            ok = false;
        }
        restriction.insert(id, level);
    }
    ok.then_some(Some(restriction))
}

/// A restriction as the API shows it: the resources at the roles' levels in `resource_ids`, the
/// others (capped at view) in `resource_levels`.
pub(crate) fn restriction_out(r: Option<&d::Restriction>) -> pb::ResourceRestriction {
    let set = || r.into_iter().flat_map(d::Restriction::iter);
    pb::ResourceRestriction {
        restricted: r.is_some(),
        resource_ids: set().filter(|(_, cap)| *cap == d::Level::Full).map(|(id, _)| id.to_string()).collect(),
        resource_levels: set()
            .filter(|(_, cap)| *cap < d::Level::Full)
            .map(|(id, cap)| pb::ResourceLevel { resource_id: id.to_string(), level: pb::Level::from(cap).into() })
            .collect(),
    }
}

impl From<d::MembershipStatus> for pb::MembershipStatus {
    fn from(s: d::MembershipStatus) -> Self {
        match s {
            d::MembershipStatus::PendingApproval => pb::MembershipStatus::PendingApproval,
            d::MembershipStatus::Active => pb::MembershipStatus::Active,
            d::MembershipStatus::Suspended => pb::MembershipStatus::Suspended,
        }
    }
}

impl From<&d::Membership> for pb::Membership {
    fn from(m: &d::Membership) -> Self {
        pb::Membership {
            id: m.id.to_string(),
            user_id: m.user.to_string(),
            account_id: m.account.to_string(),
            roles: m.roles.iter().map(ToString::to_string).collect(),
            status: pb::MembershipStatus::from(m.status) as i32,
            restriction: Some(restriction_out(m.restriction.as_ref())),
            created_by: m.created_by.as_ref().map(ToString::to_string).unwrap_or_default(),
            approved_by: m.approved_by.as_ref().map(ToString::to_string).unwrap_or_default(),
            create_time: ts(m.created_at),
            update_time: ts(m.updated_at),
            version: m.version(),
            expire_time: m.expires_at.and_then(ts),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn restriction(ids: &[&str]) -> Option<pb::ResourceRestriction> {
        Some(pb::ResourceRestriction {
            restricted: true,
            resource_ids: ids.iter().map(|s| (*s).to_owned()).collect(),
            resource_levels: Vec::new(),
        })
    }

    #[test]
    fn a_resource_listed_twice_is_refused_on_its_index() {
        let Invalid(v) = Authored::<MembershipRestriction>::try_from(pb::SetResourceRestrictionRequest {
            membership_id: "m1".into(),
            restriction: restriction(&["f1", "f2", "f1", "f3", "f2"]),
            ..Default::default()
        })
        .unwrap_err();
        let got: Vec<_> = v.iter().map(|v| (v.field.as_str(), v.description.as_str())).collect();
        assert_eq!(
            got,
            [
                ("restriction.resource_ids[2]", "resource f1 is listed twice"),
                ("restriction.resource_ids[4]", "resource f2 is listed twice"),
            ]
        );
        let Invalid(v) = Authored::<d::NewMembership>::try_from(pb::CreateMembershipRequest {
            account_id: "a".into(),
            user_id: "u".into(),
            roles: vec!["client_user".into()],
            restriction: restriction(&["f1", "f1"]),
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(v.iter().map(|v| v.field.as_str()).collect::<Vec<_>>(), ["restriction.resource_ids[1]"]);
        let Invalid(v) = Authored::<d::NewInvitation>::try_from(pb::CreateInvitationRequest {
            account_id: "a".into(),
            email: "marc@exemple.fr".into(),
            roles: vec!["client_user".into()],
            restriction: restriction(&["f1", "f1"]),
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(v.iter().map(|v| v.field.as_str()).collect::<Vec<_>>(), ["restriction.resource_ids[1]"]);
        // Distinct ids pass, in a set.
        let ok = Authored::<MembershipRestriction>::try_from(pb::SetResourceRestrictionRequest {
            membership_id: "m1".into(),
            restriction: restriction(&["f2", "f1"]),
            ..Default::default()
        })
        .unwrap();
        let ids: Vec<&str> =
            ok.body.restriction.iter().flat_map(d::Restriction::ids).map(d::ResourceId::as_str).collect();
        assert_eq!(ids, ["f1", "f2"]);
    }

    #[test]
    fn resource_levels_cap_folders_and_round_trip() {
        let level = |id: &str, l: pb::Level| pb::ResourceLevel { resource_id: id.into(), level: l.into() };
        let request = |levels: Vec<pb::ResourceLevel>| pb::SetResourceRestrictionRequest {
            membership_id: "m1".into(),
            restriction: Some(pb::ResourceRestriction {
                restricted: true,
                resource_ids: vec!["paie".into()],
                resource_levels: levels,
            }),
            ..Default::default()
        };
        let ok = Authored::<MembershipRestriction>::try_from(request(vec![
            level("comptes-2025", pb::Level::View),
            level("bilan", pb::Level::Full),
        ]))
        .unwrap();
        let restriction = ok.body.restriction.unwrap();
        let caps: Vec<(&str, d::Level)> = restriction.iter().map(|(r, l)| (r.as_str(), l)).collect();
        assert_eq!(caps, [("bilan", d::Level::Full), ("comptes-2025", d::Level::View), ("paie", d::Level::Full)]);
        // Out: full caps in resource_ids, the others in resource_levels.
        let out = restriction_out(Some(&restriction));
        assert_eq!(out.resource_ids, ["bilan", "paie"]);
        assert_eq!(out.resource_levels, [level("comptes-2025", pb::Level::View)]);
        assert_eq!(restriction_out(None), pb::ResourceRestriction::default());

        // None, unspecified, a bad id, a duplicate across both lists: each named.
        let Invalid(v) = Authored::<MembershipRestriction>::try_from(request(vec![
            level("a", pb::Level::None),
            level("b", pb::Level::Unspecified),
            level("not an id!", pb::Level::View),
            level("paie", pb::Level::View),
        ]))
        .unwrap_err();
        let fields: Vec<&str> = v.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "restriction.resource_levels[0].level",
                "restriction.resource_levels[1].level",
                "restriction.resource_levels[2].resource_id",
                "restriction.resource_levels[3]",
            ]
        );
        // Unrestricted with levels is a mistake.
        let Invalid(v) = Authored::<MembershipRestriction>::try_from(pb::SetResourceRestrictionRequest {
            membership_id: "m1".into(),
            restriction: Some(pb::ResourceRestriction {
                restricted: false,
                resource_ids: vec![],
                resource_levels: vec![level("a", pb::Level::View)],
            }),
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(v[0].field, "restriction.resource_levels");
    }

    #[test]
    fn a_membership_shows_its_version_and_a_user_its_claim() {
        let m = d::Membership {
            id: d::MembershipId::from_trusted("m1"),
            user: d::UserId::from_trusted("u1"),
            account: d::AccountId::from_trusted("a1"),
            roles: vec![d::RoleName::from_trusted("client_user")],
            status: d::MembershipStatus::PendingApproval,
            restriction: None,
            created_by: Some(d::UserId::from_trusted("lucie")),
            approved_by: None,
            created_at: d::Timestamp::from_millis(1),
            updated_at: d::Timestamp::from_millis(1),
            expires_at: None,
        };
        let out = pb::Membership::from(&m);
        assert_eq!((out.version, out.created_by.as_str()), (m.version(), "lucie"));
        assert_eq!(out.expire_time, None);
        let timed = d::Membership { expires_at: Some(d::Timestamp::from_millis(1_500)), ..m.clone() };
        assert_eq!(
            pb::Membership::from(&timed).expire_time,
            Some(prost_types::Timestamp { seconds: 1, nanos: 500_000_000 })
        );
        let u = d::User {
            id: d::UserId::from_trusted("u1"),
            email: d::Email::parse("u1@exemple.fr").unwrap(),
            given_name: String::new(),
            family_name: String::new(),
            phone: None,
            idp_subject: None,
            status: d::UserStatus::Active,
            claimed_at: None,
            created_at: d::Timestamp::from_millis(1),
            updated_at: d::Timestamp::from_millis(1),
        };
        assert_eq!(pb::User::from(&u).claim_time, None);
        let claimed = d::User { claimed_at: Some(d::Timestamp::from_millis(2_000)), ..u };
        assert_eq!(pb::User::from(&claimed).claim_time, Some(prost_types::Timestamp { seconds: 2, nanos: 0 }));
    }
}
