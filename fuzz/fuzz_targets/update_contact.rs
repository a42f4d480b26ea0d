#![no_main]
//! Decode + validate of `UpdateContactRequest`.
use guichet_fuzz::*;
libfuzzer_sys::fuzz_target!(|data: &[u8]| decode_validate::<pb::UpdateContactRequest, Authored<d::ContactUpdate>>(data));
