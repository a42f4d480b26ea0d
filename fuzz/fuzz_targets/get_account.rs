#![no_main]
//! Decode + validate of `GetAccountRequest`.
use guichet_fuzz::*;
libfuzzer_sys::fuzz_target!(|data: &[u8]| decode_validate::<pb::GetAccountRequest, Authored<d::AccountId>>(data));
