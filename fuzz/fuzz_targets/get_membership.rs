#![no_main]
//! Decode + validate of `GetMembershipRequest`.
use guichet_fuzz::*;
libfuzzer_sys::fuzz_target!(|data: &[u8]| decode_validate::<pb::GetMembershipRequest, Authored<d::MembershipId>>(data));
