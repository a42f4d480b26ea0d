#![no_main]
//! Decode + validate of `RejectMembershipRequest`.
use guichet_fuzz::*;
libfuzzer_sys::fuzz_target!(|data: &[u8]| decode_validate::<pb::RejectMembershipRequest, Authored<RejectMembership>>(data));
