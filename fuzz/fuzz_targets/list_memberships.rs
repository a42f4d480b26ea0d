#![no_main]
//! Decode + validate of `ListMembershipsRequest`.
use guichet_fuzz::*;
libfuzzer_sys::fuzz_target!(|data: &[u8]| decode_validate::<pb::ListMembershipsRequest, Authored<ListMemberships>>(data));
