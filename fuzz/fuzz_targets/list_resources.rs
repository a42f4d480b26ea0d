#![no_main]
//! Decode + validate of `ListResourcesRequest`.
use guichet_fuzz::*;
libfuzzer_sys::fuzz_target!(|data: &[u8]| decode_validate::<pb::ListResourcesRequest, Authored<ListResources>>(data));
