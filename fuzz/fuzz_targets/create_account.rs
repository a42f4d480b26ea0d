#![no_main]
//! Decode + validate of `CreateAccountRequest`.
use guichet_fuzz::*;
libfuzzer_sys::fuzz_target!(|data: &[u8]| decode_validate::<pb::CreateAccountRequest, Authored<d::NewAccount>>(data));
