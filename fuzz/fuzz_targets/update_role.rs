#![no_main]
//! Decode + validate of `UpdateRoleRequest`.
use guichet_fuzz::*;
libfuzzer_sys::fuzz_target!(|data: &[u8]| decode_validate::<pb::UpdateRoleRequest, Authored<d::RoleDefinition>>(data));
