//! The catalog's file: the TOML shape it is written in, read into a validated [`Catalog`] and
//! written back from one.

use std::collections::BTreeMap;

use super::{ActionDef, Catalog, CatalogError, FeatureDef, KindDef, MAX_ACTION_NAME, REQUIRED_FEATURES, Role};
use crate::error::ParseError;
use crate::ids::{AccountKind, FeatureName, RoleName};
use crate::level::{Grants, Level, Permission};

#[derive(serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCatalog {
    version: String,
    #[serde(default)]
    features: Vec<RawFeature>,
    #[serde(default)]
    kinds: Vec<RawKind>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    actions: Vec<RawAction>,
}

#[derive(serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
struct RawAction {
    name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    resource_type: Option<String>,
    permission: String,
}

fn action_def(raw: RawAction, features: &BTreeMap<FeatureName, usize>) -> Result<ActionDef, CatalogError> {
    let invalid = |reason: String| CatalogError::InvalidAction { name: raw.name.clone(), reason };
    let n = raw.name.chars().count();
    if n == 0 || n > MAX_ACTION_NAME {
        return Err(invalid(format!("a name must be 1 to {MAX_ACTION_NAME} characters")));
    }
    if raw.name.contains(':') {
        return Err(invalid("a name must not contain ':' (feature:level is always read as a permission)".to_owned()));
    }
    if raw.name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid("a name must not contain spaces or control characters".to_owned()));
    }
    if let Some(t) = &raw.resource_type {
        FeatureName::parse(t).map_err(|e| invalid(format!("resource_type `{t}` {e}")))?;
    }
    let permission = Permission::parse(&raw.permission).map_err(|e| invalid(format!("permission: {e}")))?;
    if !features.contains_key(&permission.feature) {
        return Err(invalid(format!("permission {} names a feature the catalog does not define", raw.permission)));
    }
    Ok(ActionDef { name: raw.name.clone(), resource_type: raw.resource_type.clone(), permission })
}

#[derive(serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
struct RawFeature {
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    module: bool,
}

#[derive(serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
struct RawKind {
    name: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    parents: Vec<String>,
    #[serde(default)]
    root: bool,
    owner_role: String,
    #[serde(default)]
    default_requires_approval: bool,
    #[serde(default)]
    roles: Vec<RawRole>,
}

#[derive(serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
struct RawRole {
    name: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    all: Option<Level>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    grants: BTreeMap<String, Level>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    descendant_all: Option<Level>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    descendant_grants: BTreeMap<String, Level>,
}

fn name<T>(
    parse: fn(&str) -> Result<T, ParseError>,
    what: &'static str,
    value: &str,
    context: impl FnOnce() -> String,
) -> Result<T, CatalogError> {
    parse(value).map_err(|reason| CatalogError::InvalidName {
        what,
        value: value.to_owned(),
        context: context(),
        reason,
    })
}

fn expand(
    all: Option<Level>,
    grants: &BTreeMap<String, Level>,
    features: &BTreeMap<FeatureName, usize>,
    role: &str,
    kind: &str,
) -> Result<Grants, CatalogError> {
    let mut out = Grants::new();
    if let Some(level) = all {
        out.extend(features.keys().map(|f| (f.clone(), level)));
    }
    for (feature, level) in grants {
        let f = name(FeatureName::parse, "feature name", feature, || format!(" in role `{role}` of kind `{kind}`"))?;
        if !features.contains_key(&f) {
            return Err(CatalogError::UnknownFeature {
                feature: feature.clone(),
                role: role.to_owned(),
                kind: kind.to_owned(),
            });
        }
        out.insert(f, *level);
    }
    Ok(out)
}

impl RawCatalog {
    pub(super) fn validate(self) -> Result<Catalog, CatalogError> {
        if self.version.trim().is_empty() {
            return Err(CatalogError::EmptyVersion);
        }
        let mut features = Vec::with_capacity(self.features.len());
        let mut feature_index = BTreeMap::new();
        for raw in self.features {
            let n = name(FeatureName::parse, "feature name", &raw.name, String::new)?;
            if feature_index.insert(n.clone(), features.len()).is_some() {
                return Err(CatalogError::DuplicateFeature(raw.name));
            }
            features.push(FeatureDef { name: n, description: raw.description, module: raw.module });
        }
        for required in REQUIRED_FEATURES {
            if !feature_index.contains_key(required) {
                return Err(CatalogError::MissingFeature(required.to_owned()));
            }
        }
        let mut kinds = Vec::with_capacity(self.kinds.len());
        let mut kind_index = BTreeMap::new();
        for raw in self.kinds {
            let kind_name = name(AccountKind::parse, "kind name", &raw.name, String::new)?;
            if kind_index.insert(kind_name.clone(), kinds.len()).is_some() {
                return Err(CatalogError::DuplicateKind(raw.name));
            }
            let k = raw.name.as_str();
            let parents = raw
                .parents
                .iter()
                .map(|p| name(AccountKind::parse, "parent kind", p, || format!(" of kind `{k}`")))
                .collect::<Result<Vec<_>, _>>()?;
            let owner_role = name(RoleName::parse, "owner role", &raw.owner_role, || format!(" of kind `{k}`"))?;
            let mut roles: Vec<Role> = Vec::with_capacity(raw.roles.len());
            for r in &raw.roles {
                let role_name = name(RoleName::parse, "role name", &r.name, || format!(" in kind `{k}`"))?;
                if roles.iter().any(|x| x.name == role_name) {
                    return Err(CatalogError::DuplicateRole { kind: k.to_owned(), role: r.name.clone() });
                }
                roles.push(Role {
                    grants: expand(r.all, &r.grants, &feature_index, &r.name, k)?,
                    descendant_grants: expand(r.descendant_all, &r.descendant_grants, &feature_index, &r.name, k)?,
                    name: role_name,
                    display_name: r.display_name.clone(),
                    description: r.description.clone(),
                    builtin: true,
                });
            }
            kinds.push(KindDef {
                name: kind_name,
                display_name: raw.display_name,
                description: raw.description,
                parents,
                root: raw.root,
                owner_role,
                default_requires_approval: raw.default_requires_approval,
                roles,
            });
        }
        if kinds.is_empty() {
            return Err(CatalogError::NoKinds);
        }
        let mut actions: Vec<ActionDef> = Vec::with_capacity(self.actions.len());
        for raw in self.actions {
            let a = action_def(raw, &feature_index)?;
            if actions.iter().any(|x| x.name == a.name && x.resource_type == a.resource_type) {
                return Err(CatalogError::InvalidAction {
                    name: a.name,
                    reason: "defined twice for the same resource_type".to_owned(),
                });
            }
            actions.push(a);
        }
        for kind in &kinds {
            for parent in &kind.parents {
                if !kind_index.contains_key(parent) {
                    return Err(CatalogError::UnknownParent {
                        parent: parent.to_string(),
                        kind: kind.name.to_string(),
                    });
                }
            }
            if kind.parents.is_empty() && !kind.root {
                return Err(CatalogError::Unreachable(kind.name.to_string()));
            }
            match kind.owner() {
                None => {
                    return Err(CatalogError::OwnerRoleUndefined {
                        role: kind.owner_role.to_string(),
                        kind: kind.name.to_string(),
                    });
                }
                Some(owner) if !owner.is_administrator() => {
                    return Err(CatalogError::OwnerRoleNotAdministrator {
                        role: kind.owner_role.to_string(),
                        kind: kind.name.to_string(),
                    });
                }
                Some(_) => {}
            }
        }
        Ok(Catalog { version: self.version, features, feature_index, kinds, kind_index, actions })
    }
}

fn raw_grants(grants: &Grants) -> BTreeMap<String, Level> {
    grants.iter().map(|(f, l)| (f.to_string(), *l)).collect()
}

impl From<&Catalog> for RawCatalog {
    fn from(c: &Catalog) -> Self {
        RawCatalog {
            version: c.version.clone(),
            features: c
                .features
                .iter()
                .map(|f| RawFeature { name: f.name.to_string(), description: f.description.clone(), module: f.module })
                .collect(),
            kinds: c
                .kinds
                .iter()
                .map(|k| RawKind {
                    name: k.name.to_string(),
                    display_name: k.display_name.clone(),
                    description: k.description.clone(),
                    parents: k.parents.iter().map(ToString::to_string).collect(),
                    root: k.root,
                    owner_role: k.owner_role.to_string(),
                    default_requires_approval: k.default_requires_approval,
                    roles: k
                        .roles
                        .iter()
                        .map(|r| RawRole {
                            name: r.name.to_string(),
                            display_name: r.display_name.clone(),
                            description: r.description.clone(),
                            all: None,
                            grants: raw_grants(&r.grants),
                            descendant_all: None,
                            descendant_grants: raw_grants(&r.descendant_grants),
                        })
                        .collect(),
                })
                .collect(),
            actions: c
                .actions
                .iter()
                .map(|a| RawAction {
                    name: a.name.clone(),
                    resource_type: a.resource_type.clone(),
                    permission: a.permission.to_string(),
                })
                .collect(),
        }
    }
}
