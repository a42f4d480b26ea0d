#![no_main]
//! Decode + validate of `DeleteResourceRequest`.
use guichet_fuzz::*;
libfuzzer_sys::fuzz_target!(|data: &[u8]| decode_validate::<pb::DeleteResourceRequest, Authored<d::ResourceId>>(data));
