//! Fuzzes the exchange layer (`proto::http`): admission of any request
//! head, response framing, host normalisation and the answer format, with
//! the invariants the drivers rely on checked (see
//! `duet::proto::http::fuzz_exchange`).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    duet::proto::http::fuzz_exchange(data);
});
