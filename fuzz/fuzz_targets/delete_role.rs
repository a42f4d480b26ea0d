#![no_main]
//! Decode + validate of `DeleteRoleRequest`.
use guichet_fuzz::*;
libfuzzer_sys::fuzz_target!(|data: &[u8]| decode_validate::<pb::DeleteRoleRequest, Authored<RoleRef>>(data));
