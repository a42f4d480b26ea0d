//! Conversions between the v1 messages and the domain, in one place.
//!
//! Inbound, each request is destructured field by field (a new proto field breaks the build until
//! it is handled here) and validated into domain types; every invalid field is reported at once as
//! a [`FieldViolation`] naming it, so a client fixes a request in one round trip. Outbound, domain
//! records become messages with `From`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Display;

use guichet_domain as d;
use guichet_domain::FieldViolation;

use crate::v1 as pb;

mod contacts;
mod invitations;
pub use contacts::*;
pub use invitations::*;

mod access;
pub use access::*;

mod lookups;
pub use lookups::*;

/// The longest display name (accounts, roles, resources), in characters.
pub const MAX_NAME_CHARS: usize = 256;
/// The longest person name, in characters.
pub const MAX_PERSON_NAME_CHARS: usize = 100;
/// The longest free text (descriptions, reasons), in characters.
pub const MAX_TEXT_CHARS: usize = 1024;
/// The longest idempotency key.
pub const MAX_REQUEST_ID_CHARS: usize = 128;
/// The most roles in one membership (or invitation): the rule book's limit.
pub const MAX_ROLES: usize = d::MAX_ROLES;
/// The most resources in one restriction.
pub const MAX_RESTRICTED_RESOURCES: usize = 1000;

/// A request that did not validate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid request: {}", .0.iter().map(|v| format!("{}: {}", v.field, v.description)).collect::<Vec<_>>().join("; "))]
pub struct Invalid(pub Vec<FieldViolation>);

/// A management request: the body, who it is for, and its idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authored<T> {
    /// The person the calling service acts for; `None`: the service's own authority.
    pub actor: Option<d::UserId>,
    /// The idempotency key, when given.
    pub request_id: Option<String>,
    /// The validated body.
    pub body: T,
}

/// Raw paging fields, validated by the server (which owns the token format).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PageParams {
    /// `page_size` as sent.
    pub size: i32,
    /// `page_token` as sent.
    pub token: String,
}

/// Collects violations while validating a request.
#[derive(Debug, Default)]
struct Check(Vec<FieldViolation>);

impl Check {
    fn push(&mut self, field: impl Into<String>, description: impl Into<String>) {
        self.0.push(FieldViolation::new(field, description));
    }

    fn ok<T, E: Display>(&mut self, field: &str, r: Result<T, E>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                self.push(field, e.to_string());
                None
            }
        }
    }

    /// A required value: empty is "is required".
    fn required<T, E: Display>(&mut self, field: &str, s: &str, parse: impl Fn(&str) -> Result<T, E>) -> Option<T> {
        if s.is_empty() {
            self.push(field, "is required");
            None
        } else {
            self.ok(field, parse(s))
        }
    }

    /// An optional value: empty is `None`. The outer `None` means invalid.
    fn optional<T, E: Display>(
        &mut self,
        field: &str,
        s: &str,
        parse: impl Fn(&str) -> Result<T, E>,
    ) -> Option<Option<T>> {
        if s.is_empty() { Some(None) } else { self.ok(field, parse(s)).map(Some) }
    }

    fn actor(&mut self, s: &str) -> Option<Option<d::UserId>> {
        self.optional("actor_id", s, d::UserId::parse)
    }

    fn request_id(&mut self, s: &str) -> Option<Option<String>> {
        if s.is_empty() {
            return Some(None);
        }
        let first_ok = s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
        let rest_ok = s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':' | '@'));
        if s.len() > MAX_REQUEST_ID_CHARS || !first_ok || !rest_ok {
            self.push(
                "request_id",
                format!(
                    "must be 1 to {MAX_REQUEST_ID_CHARS} characters: a letter or digit, then letters, digits, '_', '-', '.', ':' or '@'"
                ),
            );
            return None;
        }
        Some(Some(s.to_owned()))
    }

    /// Display text: trimmed, `min..=max` characters, no control characters.
    fn text(&mut self, field: &str, s: &str, min: usize, max: usize) -> Option<String> {
        let t = s.trim();
        let n = t.chars().count();
        if n < min {
            self.push(
                field,
                if min == 1 { "is required".to_owned() } else { format!("must be at least {min} characters") },
            );
            None
        } else if n > max {
            self.push(field, format!("must be at most {max} characters"));
            None
        } else if t.chars().any(char::is_control) {
            self.push(field, "must not contain control characters");
            None
        } else {
            Some(t.to_owned())
        }
    }

    fn finish<T>(self, build: impl FnOnce() -> Option<T>) -> Result<T, Invalid> {
        if !self.0.is_empty() {
            return Err(Invalid(self.0));
        }
        build().ok_or_else(|| Invalid(vec![FieldViolation::new("request", "could not be read")]))
    }
}

fn level_in(check: &mut Check, field: &str, value: i32) -> Option<d::Level> {
    match pb::Level::try_from(value) {
        Ok(pb::Level::None) => Some(d::Level::None),
        Ok(pb::Level::View) => Some(d::Level::View),
        Ok(pb::Level::Full) => Some(d::Level::Full),
        Ok(pb::Level::Unspecified) | Err(_) => {
            check.push(field, "must be LEVEL_NONE, LEVEL_VIEW or LEVEL_FULL");
            None
        }
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

fn consistency_in(check: &mut Check, c: Option<pb::Consistency>) -> Option<d::Consistency> {
    use pb::consistency::Requirement;
    match c.and_then(|c| c.requirement) {
        None | Some(Requirement::MinimizeLatency(true)) => Some(d::Consistency::MinimizeLatency),
        Some(Requirement::FullyConsistent(true)) => Some(d::Consistency::FullyConsistent),
        Some(Requirement::MinimizeLatency(false)) => {
            check.push("consistency.minimize_latency", "must be true when set");
            None
        }
        Some(Requirement::FullyConsistent(false)) => {
            check.push("consistency.fully_consistent", "must be true when set");
            None
        }
        Some(Requirement::AtLeastAsFresh(token)) => check
            .ok("consistency.at_least_as_fresh", d::Revision::parse_token(&token))
            .map(d::Consistency::AtLeastAsFresh),
    }
}

fn ids_in<T, E: Display>(
    check: &mut Check,
    field: &str,
    values: &[String],
    max: usize,
    parse: impl Fn(&str) -> Result<T, E>,
) -> Option<Vec<T>> {
    if values.len() > max {
        check.push(field, format!("at most {max} values"));
        return None;
    }
    let mut out = Vec::with_capacity(values.len());
    let mut ok = true;
    for (i, v) in values.iter().enumerate() {
        match check.required(&format!("{field}[{i}]"), v, &parse) {
            Some(x) => out.push(x),
            None => ok = false,
        }
    }
    ok.then_some(out)
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

fn restriction_in(
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

fn settings_in(check: &mut Check, field: &str, s: pb::AccountSettings) -> Option<d::AccountSettings> {
    let pb::AccountSettings { invitation_ttl_days, requires_approval, email_policy } = s;
    let defaults = d::AccountSettings::default();
    let policy = match email_policy {
        None => defaults.email_policy.clone(),
        Some(pb::EmailPolicy { forbidden_domains, generic_addresses }) => {
            let generic = match pb::GenericAddressPolicy::try_from(generic_addresses) {
                Ok(pb::GenericAddressPolicy::Unspecified) => defaults.email_policy.generic_addresses,
                Ok(pb::GenericAddressPolicy::Allow) => d::GenericAddressPolicy::Allow,
                Ok(pb::GenericAddressPolicy::Flag) => d::GenericAddressPolicy::Flag,
                Ok(pb::GenericAddressPolicy::Reject) => d::GenericAddressPolicy::Reject,
                Err(_) => {
                    check.push(format!("{field}.email_policy.generic_addresses"), "unknown value");
                    return None;
                }
            };
            d::EmailPolicy { forbidden_domains, generic_addresses: generic }
        }
    };
    let settings = d::AccountSettings {
        invitation_ttl_days: if invitation_ttl_days == 0 { defaults.invitation_ttl_days } else { invitation_ttl_days },
        requires_approval,
        email_policy: policy,
    };
    match settings.validate() {
        Ok(()) => Some(settings),
        Err(violations) => {
            for v in violations {
                check.push(format!("{field}.{}", v.field), v.description);
            }
            None
        }
    }
}

fn modules_in(check: &mut Check, field: &str, values: &[String]) -> Option<BTreeSet<d::FeatureName>> {
    let mut ok = true;
    for (i, v) in values.iter().enumerate() {
        if values[..i].contains(v) {
            check.push(format!("{field}[{i}]"), format!("module {v} is listed twice"));
            ok = false;
        }
    }
    let modules = ids_in(check, field, values, 256, d::FeatureName::parse).map(|v| v.into_iter().collect());
    if ok { modules } else { None }
}

/// The most event types one ListEvents may filter on.
const MAX_EVENT_TYPES: usize = 50;

// ---------------------------------------------------------------------------------------------
// Levels

impl From<d::Level> for pb::Level {
    fn from(l: d::Level) -> Self {
        match l {
            d::Level::None => pb::Level::None,
            d::Level::View => pb::Level::View,
            d::Level::Full => pb::Level::Full,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Records out

fn ts(t: d::Timestamp) -> Option<prost_types::Timestamp> {
    let ms = t.as_millis();
    Some(prost_types::Timestamp {
        seconds: ms.div_euclid(1000),
        nanos: i32::try_from(ms.rem_euclid(1000) * 1_000_000).unwrap_or(0),
    })
}

fn grants_out(g: &d::Grants) -> Vec<pb::FeatureGrant> {
    g.iter().map(|(f, l)| pb::FeatureGrant { feature: f.to_string(), level: pb::Level::from(*l) as i32 }).collect()
}

impl From<d::AccountStatus> for pb::AccountStatus {
    fn from(s: d::AccountStatus) -> Self {
        match s {
            d::AccountStatus::Active => pb::AccountStatus::Active,
            d::AccountStatus::Suspended => pb::AccountStatus::Suspended,
        }
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

impl From<d::UserStatus> for pb::UserStatus {
    fn from(s: d::UserStatus) -> Self {
        match s {
            d::UserStatus::Active => pb::UserStatus::Active,
            d::UserStatus::Suspended => pb::UserStatus::Suspended,
        }
    }
}

impl From<&d::AccountSettings> for pb::AccountSettings {
    fn from(s: &d::AccountSettings) -> Self {
        pb::AccountSettings {
            invitation_ttl_days: s.invitation_ttl_days,
            requires_approval: s.requires_approval,
            email_policy: Some(pb::EmailPolicy {
                forbidden_domains: s.email_policy.forbidden_domains.clone(),
                generic_addresses: match s.email_policy.generic_addresses {
                    d::GenericAddressPolicy::Allow => pb::GenericAddressPolicy::Allow,
                    d::GenericAddressPolicy::Flag => pb::GenericAddressPolicy::Flag,
                    d::GenericAddressPolicy::Reject => pb::GenericAddressPolicy::Reject,
                } as i32,
            }),
        }
    }
}

impl From<&d::Account> for pb::Account {
    fn from(a: &d::Account) -> Self {
        pb::Account {
            id: a.id.to_string(),
            name: a.name.clone(),
            kind: a.kind.to_string(),
            parent_id: a.parent.as_ref().map(ToString::to_string).unwrap_or_default(),
            status: pb::AccountStatus::from(a.status) as i32,
            modules: a.modules.iter().map(ToString::to_string).collect(),
            settings: Some(pb::AccountSettings::from(&a.settings)),
            create_time: ts(a.created_at),
            update_time: ts(a.updated_at),
            suspension_reason: a.suspension_reason.clone().unwrap_or_default(),
        }
    }
}

impl From<&d::User> for pb::User {
    fn from(u: &d::User) -> Self {
        pb::User {
            id: u.id.to_string(),
            email: u.email.to_string(),
            given_name: u.given_name.clone(),
            family_name: u.family_name.clone(),
            phone: u.phone.as_ref().map(ToString::to_string).unwrap_or_default(),
            idp_subject: u.idp_subject.clone().unwrap_or_default(),
            status: pb::UserStatus::from(u.status) as i32,
            create_time: ts(u.created_at),
            update_time: ts(u.updated_at),
            claim_time: u.claimed_at.and_then(ts),
        }
    }
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
        }
    }
}

impl From<&d::Resource> for pb::Resource {
    fn from(r: &d::Resource) -> Self {
        pb::Resource {
            id: r.id.to_string(),
            account_id: r.account.to_string(),
            kind: r.kind.to_string(),
            name: r.name.clone(),
            create_time: ts(r.created_at),
        }
    }
}

impl From<&d::Delegation> for pb::Delegation {
    fn from(x: &d::Delegation) -> Self {
        pb::Delegation {
            id: x.id.to_string(),
            from_account_id: x.from_account.to_string(),
            to_account_id: x.to_account.to_string(),
            role: x.role.to_string(),
            created_by: x.created_by.as_ref().map(ToString::to_string).unwrap_or_default(),
            create_time: ts(x.created_at),
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

// ---------------------------------------------------------------------------------------------
// Management requests in

fn authored<T>(
    request_id: &str,
    actor_id: &str,
    build: impl FnOnce(&mut Check) -> Option<T>,
) -> Result<Authored<T>, Invalid> {
    let mut c = Check::default();
    let request_id = c.request_id(request_id);
    let actor = c.actor(actor_id);
    let body = build(&mut c);
    c.finish(|| Some(Authored { actor: actor?, request_id: request_id?, body: body? }))
}

fn reason_in(c: &mut Check, reason: &str) -> Option<Option<String>> {
    if reason.trim().is_empty() { Some(None) } else { c.text("reason", reason, 1, MAX_TEXT_CHARS).map(Some) }
}

/// ListAccounts filters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListAccounts {
    /// Only children of this account.
    pub parent: Option<d::AccountId>,
    /// Only this kind.
    pub kind: Option<d::AccountKind>,
    /// Only this status.
    pub status: Option<d::AccountStatus>,
    /// Paging.
    pub page: PageParams,
}

/// ListChildAccounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListChildren {
    /// The account.
    pub id: d::AccountId,
    /// All descendants, not only children.
    pub recursive: bool,
    /// Paging.
    pub page: PageParams,
}

/// An account change: rename, suspension reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountText {
    /// The account.
    pub id: d::AccountId,
    /// The new name or the reason; `None`: unchanged / none.
    pub text: Option<String>,
}

/// SetAccountModules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetModules {
    /// The account.
    pub id: d::AccountId,
    /// The enabled modules.
    pub modules: BTreeSet<d::FeatureName>,
}

/// UpdateAccountSettings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetSettings {
    /// The account.
    pub id: d::AccountId,
    /// The change of its settings.
    pub change: d::SettingsChange,
}

fn account_status_filter(c: &mut Check, v: i32) -> Option<Option<d::AccountStatus>> {
    match pb::AccountStatus::try_from(v) {
        Ok(pb::AccountStatus::Unspecified) => Some(None),
        Ok(pb::AccountStatus::Active) => Some(Some(d::AccountStatus::Active)),
        Ok(pb::AccountStatus::Suspended) => Some(Some(d::AccountStatus::Suspended)),
        Err(_) => {
            c.push("status", "unknown account status");
            None
        }
    }
}

impl TryFrom<pb::CreateAccountRequest> for Authored<d::NewAccount> {
    type Error = Invalid;
    fn try_from(r: pb::CreateAccountRequest) -> Result<Self, Invalid> {
        let pb::CreateAccountRequest { request_id, actor_id, id, name, kind, parent_id, modules, settings } = r;
        authored(&request_id, &actor_id, |c| {
            let id = c.optional("id", &id, d::AccountId::parse);
            let name = c.text("name", &name, 1, MAX_NAME_CHARS);
            let kind = c.required("kind", &kind, d::AccountKind::parse);
            let parent = c.optional("parent_id", &parent_id, d::AccountId::parse);
            let modules = if modules.is_empty() { Some(None) } else { modules_in(c, "modules", &modules).map(Some) };
            let settings = match settings {
                None => Some(None),
                Some(s) => settings_in(c, "settings", s).map(Some),
            };
            Some(d::NewAccount {
                id: id?,
                name: name?,
                kind: kind?,
                parent: parent?,
                modules: modules?,
                settings: settings?,
            })
        })
    }
}

impl TryFrom<pb::GetAccountRequest> for Authored<d::AccountId> {
    type Error = Invalid;
    fn try_from(r: pb::GetAccountRequest) -> Result<Self, Invalid> {
        let pb::GetAccountRequest { actor_id, id } = r;
        authored("", &actor_id, |c| c.required("id", &id, d::AccountId::parse))
    }
}

impl TryFrom<pb::ListAccountsRequest> for Authored<ListAccounts> {
    type Error = Invalid;
    fn try_from(r: pb::ListAccountsRequest) -> Result<Self, Invalid> {
        let pb::ListAccountsRequest { actor_id, parent_id, kind, status, page_size, page_token } = r;
        authored("", &actor_id, |c| {
            let parent = c.optional("parent_id", &parent_id, d::AccountId::parse);
            let kind = c.optional("kind", &kind, d::AccountKind::parse);
            let status = account_status_filter(c, status);
            Some(ListAccounts {
                parent: parent?,
                kind: kind?,
                status: status?,
                page: PageParams { size: page_size, token: page_token },
            })
        })
    }
}

impl TryFrom<pb::ListChildAccountsRequest> for Authored<ListChildren> {
    type Error = Invalid;
    fn try_from(r: pb::ListChildAccountsRequest) -> Result<Self, Invalid> {
        let pb::ListChildAccountsRequest { actor_id, id, recursive, page_size, page_token } = r;
        authored("", &actor_id, |c| {
            let id = c.required("id", &id, d::AccountId::parse);
            Some(ListChildren { id: id?, recursive, page: PageParams { size: page_size, token: page_token } })
        })
    }
}

impl TryFrom<pb::UpdateAccountRequest> for Authored<AccountText> {
    type Error = Invalid;
    fn try_from(r: pb::UpdateAccountRequest) -> Result<Self, Invalid> {
        let pb::UpdateAccountRequest { request_id, actor_id, id, name } = r;
        authored(&request_id, &actor_id, |c| {
            let id = c.required("id", &id, d::AccountId::parse);
            let name = if name.is_empty() { Some(None) } else { c.text("name", &name, 1, MAX_NAME_CHARS).map(Some) };
            Some(AccountText { id: id?, text: name? })
        })
    }
}

impl TryFrom<pb::SuspendAccountRequest> for Authored<AccountText> {
    type Error = Invalid;
    fn try_from(r: pb::SuspendAccountRequest) -> Result<Self, Invalid> {
        let pb::SuspendAccountRequest { request_id, actor_id, id, reason } = r;
        authored(&request_id, &actor_id, |c| {
            let id = c.required("id", &id, d::AccountId::parse);
            let reason = reason_in(c, &reason);
            Some(AccountText { id: id?, text: reason? })
        })
    }
}

impl TryFrom<pb::ReactivateAccountRequest> for Authored<d::AccountId> {
    type Error = Invalid;
    fn try_from(r: pb::ReactivateAccountRequest) -> Result<Self, Invalid> {
        let pb::ReactivateAccountRequest { request_id, actor_id, id } = r;
        authored(&request_id, &actor_id, |c| c.required("id", &id, d::AccountId::parse))
    }
}

impl TryFrom<pb::SetAccountModulesRequest> for Authored<SetModules> {
    type Error = Invalid;
    fn try_from(r: pb::SetAccountModulesRequest) -> Result<Self, Invalid> {
        let pb::SetAccountModulesRequest { request_id, actor_id, account_id, modules } = r;
        authored(&request_id, &actor_id, |c| {
            let id = c.required("account_id", &account_id, d::AccountId::parse);
            let modules = modules_in(c, "modules", &modules);
            Some(SetModules { id: id?, modules: modules? })
        })
    }
}

impl TryFrom<pb::UpdateAccountSettingsRequest> for Authored<SetSettings> {
    type Error = Invalid;
    fn try_from(r: pb::UpdateAccountSettingsRequest) -> Result<Self, Invalid> {
        let pb::UpdateAccountSettingsRequest { request_id, actor_id, account_id, settings } = r;
        authored(&request_id, &actor_id, |c| {
            let id = c.required("account_id", &account_id, d::AccountId::parse);
            let change = match settings {
                None => {
                    c.push("settings", "is required");
                    None
                }
                Some(s) => settings_change_in(c, "settings", s),
            };
            Some(SetSettings { id: id?, change: change? })
        })
    }
}

/// UpdateAccountSettings' settings: a change, what is left out (`invitation_ttl_days` 0, no
/// `email_policy`, GENERIC_ADDRESS_POLICY_UNSPECIFIED) keeping its current value. The fields given
/// are validated as [`settings_in`] does.
fn settings_change_in(check: &mut Check, field: &str, s: pb::AccountSettings) -> Option<d::SettingsChange> {
    let given_ttl = (s.invitation_ttl_days != 0).then_some(s.invitation_ttl_days);
    let given_generic =
        s.email_policy.as_ref().and_then(|p| match pb::GenericAddressPolicy::try_from(p.generic_addresses) {
            Ok(pb::GenericAddressPolicy::Unspecified) | Err(_) => None,
            Ok(pb::GenericAddressPolicy::Allow) => Some(d::GenericAddressPolicy::Allow),
            Ok(pb::GenericAddressPolicy::Flag) => Some(d::GenericAddressPolicy::Flag),
            Ok(pb::GenericAddressPolicy::Reject) => Some(d::GenericAddressPolicy::Reject),
        });
    let has_policy = s.email_policy.is_some();
    let full = settings_in(check, field, s)?;
    Some(d::SettingsChange {
        invitation_ttl_days: given_ttl,
        requires_approval: full.requires_approval,
        email_policy: has_policy.then_some(d::EmailPolicyChange {
            forbidden_domains: full.email_policy.forbidden_domains,
            generic_addresses: given_generic,
        }),
    })
}

// Users

/// CreateUser: the user, and the account whose policy applies (where an actor needs users:full).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateUser {
    /// The account, when given.
    pub account: Option<d::AccountId>,
    /// The user.
    pub user: d::NewUser,
}

/// UpdateUser: `None` leaves a field unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateUser {
    /// The user.
    pub id: d::UserId,
    /// New given name.
    pub given_name: Option<String>,
    /// New family name.
    pub family_name: Option<String>,
    /// New phone.
    pub phone: Option<d::Phone>,
    /// New identity-provider subject.
    pub idp_subject: Option<String>,
}

/// ListMyAccounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MyAccountsQuery {
    /// The user.
    pub user: d::UserId,
    /// Paging.
    pub page: PageParams,
}

fn optional_text(c: &mut Check, field: &str, s: &str, max: usize) -> Option<Option<String>> {
    if s.trim().is_empty() { Some(None) } else { c.text(field, s, 1, max).map(Some) }
}

impl TryFrom<pb::CreateUserRequest> for Authored<CreateUser> {
    type Error = Invalid;
    fn try_from(r: pb::CreateUserRequest) -> Result<Self, Invalid> {
        let pb::CreateUserRequest {
            request_id,
            actor_id,
            id,
            email,
            given_name,
            family_name,
            phone,
            idp_subject,
            account_id,
        } = r;
        authored(&request_id, &actor_id, |c| {
            let id = c.optional("id", &id, d::UserId::parse);
            let email = c.required("email", &email, d::Email::parse);
            let given = optional_text(c, "given_name", &given_name, MAX_PERSON_NAME_CHARS);
            let family = optional_text(c, "family_name", &family_name, MAX_PERSON_NAME_CHARS);
            let phone = c.optional("phone", &phone, d::Phone::parse);
            let idp = optional_text(c, "idp_subject", &idp_subject, 255);
            let account = c.optional("account_id", &account_id, d::AccountId::parse);
            Some(CreateUser {
                account: account?,
                user: d::NewUser {
                    id: id?,
                    email: email?,
                    given_name: given?.unwrap_or_default(),
                    family_name: family?.unwrap_or_default(),
                    phone: phone?,
                    idp_subject: idp?,
                },
            })
        })
    }
}

impl TryFrom<pb::GetUserRequest> for Authored<d::UserId> {
    type Error = Invalid;
    fn try_from(r: pb::GetUserRequest) -> Result<Self, Invalid> {
        let pb::GetUserRequest { actor_id, id } = r;
        authored("", &actor_id, |c| c.required("id", &id, d::UserId::parse))
    }
}

impl TryFrom<pb::FindUserByEmailRequest> for Authored<d::Email> {
    type Error = Invalid;
    fn try_from(r: pb::FindUserByEmailRequest) -> Result<Self, Invalid> {
        let pb::FindUserByEmailRequest { actor_id, email } = r;
        authored("", &actor_id, |c| c.required("email", &email, d::Email::parse))
    }
}

impl TryFrom<pb::UpdateUserRequest> for Authored<UpdateUser> {
    type Error = Invalid;
    fn try_from(r: pb::UpdateUserRequest) -> Result<Self, Invalid> {
        let pb::UpdateUserRequest { request_id, actor_id, id, given_name, family_name, phone, idp_subject } = r;
        authored(&request_id, &actor_id, |c| {
            let id = c.required("id", &id, d::UserId::parse);
            let given = optional_text(c, "given_name", &given_name, MAX_PERSON_NAME_CHARS);
            let family = optional_text(c, "family_name", &family_name, MAX_PERSON_NAME_CHARS);
            let phone = c.optional("phone", &phone, d::Phone::parse);
            let idp = optional_text(c, "idp_subject", &idp_subject, 255);
            Some(UpdateUser { id: id?, given_name: given?, family_name: family?, phone: phone?, idp_subject: idp? })
        })
    }
}

impl TryFrom<pb::SuspendUserRequest> for Authored<d::UserId> {
    type Error = Invalid;
    fn try_from(r: pb::SuspendUserRequest) -> Result<Self, Invalid> {
        let pb::SuspendUserRequest { request_id, actor_id, id, reason } = r;
        authored(&request_id, &actor_id, |c| {
            let id = c.required("id", &id, d::UserId::parse);
            reason_in(c, &reason)?;
            id
        })
    }
}

impl TryFrom<pb::ReactivateUserRequest> for Authored<d::UserId> {
    type Error = Invalid;
    fn try_from(r: pb::ReactivateUserRequest) -> Result<Self, Invalid> {
        let pb::ReactivateUserRequest { request_id, actor_id, id } = r;
        authored(&request_id, &actor_id, |c| c.required("id", &id, d::UserId::parse))
    }
}

impl TryFrom<pb::ListMyAccountsRequest> for MyAccountsQuery {
    type Error = Invalid;
    fn try_from(r: pb::ListMyAccountsRequest) -> Result<Self, Invalid> {
        let pb::ListMyAccountsRequest { user_id, page_size, page_token } = r;
        let mut c = Check::default();
        let user = c.required("user_id", &user_id, d::UserId::parse);
        c.finish(|| Some(Self { user: user?, page: PageParams { size: page_size, token: page_token } }))
    }
}

// Roles

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

#[allow(clippy::too_many_arguments)]
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
        } = r;
        authored(&request_id, &actor_id, |c| {
            role_definition(c, &account_id, &name, &display_name, &description, grants, descendant_grants)
        })
    }
}

// Memberships

/// ListMemberships filters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListMemberships {
    /// Only in this account.
    pub account: Option<d::AccountId>,
    /// Only of this user.
    pub user: Option<d::UserId>,
    /// Only with this status.
    pub status: Option<d::MembershipStatus>,
    /// Paging.
    pub page: PageParams,
}

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
        let pb::CreateMembershipRequest { request_id, actor_id, id, account_id, user_id, roles, restriction } = r;
        authored(&request_id, &actor_id, |c| {
            let id = c.optional("id", &id, d::MembershipId::parse);
            let account = c.required("account_id", &account_id, d::AccountId::parse);
            let user = c.required("user_id", &user_id, d::UserId::parse);
            let roles = roles_in(c, "roles", &roles);
            let restriction = restriction_in(c, "restriction", restriction);
            Some(d::NewMembership { id: id?, account: account?, user: user?, roles: roles?, restriction: restriction? })
        })
    }
}

impl TryFrom<pb::GetMembershipRequest> for Authored<d::MembershipId> {
    type Error = Invalid;
    fn try_from(r: pb::GetMembershipRequest) -> Result<Self, Invalid> {
        let pb::GetMembershipRequest { actor_id, id } = r;
        authored("", &actor_id, |c| c.required("id", &id, d::MembershipId::parse))
    }
}

impl TryFrom<pb::ListMembershipsRequest> for Authored<ListMemberships> {
    type Error = Invalid;
    fn try_from(r: pb::ListMembershipsRequest) -> Result<Self, Invalid> {
        let pb::ListMembershipsRequest { actor_id, account_id, user_id, status, page_size, page_token } = r;
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
            Some(ListMemberships {
                account: account?,
                user: user?,
                status: status?,
                page: PageParams { size: page_size, token: page_token },
            })
        })
    }
}

impl TryFrom<pb::AssignRoleRequest> for Authored<MembershipRole> {
    type Error = Invalid;
    fn try_from(r: pb::AssignRoleRequest) -> Result<Self, Invalid> {
        let pb::AssignRoleRequest { request_id, actor_id, membership_id, role } = r;
        authored(&request_id, &actor_id, |c| {
            let id = c.required("membership_id", &membership_id, d::MembershipId::parse);
            let role = c.required("role", &role, d::RoleName::parse);
            Some(MembershipRole { id: id?, role: role? })
        })
    }
}

impl TryFrom<pb::UnassignRoleRequest> for Authored<MembershipRole> {
    type Error = Invalid;
    fn try_from(r: pb::UnassignRoleRequest) -> Result<Self, Invalid> {
        let pb::UnassignRoleRequest { request_id, actor_id, membership_id, role } = r;
        authored(&request_id, &actor_id, |c| {
            let id = c.required("membership_id", &membership_id, d::MembershipId::parse);
            let role = c.required("role", &role, d::RoleName::parse);
            Some(MembershipRole { id: id?, role: role? })
        })
    }
}

impl TryFrom<pb::SetMembershipRolesRequest> for Authored<MembershipRoles> {
    type Error = Invalid;
    fn try_from(r: pb::SetMembershipRolesRequest) -> Result<Self, Invalid> {
        let pb::SetMembershipRolesRequest { request_id, actor_id, membership_id, roles } = r;
        authored(&request_id, &actor_id, |c| {
            let id = c.required("membership_id", &membership_id, d::MembershipId::parse);
            let roles = roles_in(c, "roles", &roles);
            Some(MembershipRoles { id: id?, roles: roles? })
        })
    }
}

impl TryFrom<pb::SetResourceRestrictionRequest> for Authored<MembershipRestriction> {
    type Error = Invalid;
    fn try_from(r: pb::SetResourceRestrictionRequest) -> Result<Self, Invalid> {
        let pb::SetResourceRestrictionRequest { request_id, actor_id, membership_id, restriction } = r;
        authored(&request_id, &actor_id, |c| {
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
        let pb::SuspendMembershipRequest { request_id, actor_id, membership_id, reason } = r;
        authored(&request_id, &actor_id, |c| {
            let id = c.required("membership_id", &membership_id, d::MembershipId::parse);
            reason_in(c, &reason)?;
            id
        })
    }
}

impl TryFrom<pb::ReactivateMembershipRequest> for Authored<d::MembershipId> {
    type Error = Invalid;
    fn try_from(r: pb::ReactivateMembershipRequest) -> Result<Self, Invalid> {
        let pb::ReactivateMembershipRequest { request_id, actor_id, membership_id } = r;
        authored(&request_id, &actor_id, |c| c.required("membership_id", &membership_id, d::MembershipId::parse))
    }
}

impl TryFrom<pb::DeleteMembershipRequest> for Authored<d::MembershipId> {
    type Error = Invalid;
    fn try_from(r: pb::DeleteMembershipRequest) -> Result<Self, Invalid> {
        let pb::DeleteMembershipRequest { request_id, actor_id, membership_id } = r;
        authored(&request_id, &actor_id, |c| c.required("membership_id", &membership_id, d::MembershipId::parse))
    }
}

// Resources

/// ListResources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListResources {
    /// The account.
    pub account: d::AccountId,
    /// Only this kind.
    pub kind: Option<d::FeatureName>,
    /// Paging.
    pub page: PageParams,
}

impl TryFrom<pb::CreateResourceRequest> for Authored<d::NewResource> {
    type Error = Invalid;
    fn try_from(r: pb::CreateResourceRequest) -> Result<Self, Invalid> {
        let pb::CreateResourceRequest { request_id, actor_id, id, account_id, kind, name } = r;
        authored(&request_id, &actor_id, |c| {
            let id = c.optional("id", &id, d::ResourceId::parse);
            let account = c.required("account_id", &account_id, d::AccountId::parse);
            let kind = if kind.is_empty() {
                d::FeatureName::parse("folder").ok()
            } else {
                c.ok("kind", d::FeatureName::parse(&kind))
            };
            let name = c.text("name", &name, 1, MAX_NAME_CHARS);
            Some(d::NewResource { id: id?, account: account?, kind: kind?, name: name? })
        })
    }
}

impl TryFrom<pb::GetResourceRequest> for Authored<d::ResourceId> {
    type Error = Invalid;
    fn try_from(r: pb::GetResourceRequest) -> Result<Self, Invalid> {
        let pb::GetResourceRequest { actor_id, id } = r;
        authored("", &actor_id, |c| c.required("id", &id, d::ResourceId::parse))
    }
}

impl TryFrom<pb::ListResourcesRequest> for Authored<ListResources> {
    type Error = Invalid;
    fn try_from(r: pb::ListResourcesRequest) -> Result<Self, Invalid> {
        let pb::ListResourcesRequest { actor_id, account_id, kind, page_size, page_token } = r;
        authored("", &actor_id, |c| {
            let account = c.required("account_id", &account_id, d::AccountId::parse);
            let kind = c.optional("kind", &kind, d::FeatureName::parse);
            Some(ListResources {
                account: account?,
                kind: kind?,
                page: PageParams { size: page_size, token: page_token },
            })
        })
    }
}

impl TryFrom<pb::DeleteResourceRequest> for Authored<d::ResourceId> {
    type Error = Invalid;
    fn try_from(r: pb::DeleteResourceRequest) -> Result<Self, Invalid> {
        let pb::DeleteResourceRequest { request_id, actor_id, id } = r;
        authored(&request_id, &actor_id, |c| c.required("id", &id, d::ResourceId::parse))
    }
}

// Delegations

/// ListDelegations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListDelegations {
    /// From this account.
    pub from: Option<d::AccountId>,
    /// To this account.
    pub to: Option<d::AccountId>,
    /// Paging.
    pub page: PageParams,
}

impl TryFrom<pb::CreateDelegationRequest> for Authored<d::NewDelegation> {
    type Error = Invalid;
    fn try_from(r: pb::CreateDelegationRequest) -> Result<Self, Invalid> {
        let pb::CreateDelegationRequest { request_id, actor_id, id, from_account_id, to_account_id, role } = r;
        authored(&request_id, &actor_id, |c| {
            let id = c.optional("id", &id, d::DelegationId::parse);
            let from = c.required("from_account_id", &from_account_id, d::AccountId::parse);
            let to = c.required("to_account_id", &to_account_id, d::AccountId::parse);
            let role = c.required("role", &role, d::RoleName::parse);
            Some(d::NewDelegation { id: id?, from_account: from?, to_account: to?, role: role? })
        })
    }
}

impl TryFrom<pb::GetDelegationRequest> for Authored<d::DelegationId> {
    type Error = Invalid;
    fn try_from(r: pb::GetDelegationRequest) -> Result<Self, Invalid> {
        let pb::GetDelegationRequest { actor_id, id } = r;
        authored("", &actor_id, |c| c.required("id", &id, d::DelegationId::parse))
    }
}

impl TryFrom<pb::ListDelegationsRequest> for Authored<ListDelegations> {
    type Error = Invalid;
    fn try_from(r: pb::ListDelegationsRequest) -> Result<Self, Invalid> {
        let pb::ListDelegationsRequest { actor_id, from_account_id, to_account_id, page_size, page_token } = r;
        authored("", &actor_id, |c| {
            let from = c.optional("from_account_id", &from_account_id, d::AccountId::parse);
            let to = c.optional("to_account_id", &to_account_id, d::AccountId::parse);
            if from_account_id.is_empty() && to_account_id.is_empty() {
                c.push("from_account_id", "from_account_id or to_account_id is required");
            }
            Some(ListDelegations { from: from?, to: to?, page: PageParams { size: page_size, token: page_token } })
        })
    }
}

impl TryFrom<pb::DeleteDelegationRequest> for Authored<d::DelegationId> {
    type Error = Invalid;
    fn try_from(r: pb::DeleteDelegationRequest) -> Result<Self, Invalid> {
        let pb::DeleteDelegationRequest { request_id, actor_id, id } = r;
        authored(&request_id, &actor_id, |c| c.required("id", &id, d::DelegationId::parse))
    }
}

// Events

/// ListEvents filters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListEvents {
    /// The account.
    pub account: d::AccountId,
    /// Only events made for this person.
    pub by_actor: Option<d::UserId>,
    /// Only these types.
    pub types: Vec<String>,
    /// At or after.
    pub since: Option<d::Timestamp>,
    /// Before.
    pub until: Option<d::Timestamp>,
    /// Paging.
    pub page: PageParams,
}

fn time_in(c: &mut Check, field: &str, t: Option<prost_types::Timestamp>) -> Option<Option<d::Timestamp>> {
    let Some(t) = t else { return Some(None) };
    if !(0..1_000_000_000).contains(&t.nanos) || !(0..=253_402_300_799).contains(&t.seconds) {
        c.push(field, "must be a valid time between 1970 and 9999");
        return None;
    }
    Some(Some(d::Timestamp::from_millis(t.seconds * 1000 + i64::from(t.nanos / 1_000_000))))
}

impl TryFrom<pb::ListEventsRequest> for Authored<ListEvents> {
    type Error = Invalid;
    fn try_from(r: pb::ListEventsRequest) -> Result<Self, Invalid> {
        let pb::ListEventsRequest {
            actor_id,
            account_id,
            types,
            by_actor_id,
            start_time,
            end_time,
            page_size,
            page_token,
        } = r;
        authored("", &actor_id, |c| {
            let account = c.required("account_id", &account_id, d::AccountId::parse);
            let by_actor = c.optional("by_actor_id", &by_actor_id, d::UserId::parse);
            let mut ok = types.len() <= MAX_EVENT_TYPES;
            if !ok {
                c.push("types", format!("at most {MAX_EVENT_TYPES} types"));
            }
            for (i, t) in types.iter().enumerate() {
                let valid = !t.is_empty()
                    && t.len() <= 64
                    && t.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'.');
                if !valid {
                    c.push(format!("types[{i}]"), "an event type such as membership.created");
                    ok = false;
                }
            }
            let since = time_in(c, "start_time", start_time);
            let until = time_in(c, "end_time", end_time);
            if let (Some(Some(s)), Some(Some(u))) = (since, until)
                && s > u
            {
                c.push("end_time", "must not be before start_time");
            }
            Some(ListEvents {
                account: account?,
                by_actor: by_actor?,
                types: if ok { types } else { return None },
                since: since?,
                until: until?,
                page: PageParams { size: page_size, token: page_token },
            })
        })
    }
}

/// Where a WatchEvents stream starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchFrom {
    /// After this revision.
    After(d::Revision),
    /// After the latest revision when the call arrives.
    Now,
}

/// A WatchEvents request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchEvents {
    /// The cursor.
    pub from: WatchFrom,
    /// Only this account's events.
    pub account: Option<d::AccountId>,
}

impl TryFrom<pb::WatchEventsRequest> for Authored<WatchEvents> {
    type Error = Invalid;
    fn try_from(r: pb::WatchEventsRequest) -> Result<Self, Invalid> {
        let pb::WatchEventsRequest { actor_id, after_revision, account_id } = r;
        authored("", &actor_id, |c| {
            let from = if after_revision.is_empty() {
                Some(WatchFrom::Now)
            } else {
                c.ok("after_revision", d::Revision::parse_token(&after_revision)).map(WatchFrom::After)
            };
            let account = c.optional("account_id", &account_id, d::AccountId::parse);
            Some(WatchEvents { from: from?, account: account? })
        })
    }
}

impl From<&d::Event> for pb::Event {
    fn from(e: &d::Event) -> Self {
        pb::Event {
            id: e.id.clone(),
            account_id: e.account.as_ref().map(ToString::to_string).unwrap_or_default(),
            actor_id: e.actor.as_ref().map(ToString::to_string).unwrap_or_default(),
            service: e.service.clone().unwrap_or_default(),
            r#type: e.kind.clone(),
            target_id: e.target.clone(),
            before_json: e.before.clone().unwrap_or_default(),
            after_json: e.after.clone().unwrap_or_default(),
            create_time: ts(e.created_at),
            trace_id: e.trace_id.clone().unwrap_or_default(),
            revision: e.revision.token(),
            request_id: e.request_id.clone().unwrap_or_default(),
            touched_ids: e.touched.clone(),
        }
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

    #[test]
    fn timestamps_keep_milliseconds() {
        let t = ts(d::Timestamp::from_millis(1_700_000_000_123)).unwrap();
        assert_eq!((t.seconds, t.nanos), (1_700_000_000, 123_000_000));
    }

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
    fn an_approval_carries_the_version_reviewed() {
        let approve = |version: &str| {
            Authored::<ApproveMembership>::try_from(pb::ApproveMembershipRequest {
                actor_id: "paul".into(),
                membership_id: "m1".into(),
                version: version.into(),
                ..Default::default()
            })
        };
        assert_eq!(approve("0123456789abcdef").unwrap().body.version.as_deref(), Some("0123456789abcdef"));
        assert_eq!(approve("").unwrap().body.version, None);
        for bad in ["0123456789ABCDEF", "0123456789abcde", "0123456789abcdef0", "0123456789abcdeg"] {
            let Invalid(v) = approve(bad).unwrap_err();
            assert_eq!(v[0].field, "version", "{bad}");
        }
        let reject = Authored::<RejectMembership>::try_from(pb::RejectMembershipRequest {
            actor_id: "paul".into(),
            membership_id: "m1".into(),
            reason: "non".into(),
            version: "fedcba9876543210".into(),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(reject.body.version.as_deref(), Some("fedcba9876543210"));
        // The id alone, for callers that only need it.
        let id = Authored::<d::MembershipId>::try_from(pb::ApproveMembershipRequest {
            membership_id: "m1".into(),
            version: "nope".into(),
            ..Default::default()
        });
        assert!(id.is_err(), "the version is validated there too");
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
        };
        let out = pb::Membership::from(&m);
        assert_eq!((out.version, out.created_by.as_str()), (m.version(), "lucie"));
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
