#![no_main]
//! Decode + validate of `ListPendingApprovalsRequest`.
use guichet_fuzz::*;
libfuzzer_sys::fuzz_target!(|data: &[u8]| decode_validate::<pb::ListPendingApprovalsRequest, Authored<ListApprovals>>(data));
