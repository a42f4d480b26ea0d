//! The catalog: features, account kinds, which kinds may parent which, and the built-in roles of
//! each kind.
//!
//! It is loaded once at start from TOML ([`Catalog::from_toml_str`]) or taken from the built-in
//! default ([`Catalog::builtin`], the file `catalog/default.toml` of this crate, which encodes the
//! seeds and documents the format). Loading validates everything and stops at the first problem
//! with a precise [`CatalogError`].

use std::collections::{BTreeMap, BTreeSet};

mod file;

use file::RawCatalog;

use crate::error::ParseError;
use crate::ids::{AccountKind, FeatureName, RoleName};
use crate::level::{Grants, Level, Permission, grants_within, level_in};

/// The built-in catalog's TOML source.
pub const BUILTIN_CATALOG_TOML: &str = include_str!("../catalog/default.toml");

/// The feature whose `full` level makes an administrator (invite, edit and remove users).
pub const USERS_FEATURE: &str = "users";
/// The feature whose `full` level lets a member act through a delegation.
pub const DELEGATED_ADMINISTRATION_FEATURE: &str = "delegated_administration";
/// The feature whose `full` level lets a member approve pending access.
pub const ACCESS_APPROVALS_FEATURE: &str = "access_approvals";
/// The feature whose `view` level lets a member read the account's events.
pub const EVENT_LOGS_FEATURE: &str = "event_logs";
/// Features every catalog must define: the service's own rules use them.
pub const REQUIRED_FEATURES: [&str; 4] =
    [USERS_FEATURE, DELEGATED_ADMINISTRATION_FEATURE, ACCESS_APPROVALS_FEATURE, EVENT_LOGS_FEATURE];

/// Why a catalog could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogError {
    /// Not TOML, or not the catalog's shape (the message gives line and column).
    #[error("invalid catalog toml: {0}")]
    Syntax(String),
    /// The catalog could not be written as TOML.
    #[error("cannot write the catalog as toml: {0}")]
    Serialize(String),
    /// The version is empty.
    #[error("the catalog version must not be empty")]
    EmptyVersion,
    /// A name does not validate.
    #[error("invalid {what} `{value}`{context}: {reason}")]
    InvalidName {
        /// Which name, e.g. `role name`.
        what: &'static str,
        /// The name as written.
        value: String,
        /// Where, e.g. `` in kind `partner` ``, or empty.
        context: String,
        /// Why.
        reason: ParseError,
    },
    /// A feature is defined twice.
    #[error("duplicate feature `{0}`")]
    DuplicateFeature(String),
    /// A kind is defined twice.
    #[error("duplicate kind `{0}`")]
    DuplicateKind(String),
    /// A role is defined twice in one kind.
    #[error("duplicate role `{role}` in kind `{kind}`")]
    DuplicateRole {
        /// The kind.
        kind: String,
        /// The role.
        role: String,
    },
    /// A role names a feature the catalog does not define.
    #[error("unknown feature `{feature}` in role `{role}` of kind `{kind}`")]
    UnknownFeature {
        /// The feature.
        feature: String,
        /// The role.
        role: String,
        /// The kind.
        kind: String,
    },
    /// A kind names a parent kind the catalog does not define.
    #[error("unknown parent kind `{parent}` of kind `{kind}`")]
    UnknownParent {
        /// The parent kind.
        parent: String,
        /// The kind.
        kind: String,
    },
    /// A kind's owner role is not one of its roles.
    #[error("owner role `{role}` of kind `{kind}` is not one of its roles")]
    OwnerRoleUndefined {
        /// The role.
        role: String,
        /// The kind.
        kind: String,
    },
    /// A kind's owner role is not an administrator.
    #[error("owner role `{role}` of kind `{kind}` must hold users:full")]
    OwnerRoleNotAdministrator {
        /// The role.
        role: String,
        /// The kind.
        kind: String,
    },
    /// A kind can neither be a root nor have a parent.
    #[error("kind `{0}` has no parent kinds and is not a root: no account of that kind could be created")]
    Unreachable(String),
    /// A feature the service relies on is missing.
    #[error("the catalog must define the feature `{0}`")]
    MissingFeature(String),
    /// No kind at all.
    #[error("the catalog defines no account kind")]
    NoKinds,
    /// An `[[actions]]` entry cannot be used.
    #[error("invalid action `{name}`: {reason}")]
    InvalidAction {
        /// The action's name as written.
        name: String,
        /// Why.
        reason: String,
    },
}

/// The longest action name.
pub const MAX_ACTION_NAME: usize = 64;

/// The resource type that names accounts in the AuthZEN API (see [`ActionDef`]).
pub const ACCOUNT_RESOURCE_TYPE: &str = "account";

/// A named action (`[[actions]]`): what an AuthZEN action name means in permissions, so that a
/// policy enforcement point sends its own verbs (`read`, `can_view_invoice`) rather than guichet's
/// `feature:level` strings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionDef {
    /// The name a caller sends: 1 to 64 characters, no `:` (a name with `:` is always read as
    /// `feature:level`), no spaces or control characters.
    pub name: String,
    /// The resource type it applies to: `account` for accounts, a resource kind (`folder`) for
    /// resources; `None`: every type. A name defined for a type wins over the same name without one.
    pub resource_type: Option<String>,
    /// The permission it stands for.
    pub permission: Permission,
}

/// A feature: a portal section or an administrative right.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeatureDef {
    /// Its name, used in permissions (`billing:view`).
    pub name: FeatureName,
    /// What it covers.
    pub description: String,
    /// `true`: a module, which an account may have enabled or not (a portal section such as
    /// `billing`, `hosting`, `voip_911`); a disabled module caps every level on it to none.
    /// `false`: an administrative right, always enabled (`users`, `roles`, `access_approvals`,
    /// `delegated_administration`, `event_logs`, `contacts`, `account_settings`).
    pub module: bool,
}

/// A role (profile): levels on the account it is held in, and on that account's descendants.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Role {
    /// Its name, unique within a kind (built-in) or an account (custom).
    pub name: RoleName,
    /// The name people see.
    pub display_name: String,
    /// What it is for.
    pub description: String,
    /// `true` for a role of the catalog, `false` for an account's custom role.
    pub builtin: bool,
    /// Levels on the account where the membership is held.
    pub grants: Grants,
    /// Levels on every descendant of that account (children, grandchildren, …).
    pub descendant_grants: Grants,
}

impl Role {
    /// The level on `feature` in the account itself (`none` when absent).
    pub fn level(&self, feature: &FeatureName) -> Level {
        level_in(&self.grants, feature.as_str())
    }

    /// The level on `feature` in the account's descendants (`none` when absent).
    pub fn descendant_level(&self, feature: &FeatureName) -> Level {
        level_in(&self.descendant_grants, feature.as_str())
    }

    /// Whether the role makes an administrator: it holds `users:full`.
    pub fn is_administrator(&self) -> bool {
        level_in(&self.grants, USERS_FEATURE) == Level::Full
    }

    /// Whether someone holding `holder` may hand this role out: every level of the role, on the
    /// account and on descendants, is at most the holder's level on that feature in the account.
    pub fn covered_by(&self, holder: &Grants) -> bool {
        grants_within(&self.grants, holder) && grants_within(&self.descendant_grants, holder)
    }
}

/// An account kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KindDef {
    /// Its name.
    pub name: AccountKind,
    /// The name people see.
    pub display_name: String,
    /// What it is.
    pub description: String,
    /// The kinds an account of this kind may have as parent.
    pub parents: Vec<AccountKind>,
    /// Whether an account of this kind may exist without a parent.
    pub root: bool,
    /// The role given to the account's first administrator; it holds `users:full`.
    pub owner_role: RoleName,
    /// The approval setting of a new account of this kind.
    pub default_requires_approval: bool,
    /// The built-in roles (all `builtin = true`).
    pub roles: Vec<Role>,
}

impl KindDef {
    /// The built-in role `name` of this kind.
    pub fn role(&self, name: &RoleName) -> Option<&Role> {
        self.roles.iter().find(|r| r.name == *name)
    }

    /// The owner role (always defined in a loaded catalog).
    pub fn owner(&self) -> Option<&Role> {
        self.role(&self.owner_role)
    }
}

/// The loaded, validated catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Catalog {
    version: String,
    features: Vec<FeatureDef>,
    feature_index: BTreeMap<FeatureName, usize>,
    kinds: Vec<KindDef>,
    kind_index: BTreeMap<AccountKind, usize>,
    actions: Vec<ActionDef>,
}

impl Catalog {
    /// The built-in catalog (`catalog/default.toml`, embedded at build time).
    ///
    /// It returns a `Result` rather than panicking so that no code path can abort the process; a
    /// unit test proves the embedded file loads, so callers may treat an error as a build defect.
    pub fn builtin() -> Result<Catalog, CatalogError> {
        Self::from_toml_str(BUILTIN_CATALOG_TOML)
    }

    /// Loads and validates a catalog written in TOML (format: see `catalog/default.toml`).
    pub fn from_toml_str(s: &str) -> Result<Catalog, CatalogError> {
        let raw: RawCatalog =
            toml::from_str(s).map_err(|e| CatalogError::Syntax(e.to_string().trim_end().to_owned()))?;
        raw.validate()
    }

    /// The catalog written as TOML, every role's levels spelt out (no `all`); loading it back gives
    /// an equal catalog.
    pub fn to_toml_string(&self) -> Result<String, CatalogError> {
        toml::to_string(&RawCatalog::from(self)).map_err(|e| CatalogError::Serialize(e.to_string()))
    }

    /// Its version, e.g. `2026-11-1`.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The feature `name`.
    pub fn feature(&self, name: &FeatureName) -> Option<&FeatureDef> {
        self.feature_by_str(name.as_str())
    }

    /// The feature `name`, by string.
    pub fn feature_by_str(&self, name: &str) -> Option<&FeatureDef> {
        self.feature_index.get(name).and_then(|&i| self.features.get(i))
    }

    /// Every feature, in the file's order.
    pub fn features(&self) -> impl Iterator<Item = &FeatureDef> {
        self.features.iter()
    }

    /// The kind `name`.
    pub fn kind(&self, name: &AccountKind) -> Option<&KindDef> {
        self.kind_index.get(name.as_str()).and_then(|&i| self.kinds.get(i))
    }

    /// Every kind, in the file's order.
    pub fn kinds(&self) -> impl Iterator<Item = &KindDef> {
        self.kinds.iter()
    }

    /// The built-in role `role` of `kind`.
    pub fn builtin_role(&self, kind: &AccountKind, role: &RoleName) -> Option<&Role> {
        self.kind(kind).and_then(|k| k.role(role))
    }

    /// Whether an account of kind `child` may have a parent of kind `parent`.
    pub fn may_parent(&self, parent: &AccountKind, child: &AccountKind) -> bool {
        self.kind(child).is_some_and(|k| k.parents.contains(parent))
    }

    /// The permission the action `name` stands for on a resource of `resource_type`: the entry for
    /// that type, else the entry for every type.
    pub fn action(&self, resource_type: &str, name: &str) -> Option<&Permission> {
        let typed = self.actions.iter().find(|a| a.name == name && a.resource_type.as_deref() == Some(resource_type));
        typed
            .or_else(|| self.actions.iter().find(|a| a.name == name && a.resource_type.is_none()))
            .map(|a| &a.permission)
    }

    /// Every named action, in the file's order.
    pub fn actions(&self) -> impl Iterator<Item = &ActionDef> {
        self.actions.iter()
    }

    /// Every module feature: what a new account has enabled unless told otherwise.
    pub fn default_modules(&self) -> BTreeSet<FeatureName> {
        self.features.iter().filter(|f| f.module).map(|f| f.name.clone()).collect()
    }
}

#[cfg(test)]
mod tests;
