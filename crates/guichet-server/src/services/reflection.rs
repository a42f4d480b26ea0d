//! Server reflection (`grpc.reflection.v1` and `v1alpha`) and the descriptor sets it serves: the
//! API's, the `google.rpc` error details', health's and reflection's own.

/// The encoded descriptor set of guichet's API.
pub(crate) const API: &[u8] = guichet_proto::FILE_DESCRIPTOR_SET;

/// The encoded descriptor sets of every service the gRPC port serves: the API, health and both
/// reflection versions.
pub(crate) const SERVED: [&[u8]; 4] = [
    API,
    tonic_health::pb::FILE_DESCRIPTOR_SET,
    tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET,
    tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET,
];

/// A reflection builder over every descriptor set. Each reflection version lists both, so clients
/// of either (grpcurl speaks v1alpha) see them all. The `google.rpc` error details (with
/// `google.protobuf.Any` and `Duration`) are served too, so that grpcurl decodes every detail of an
/// error (BadRequest, ErrorInfo, ...) instead of printing "google.rpc.BadRequest is not
/// recognized" and base64.
pub(crate) fn builder() -> tonic_reflection::server::Builder<'static> {
    SERVED
        .iter()
        .fold(tonic_reflection::server::Builder::configure().include_reflection_service(false), |b, set| {
            b.register_encoded_file_descriptor_set(set)
        })
        .register_encoded_file_descriptor_set(tonic_types::pb::FILE_DESCRIPTOR_SET)
}
