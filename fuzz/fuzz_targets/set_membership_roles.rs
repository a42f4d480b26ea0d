#![no_main]
//! Decode + validate of `SetMembershipRolesRequest`.
use guichet_fuzz::*;
libfuzzer_sys::fuzz_target!(|data: &[u8]| decode_validate::<pb::SetMembershipRolesRequest, Authored<MembershipRoles>>(data));
