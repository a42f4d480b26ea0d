//! guichet's v1 gRPC API, as Rust.
//!
//! This crate owns:
//! - the code generated from `proto/guichet/v1/*.proto` by tonic-prost-build, in [`v1`]: the
//!   messages, a server trait and a client per service (e.g.
//!   [`v1::access_service_server::AccessService`], [`v1::access_service_client::AccessServiceClient`]);
//! - [`FILE_DESCRIPTOR_SET`], the encoded descriptors of the API (with the `google/protobuf`
//!   imports and the proto comments) that the server registers with tonic-reflection, so that
//!   `grpcurl list` and `grpcurl describe` work;
//! - the proto <-> domain conversions ([`convert`]), which is why it depends on `guichet-domain`.
//!
//! It must never depend on `guichet-store` or `guichet-server`: they depend on it.

/// The `guichet.v1` package: every message, enum, server trait and client of the API. The proto
/// files document each item, field and RPC (meaning, limits, errors); their comments are copied
/// here as rustdoc.
#[allow(missing_docs, unreachable_pub, clippy::all)]
pub mod v1 {
    tonic::include_proto!("guichet.v1");
}

pub mod convert;

/// The encoded `google.protobuf.FileDescriptorSet` of the v1 API and its imports, for server
/// reflection (`tonic_reflection::server::Builder::register_encoded_file_descriptor_set`).
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("guichet_descriptor");

#[cfg(test)]
mod tests {
    use super::FILE_DESCRIPTOR_SET;
    use prost::Message;
    use prost_types::FileDescriptorSet;
    use std::collections::BTreeMap;

    /// Every service of the v1 API, with its methods.
    const SERVICES: &[(&str, &[&str])] = &[
        (
            "AccessService",
            &[
                "CheckAccess",
                "CheckAccessBatch",
                "ExplainAccess",
                "ListAccessibleAccounts",
                "ListAccessibleResources",
                "ListAuthorizedSubjects",
            ],
        ),
        (
            "AccountService",
            &[
                "CreateAccount",
                "GetAccount",
                "ListAccounts",
                "ListChildAccounts",
                "UpdateAccount",
                "SuspendAccount",
                "ReactivateAccount",
                "SetAccountModules",
                "UpdateAccountSettings",
            ],
        ),
        (
            "UserService",
            &[
                "CreateUser",
                "GetUser",
                "FindUserByEmail",
                "UpdateUser",
                "SuspendUser",
                "ReactivateUser",
                "ListMyAccounts",
            ],
        ),
        ("RoleService", &["ListRoles", "GetRole", "CreateRole", "UpdateRole", "DeleteRole", "ListCatalog"]),
        (
            "MembershipService",
            &[
                "CreateMembership",
                "GetMembership",
                "ListMemberships",
                "AssignRole",
                "UnassignRole",
                "SetMembershipRoles",
                "SetResourceRestriction",
                "SuspendMembership",
                "ReactivateMembership",
                "DeleteMembership",
            ],
        ),
        ("ResourceService", &["CreateResource", "GetResource", "ListResources", "DeleteResource"]),
        ("DelegationService", &["CreateDelegation", "GetDelegation", "ListDelegations", "DeleteDelegation"]),
        (
            "InvitationService",
            &[
                "CreateInvitation",
                "GetInvitation",
                "ListInvitations",
                "ResendInvitation",
                "RevokeInvitation",
                "AcceptInvitation",
            ],
        ),
        ("ApprovalService", &["ListPendingApprovals", "ApproveMembership", "RejectMembership"]),
        (
            "ContactService",
            &[
                "CreateContact",
                "GetContact",
                "ListContacts",
                "UpdateContact",
                "DeleteContact",
                "GetCommunicationOrder",
                "SetCommunicationOrder",
            ],
        ),
        ("EventService", &["ListEvents", "WatchEvents"]),
    ];

    fn decode() -> FileDescriptorSet {
        FileDescriptorSet::decode(FILE_DESCRIPTOR_SET).expect("the descriptor set decodes")
    }

    #[test]
    fn every_service_is_described_with_exactly_its_methods() {
        let set = decode();
        let described: BTreeMap<String, Vec<String>> = set
            .file
            .iter()
            .filter(|file| file.package() == "guichet.v1")
            .flat_map(|file| &file.service)
            .map(|service| {
                let methods = service.method.iter().map(|m| m.name().to_owned()).collect();
                (service.name().to_owned(), methods)
            })
            .collect();

        let expected: BTreeMap<String, Vec<String>> = SERVICES
            .iter()
            .map(|(service, methods)| {
                let methods = methods.iter().map(|m| (*m).to_owned()).collect();
                ((*service).to_owned(), methods)
            })
            .collect();
        assert_eq!(described, expected);
    }

    #[test]
    fn the_descriptor_set_carries_its_imports_for_reflection() {
        let set = decode();
        let names: Vec<&str> = set.file.iter().map(|file| file.name()).collect();
        assert!(
            names.contains(&"google/protobuf/timestamp.proto"),
            "google/protobuf/timestamp.proto missing from {names:?}"
        );
        for file in [
            "common",
            "access",
            "accounts",
            "users",
            "roles",
            "memberships",
            "resources",
            "delegations",
            "invitations",
            "approvals",
            "contacts",
            "events",
        ] {
            let name = format!("guichet/v1/{file}.proto");
            assert!(names.contains(&name.as_str()), "{name} missing from {names:?}");
        }
    }

    #[test]
    fn the_descriptor_set_keeps_the_proto_comments() {
        let set = decode();
        let access =
            set.file.iter().find(|file| file.name() == "guichet/v1/access.proto").expect("access.proto is described");
        let documented = access
            .source_code_info
            .as_ref()
            .is_some_and(|info| info.location.iter().any(|l| l.leading_comments.is_some()));
        assert!(documented, "grpcurl describe would show no comments");
    }
}
