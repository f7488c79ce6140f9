//! Vector search: a tiered index of a growing HNSW graph that new vectors are inserted into in
//! place (`growing.rs`; a snapshot stores it packed, and it is taken up again at the next
//! open), sealed HNSW segments (a growing graph packed once it is full or mostly stale, or a
//! graph grown whole by a merge or a rebuild, packed alike), a "fresh" tier for vectors not
//! indexed yet, and version checks that hide stale entries. A segment no larger than the
//! growing graph is absorbed into it (its vectors inserted there, the segment dropped).
//!
//! Every live vector has a version (`vseq`), bumped when its concept is re-embedded. A sealed
//! entry is valid only while the concept's current version equals the one it was sealed with, so
//! deleted and re-embedded concepts never show stale results, and no separate tombstone list has to
//! be kept in step. A concept is searchable as soon as its write is applied (fresh tier).
//!
//! Indexing is split so hosts choose the thread: [`VectorIndex::freeze_next`] (or
//! [`VectorIndex::freeze`] for one graph of everything) copies a frozen view (cheap, under the
//! host's lock), [`SealInput::build`] does the work (slow, anywhere: inserts into the growing
//! graph, which searches go on reading meanwhile, or builds or packs a graph), and
//! [`VectorIndex::install`] takes the result in under the host's write lock, keeping everything
//! written meanwhile in the fresh tier.
//!
//! The index holds no copy of the vectors: each concept keeps its embedding, and the index keeps
//! versions, inverse norms and one-byte-per-component codes (in the graphs and the fresh tier).
//! Graph walks and the fresh scan compare codes; the candidates that can still make the best
//! `k` (by their approximate similarity and the most the codes' rounding can have moved it) are
//! scored exactly from the embeddings, so every score returned is an exact cosine.
//!
//! The files, bottom-up: `code` (one-byte codes, their similarity and its error bound),
//! `params` (HNSW tuning), `beam` (the one HNSW search, for both kinds of graph), `hnsw` (the
//! packed graph of a sealed segment), `growing` (the graph new vectors are inserted into),
//! `id_table` (versions by concept), `topk` (the k best), `fresh` (the fresh tier), `seal`
//! (segments and the work that makes them), `plan` (a search's two halves), `index` (the tiers
//! together, the merge policy), `image` (the index in a snapshot).

mod beam;
mod code;
mod fresh;
mod growing;
mod hnsw;
mod id_table;
mod image;
mod index;
mod params;
mod plan;
mod seal;
mod topk;

pub use index::{VectorCounts, VectorIndex};
pub use params::HnswParams;
pub use plan::{Candidates, SearchPlan};
pub use seal::{Built, SealInput, Sealed};

pub(crate) use image::decode_image;
