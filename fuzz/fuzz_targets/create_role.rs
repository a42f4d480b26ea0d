#![no_main]
//! Decode + validate of `CreateRoleRequest`.
use guichet_fuzz::*;
libfuzzer_sys::fuzz_target!(|data: &[u8]| decode_validate::<pb::CreateRoleRequest, Authored<d::RoleDefinition>>(data));
