#![no_main]
//! Decode + validate of `ReactivateMembershipRequest`.
use guichet_fuzz::*;
libfuzzer_sys::fuzz_target!(|data: &[u8]| decode_validate::<pb::ReactivateMembershipRequest, Authored<d::MembershipId>>(data));
