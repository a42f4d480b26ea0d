#![no_main]
//! Decode + validate of `ApproveMembershipRequest`.
use guichet_fuzz::*;
libfuzzer_sys::fuzz_target!(|data: &[u8]| decode_validate::<pb::ApproveMembershipRequest, Authored<d::MembershipId>>(data));
