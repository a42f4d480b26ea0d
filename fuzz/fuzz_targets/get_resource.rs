#![no_main]
//! Decode + validate of `GetResourceRequest`.
use guichet_fuzz::*;
libfuzzer_sys::fuzz_target!(|data: &[u8]| decode_validate::<pb::GetResourceRequest, Authored<d::ResourceId>>(data));
