#![no_main]
//! Decode + validate of `ReactivateAccountRequest`.
use guichet_fuzz::*;
libfuzzer_sys::fuzz_target!(|data: &[u8]| decode_validate::<pb::ReactivateAccountRequest, Authored<d::AccountId>>(data));
