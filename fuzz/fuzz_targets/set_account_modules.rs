#![no_main]
//! Decode + validate of `SetAccountModulesRequest`.
use guichet_fuzz::*;
libfuzzer_sys::fuzz_target!(|data: &[u8]| decode_validate::<pb::SetAccountModulesRequest, Authored<SetModules>>(data));
