//! The log scanner on arbitrary bytes: it must classify them (records, torn tail, corruption,
//! bad header) and never panic, loop forever or allocate without bound.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sutra_core::wal;

fuzz_target!(|data: &[u8]| {
    // As-is, and behind a valid header so the record parser is reached.
    let _ = wal::scan(&mut &data[..], |_, _, _| Ok(()));
    let mut log = wal::encode_header(0).to_vec();
    log.extend_from_slice(data);
    if let Ok(end) = wal::scan(&mut &log[..], |_, _, _| Ok(())) {
        assert!(end.valid_len <= log.len() as u64);
        assert!(end.valid_len >= wal::LOG_HEADER_BYTES);
    }
});
