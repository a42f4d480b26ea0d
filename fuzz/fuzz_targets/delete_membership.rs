#![no_main]
//! Decode + validate of `DeleteMembershipRequest`.
use guichet_fuzz::*;
libfuzzer_sys::fuzz_target!(|data: &[u8]| decode_validate::<pb::DeleteMembershipRequest, Authored<d::MembershipId>>(data));
