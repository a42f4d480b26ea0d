//! The one function every fuzz target calls: decode the bytes as a request message (prost), then
//! run the edge validation that turns it into domain values (guichet-proto's `convert`). Neither may
//! panic, whatever the bytes; a validated value must describe itself without panicking either.
#![forbid(unsafe_code)]

pub use guichet_domain as d;
pub use guichet_proto::convert::*;
pub use guichet_proto::v1 as pb;

/// Decodes `data` as `M` and validates it into `T`.
pub fn decode_validate<M, T>(data: &[u8])
where
    M: prost::Message + Default + TryInto<T>,
    T: std::fmt::Debug,
    <M as TryInto<T>>::Error: std::fmt::Debug,
{
    if let Ok(message) = M::decode(data) {
        let _ = format!("{:?}", message.try_into());
    }
}
