#![no_main]
//! Decode + validate of `DeleteContactRequest`.
use guichet_fuzz::*;
libfuzzer_sys::fuzz_target!(|data: &[u8]| decode_validate::<pb::DeleteContactRequest, Authored<d::ContactId>>(data));
