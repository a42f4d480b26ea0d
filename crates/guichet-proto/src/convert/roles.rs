//! RoleService: requests in, roles and the catalog out.

use std::collections::BTreeMap;

use guichet_domain as d;

use super::{
    Authored, Check, Invalid, MAX_NAME_CHARS, MAX_TEXT_CHARS, PageParams, authored, authored_since, level_in, ts,
};
use crate::v1 as pb;

/// A role of an account, by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleRef {
    /// The account.
    pub account: d::AccountId,
    /// The role.
    pub name: d::RoleName,
}

/// ListRoles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListRoles {
    /// The account.
    pub account: d::AccountId,
    /// Paging.
    pub page: PageParams,
}

impl TryFrom<pb::ListRolesRequest> for Authored<ListRoles> {
    type Error = Invalid;
    fn try_from(r: pb::ListRolesRequest) -> Result<Self, Invalid> {
        let pb::ListRolesRequest { actor_id, account_id, page_size, page_token } = r;
        authored("", &actor_id, |c| {
            let account = c.required("account_id", &account_id, d::AccountId::parse);
            Some(ListRoles { account: account?, page: PageParams { size: page_size, token: page_token } })
        })
    }
}

impl TryFrom<pb::GetRoleRequest> for Authored<RoleRef> {
    type Error = Invalid;
    fn try_from(r: pb::GetRoleRequest) -> Result<Self, Invalid> {
        let pb::GetRoleRequest { actor_id, account_id, name } = r;
        authored("", &actor_id, |c| {
            let account = c.required("account_id", &account_id, d::AccountId::parse);
            let name = c.required("name", &name, d::RoleName::parse);
            Some(RoleRef { account: account?, name: name? })
        })
    }
}

impl TryFrom<pb::DeleteRoleRequest> for Authored<RoleRef> {
    type Error = Invalid;
    fn try_from(r: pb::DeleteRoleRequest) -> Result<Self, Invalid> {
        let pb::DeleteRoleRequest { request_id, actor_id, account_id, name } = r;
        authored(&request_id, &actor_id, |c| {
            let account = c.required("account_id", &account_id, d::AccountId::parse);
            let name = c.required("name", &name, d::RoleName::parse);
            Some(RoleRef { account: account?, name: name? })
        })
    }
}

fn role_definition(
    c: &mut Check,
    account_id: &str,
    name: &str,
    display_name: &str,
    description: &str,
    grants: Vec<pb::FeatureGrant>,
    descendant_grants: Vec<pb::FeatureGrant>,
) -> Option<d::RoleDefinition> {
    let account = c.required("account_id", account_id, d::AccountId::parse);
    let name = c.required("name", name, d::RoleName::parse);
    let display = c.text("display_name", display_name, 1, MAX_NAME_CHARS);
    let description = if description.is_empty() {
        Some(String::new())
    } else {
        c.text("description", description, 0, MAX_TEXT_CHARS)
    };
    let grants = grants_in(c, "grants", grants);
    let descendant = grants_in(c, "descendant_grants", descendant_grants);
    let name = name?;
    Some(d::RoleDefinition {
        account: account?,
        display_name: display?,
        name,
        description: description?,
        grants: grants?,
        descendant_grants: descendant?,
    })
}

impl TryFrom<pb::CreateRoleRequest> for Authored<d::RoleDefinition> {
    type Error = Invalid;
    fn try_from(r: pb::CreateRoleRequest) -> Result<Self, Invalid> {
        let pb::CreateRoleRequest {
            request_id,
            actor_id,
            account_id,
            name,
            display_name,
            description,
            grants,
            descendant_grants,
        } = r;
        authored(&request_id, &actor_id, |c| {
            role_definition(c, &account_id, &name, &display_name, &description, grants, descendant_grants)
        })
    }
}

impl TryFrom<pb::UpdateRoleRequest> for Authored<d::RoleDefinition> {
    type Error = Invalid;
    fn try_from(r: pb::UpdateRoleRequest) -> Result<Self, Invalid> {
        let pb::UpdateRoleRequest {
            request_id,
            actor_id,
            account_id,
            name,
            display_name,
            description,
            grants,
            descendant_grants,
            unchanged_since,
        } = r;
        authored_since(&request_id, &actor_id, &unchanged_since, |c| {
            role_definition(c, &account_id, &name, &display_name, &description, grants, descendant_grants)
        })
    }
}

fn grants_in(check: &mut Check, field: &str, grants: Vec<pb::FeatureGrant>) -> Option<d::Grants> {
    let mut out = BTreeMap::new();
    let mut ok = true;
    for (i, g) in grants.into_iter().enumerate() {
        let pb::FeatureGrant { feature, level } = g;
        let f = check.required(&format!("{field}[{i}].feature"), &feature, d::FeatureName::parse);
        let l = level_in(check, &format!("{field}[{i}].level"), level);
        match (f, l) {
            (Some(f), Some(l)) => {
                if out.insert(f.clone(), l).is_some() {
                    check.push(format!("{field}[{i}].feature"), format!("{f} is listed twice"));
                    ok = false;
                }
            }
            _ => ok = false,
        }
    }
    ok.then_some(out)
}

fn grants_out(g: &d::Grants) -> Vec<pb::FeatureGrant> {
    g.iter().map(|(f, l)| pb::FeatureGrant { feature: f.to_string(), level: pb::Level::from(*l) as i32 }).collect()
}

impl From<&d::AccountRole> for pb::Role {
    fn from(r: &d::AccountRole) -> Self {
        pb::Role {
            name: r.role.name.to_string(),
            account_id: r.account.as_ref().map(ToString::to_string).unwrap_or_default(),
            display_name: r.role.display_name.clone(),
            description: r.role.description.clone(),
            builtin: r.role.builtin,
            grants: grants_out(&r.role.grants),
            descendant_grants: grants_out(&r.role.descendant_grants),
            create_time: r.created_at.and_then(ts),
            update_time: r.updated_at.and_then(ts),
        }
    }
}

/// The catalog as ListCatalog shows it.
pub fn catalog_response(catalog: &d::Catalog) -> pb::ListCatalogResponse {
    pb::ListCatalogResponse {
        version: catalog.version().to_owned(),
        features: catalog
            .features()
            .map(|f| pb::CatalogFeature {
                name: f.name.to_string(),
                description: f.description.clone(),
                module: f.module,
            })
            .collect(),
        kinds: catalog
            .kinds()
            .map(|k| pb::CatalogAccountKind {
                name: k.name.to_string(),
                display_name: k.display_name.clone(),
                description: k.description.clone(),
                parent_kinds: k.parents.iter().map(ToString::to_string).collect(),
                root: k.root,
                owner_role: k.owner_role.to_string(),
                roles: k
                    .roles
                    .iter()
                    .map(|r| {
                        pb::Role::from(&d::AccountRole {
                            account: None,
                            role: r.clone(),
                            created_at: None,
                            updated_at: None,
                        })
                    })
                    .collect(),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_name_the_bad_entry() {
        let mut c = Check::default();
        let g = vec![
            pb::FeatureGrant { feature: "billing".into(), level: pb::Level::View as i32 },
            pb::FeatureGrant { feature: "billing".into(), level: pb::Level::Full as i32 },
            pb::FeatureGrant { feature: "Bad".into(), level: 0 },
        ];
        assert!(grants_in(&mut c, "grants", g).is_none());
        let fields: Vec<_> = c.0.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(fields, ["grants[1].feature", "grants[2].feature", "grants[2].level"]);
    }
}
