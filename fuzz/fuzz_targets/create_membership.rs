#![no_main]
//! Decode + validate of `CreateMembershipRequest`.
use guichet_fuzz::*;
libfuzzer_sys::fuzz_target!(|data: &[u8]| decode_validate::<pb::CreateMembershipRequest, Authored<d::NewMembership>>(data));
