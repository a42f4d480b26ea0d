#![no_main]
//! Decode + validate of `AssignRoleRequest`.
use guichet_fuzz::*;
libfuzzer_sys::fuzz_target!(|data: &[u8]| decode_validate::<pb::AssignRoleRequest, Authored<MembershipRole>>(data));
