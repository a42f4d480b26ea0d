#![no_main]
//! Decode + validate of `DeleteDelegationRequest`.
use guichet_fuzz::*;
libfuzzer_sys::fuzz_target!(|data: &[u8]| decode_validate::<pb::DeleteDelegationRequest, Authored<d::DelegationId>>(data));
