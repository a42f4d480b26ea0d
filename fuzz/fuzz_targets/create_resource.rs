#![no_main]
//! Decode + validate of `CreateResourceRequest`.
use guichet_fuzz::*;
libfuzzer_sys::fuzz_target!(|data: &[u8]| decode_validate::<pb::CreateResourceRequest, Authored<d::NewResource>>(data));
