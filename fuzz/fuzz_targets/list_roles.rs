#![no_main]
//! Decode + validate of `ListRolesRequest`.
use guichet_fuzz::*;
libfuzzer_sys::fuzz_target!(|data: &[u8]| decode_validate::<pb::ListRolesRequest, Authored<ListRoles>>(data));
