//! The snapshot decoder on arbitrary bytes: an error or a state, never a panic. The input is
//! tried as a whole file, and cut into five sections framed with valid checksums so that the
//! section decoders and the structural checks behind them are reached too.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sutra_core::{snapshot, Db, HnswParams};

fuzz_target!(|data: &[u8]| {
    let _ = Db::decode_snapshot(data, HnswParams::default());
    let _ = snapshot::covered_seq(data);
    if data.len() >= 5 {
        let (cuts, rest) = data.split_at(5);
        let mut sections = Vec::with_capacity(5);
        let mut rest = rest;
        for &cut in cuts {
            let take = (cut as usize).min(rest.len());
            let (section, tail) = rest.split_at(take);
            sections.push(section.to_vec());
            rest = tail;
        }
        sections[4].extend_from_slice(rest);
        let file = snapshot::assemble(7, &sections);
        if let Ok(db) = Db::decode_snapshot(&file, HnswParams::default()) {
            // Whatever loads must be usable without panicking.
            let counts = db.counts();
            if let Some(dim) = counts.dimension {
                let _ = db.search_vectors(&vec![1.0; dim as usize], 10, None);
            }
            let _ = db.scan(None, 10);
            let _ = db.digest();
        }
    }
});
