#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| facelens_core::fuzz_entry::wire(data));
