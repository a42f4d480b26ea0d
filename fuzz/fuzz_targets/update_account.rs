#![no_main]
//! Decode + validate of `UpdateAccountRequest`.
use guichet_fuzz::*;
libfuzzer_sys::fuzz_target!(|data: &[u8]| decode_validate::<pb::UpdateAccountRequest, Authored<AccountText>>(data));
