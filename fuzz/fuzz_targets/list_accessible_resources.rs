#![no_main]
//! Decode + validate of `ListAccessibleResourcesRequest`.
use guichet_fuzz::*;
libfuzzer_sys::fuzz_target!(|data: &[u8]| decode_validate::<pb::ListAccessibleResourcesRequest, AccessibleResourcesQuery>(data));
