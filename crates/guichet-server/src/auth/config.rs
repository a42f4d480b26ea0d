//! The `[[services]]` entries: a calling service, its scopes and its credentials, and why a set of
//! entries cannot be used.

use serde::{Deserialize, Serialize};

use super::{Identity, Scope};

/// One `[[services]]` entry: a calling service, its scopes and its credentials.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    /// The service's name, recorded on audit events.
    pub name: String,
    /// `["check"]`, `["admin"]` or both.
    pub scopes: Vec<Scope>,
    /// Hex SHA-256 of the service's bearer token (`printf %s "$TOKEN" | sha256sum`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_sha256: Option<String>,
    /// Client-certificate identities (SAN URIs such as `spiffe://cluster.local/ns/shop/sa/api`, or
    /// DNS names) that authenticate as this service under mTLS. A URI (anything with a `:`) is
    /// compared exactly, a DNS name case-insensitively.
    #[serde(default)]
    pub identities: Vec<String>,
}

/// Why the `[[services]]` configuration cannot be used: `(field, description)`.
pub(crate) fn validate(services: &[ServiceConfig]) -> Result<(), (&'static str, String)> {
    let mut names = std::collections::BTreeSet::new();
    let mut tokens = std::collections::BTreeSet::new();
    let mut identities = std::collections::BTreeMap::new();
    for s in services {
        if s.name.trim().is_empty() || s.name.len() > 128 {
            return Err(("services.name", "must be 1 to 128 characters".to_owned()));
        }
        if !names.insert(s.name.as_str()) {
            return Err(("services.name", format!("{} is configured twice", s.name)));
        }
        if s.scopes.is_empty() {
            return Err(("services.scopes", format!("{}: give at least one of \"check\", \"admin\"", s.name)));
        }
        if s.token_sha256.is_none() && s.identities.is_empty() {
            return Err((
                "services",
                format!("{}: set token_sha256 or identities, or it can never authenticate", s.name),
            ));
        }
        if let Some(hex) = &s.token_sha256 {
            let Some(digest) = decode_sha256(hex) else {
                return Err((
                    "services.token_sha256",
                    format!("{}: must be 64 hexadecimal characters (the SHA-256 of the token)", s.name),
                ));
            };
            if !tokens.insert(digest) {
                return Err(("services.token_sha256", format!("{}: the same token is given to two services", s.name)));
            }
        }
        for id in &s.identities {
            if id.trim().is_empty() {
                return Err(("services.identities", format!("{}: an identity is empty", s.name)));
            }
            if let Some(other) = identities.insert(Identity::configured(id), s.name.as_str()) {
                return Err(("services.identities", format!("{id} is given to both {other} and {}", s.name)));
            }
        }
    }
    Ok(())
}

/// The 32 bytes of a hex SHA-256 (a configured `token_sha256`); `None` when it is not one.
pub(super) fn decode_sha256(hex: &str) -> Option<[u8; 32]> {
    let hex = hex.trim().as_bytes();
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in hex.chunks(2).enumerate() {
        let s = std::str::from_utf8(pair).ok()?;
        *out.get_mut(i)? = u8::from_str_radix(s, 16).ok()?;
    }
    Some(out)
}
