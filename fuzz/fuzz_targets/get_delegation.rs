#![no_main]
//! Decode + validate of `GetDelegationRequest`.
use guichet_fuzz::*;
libfuzzer_sys::fuzz_target!(|data: &[u8]| decode_validate::<pb::GetDelegationRequest, Authored<d::DelegationId>>(data));
