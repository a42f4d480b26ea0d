#![no_main]
//! Decode + validate of `GetContactRequest`.
use guichet_fuzz::*;
libfuzzer_sys::fuzz_target!(|data: &[u8]| decode_validate::<pb::GetContactRequest, Authored<d::ContactId>>(data));
