#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| facelens_api::fuzz_entry::wire(data));
