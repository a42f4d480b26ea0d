#![no_main]
//! Decode + validate of `UpdateAccountSettingsRequest`.
use guichet_fuzz::*;
libfuzzer_sys::fuzz_target!(|data: &[u8]| decode_validate::<pb::UpdateAccountSettingsRequest, Authored<SetSettings>>(data));
