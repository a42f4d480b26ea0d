#![no_main]
//! Decode + validate of `ExplainAccessRequest`.
use guichet_fuzz::*;
libfuzzer_sys::fuzz_target!(|data: &[u8]| decode_validate::<pb::ExplainAccessRequest, ExplainQuery>(data));
