#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| facelens_server::config::fuzz_entry(data));
