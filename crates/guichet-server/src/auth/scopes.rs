//! Who may call what: the scopes of a service and the scopes each RPC path needs.

use serde::{Deserialize, Serialize};

/// What a service may call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// The read path: `guichet.v1.AccessService`.
    Check,
    /// The management services.
    Admin,
}

impl Scope {
    /// The scope's configuration name.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Check => "check",
            Scope::Admin => "admin",
        }
    }
}

/// The scopes an RPC path (`/package.Service/Method`) accepts: a caller needs any one of them;
/// none at all for health and reflection. The one table of who may call what, as `common.proto`
/// documents it (CALLERS AND ACTORS); an unknown path needs `admin`.
pub(super) fn required_scopes(path: &str) -> &'static [Scope] {
    // The rule book (`guichet_domain::Rpc`) says which scope each RPC of the API needs.
    if let Some(rpc) = guichet_domain::Rpc::from_path(path) {
        return scopes_of(rpc);
    }
    let path = path.trim_start_matches('/');
    let service = path.split_once('/').map_or(path, |(s, _)| s);
    match service {
        "grpc.health.v1.Health"
        | "grpc.reflection.v1.ServerReflection"
        | "grpc.reflection.v1alpha.ServerReflection" => &[],
        // A path the API does not declare: it will be UNIMPLEMENTED, after authentication.
        _ => &[Scope::Admin],
    }
}

/// The scopes that let a service call `rpc`, as the rule book says.
pub(crate) fn scopes_of(rpc: guichet_domain::Rpc) -> &'static [Scope] {
    match rpc.scope() {
        guichet_domain::Scope::Check => &[Scope::Check],
        guichet_domain::Scope::Admin => &[Scope::Admin],
        guichet_domain::Scope::CheckOrAdmin => &[Scope::Check, Scope::Admin],
    }
}
