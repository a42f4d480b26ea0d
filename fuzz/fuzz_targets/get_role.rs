#![no_main]
//! Decode + validate of `GetRoleRequest`.
use guichet_fuzz::*;
libfuzzer_sys::fuzz_target!(|data: &[u8]| decode_validate::<pb::GetRoleRequest, Authored<RoleRef>>(data));
