#![no_main]
//! Decode + validate of `SetResourceRestrictionRequest`.
use guichet_fuzz::*;
libfuzzer_sys::fuzz_target!(|data: &[u8]| decode_validate::<pb::SetResourceRestrictionRequest, Authored<MembershipRestriction>>(data));
