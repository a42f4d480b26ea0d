#![no_main]
//! Decode + validate of `CreateInvitationRequest`.
use guichet_fuzz::*;
libfuzzer_sys::fuzz_target!(|data: &[u8]| decode_validate::<pb::CreateInvitationRequest, Authored<d::NewInvitation>>(data));
