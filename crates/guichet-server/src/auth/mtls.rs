//! Client-certificate identities: the SAN URIs (SPIFFE ids) and DNS names that authenticate a
//! service under mTLS, and how they compare.

/// A client-certificate identity as guichet compares it: a URI (a SPIFFE id) exactly, since a
/// SPIFFE id's path is case-sensitive and its trust domain must be lower-case; a DNS name
/// lower-cased, since DNS names are case-insensitive. A URI and a DNS name never match each other.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Identity {
    /// A URI SAN, as written.
    Uri(String),
    /// A DNS name SAN, lower-cased.
    Dns(String),
}

impl Identity {
    /// A configured identity: a URI when it has a scheme (`spiffe://…`; a DNS name has no `:`),
    /// else a DNS name.
    pub(super) fn configured(id: &str) -> Self {
        if id.contains(':') { Self::Uri(id.to_owned()) } else { Self::Dns(id.to_ascii_lowercase()) }
    }
}

impl std::fmt::Display for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Uri(id) | Self::Dns(id) => f.write_str(id),
        }
    }
}

/// The SAN URIs and DNS names of a DER certificate.
pub(crate) fn certificate_identities(der: &[u8]) -> Vec<Identity> {
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(der) else {
        return Vec::new();
    };
    let Ok(Some(san)) = cert.subject_alternative_name() else {
        return Vec::new();
    };
    identities_of(&san.value.general_names)
}

/// The identities among subject alternative names: URIs as written, DNS names lower-cased.
pub(super) fn identities_of(names: &[x509_parser::extensions::GeneralName<'_>]) -> Vec<Identity> {
    use x509_parser::extensions::GeneralName;
    names
        .iter()
        .filter_map(|n| {
            // Only URIs (SPIFFE ids) and DNS names identify a service; other kinds are ignored.
            if let GeneralName::URI(u) = n {
                Some(Identity::Uri((*u).to_owned()))
            } else if let GeneralName::DNSName(d) = n {
                Some(Identity::Dns(d.to_ascii_lowercase()))
            } else {
                None
            }
        })
        .collect()
}
