#![no_main]
//! Decode + validate of `UnassignRoleRequest`.
use guichet_fuzz::*;
libfuzzer_sys::fuzz_target!(|data: &[u8]| decode_validate::<pb::UnassignRoleRequest, Authored<MembershipRole>>(data));
