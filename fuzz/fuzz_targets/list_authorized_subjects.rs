#![no_main]
//! Decode + validate of `ListAuthorizedSubjectsRequest`.
use guichet_fuzz::*;
libfuzzer_sys::fuzz_target!(|data: &[u8]| decode_validate::<pb::ListAuthorizedSubjectsRequest, AuthorizedSubjectsQuery>(data));
