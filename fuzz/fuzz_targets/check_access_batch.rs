#![no_main]
//! Decode + validate of `CheckAccessBatchRequest`.
use guichet_fuzz::*;
libfuzzer_sys::fuzz_target!(|data: &[u8]| decode_validate::<pb::CheckAccessBatchRequest, BatchQuery>(data));
