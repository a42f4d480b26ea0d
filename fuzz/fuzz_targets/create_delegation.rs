#![no_main]
//! Decode + validate of `CreateDelegationRequest`.
use guichet_fuzz::*;
libfuzzer_sys::fuzz_target!(|data: &[u8]| decode_validate::<pb::CreateDelegationRequest, Authored<d::NewDelegation>>(data));
