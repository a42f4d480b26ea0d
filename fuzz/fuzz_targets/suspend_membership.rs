#![no_main]
//! Decode + validate of `SuspendMembershipRequest`.
use guichet_fuzz::*;
libfuzzer_sys::fuzz_target!(|data: &[u8]| decode_validate::<pb::SuspendMembershipRequest, Authored<d::MembershipId>>(data));
