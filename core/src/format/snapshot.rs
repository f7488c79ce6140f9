//! The snapshot (`storage.dat`) format: one versioned, checksummed file holding a whole state.
//!
//! ```text
//! header (32 bytes): magic "SUTRASNP" | version u32 | section count u32 | covered seq u64
//!                    | reserved u32 (0) | crc32(header[0..28] ‖ section table) u32
//! section table:     per section (32 bytes): kind u32 | reserved u32 (0) | offset u64 | length u64
//!                    | crc32(section bytes) u32 | reserved u32 (0)
//! sections:          each starting at a multiple of 64 bytes, zero padding between them
//! ```
//!
//! Sections: meta, concepts, associations, vectors (contiguous little-endian f32, 64-byte aligned
//! so a memory-mapped file can be read in place), vector index, text index (empty when the
//! memory's text index was not built). See `docs/FORMAT.md`.
//!
//! Older versions are read, and rewritten in today's when their memory opens: in versions 3 to
//! 5 associations have no label, metadata or validity (they read as label "", none, always
//! valid); version 4 has no
//! text index section (the index is built on the first search by words); version 3 neither,
//! and its metadata values were strings only ([`crate::legacy`]). Versions 3 to 6 have no
//! stemming language in their meta section (they read as none), versions 3 to 7 no keys
//! indexed for filters (none).

use crate::error::{Error, Result};
use crate::format::legacy::{metadata_from_v1, AssociationV1, MetadataV1};
use crate::model::{Association, Concept, ConceptId, Language, Metadata};
use serde::{Deserialize, Serialize};

/// The snapshot file's magic bytes.
pub const SNAPSHOT_MAGIC: [u8; 8] = *b"SUTRASNP";
/// The snapshot format version this build writes.
pub const SNAPSHOT_VERSION: u32 = 8;
/// The oldest snapshot format version this build reads.
pub const SNAPSHOT_VERSION_OLDEST: u32 = 3;
const HEADER_BYTES: usize = 32;
const TABLE_ENTRY_BYTES: usize = 32;
const SECTION_ALIGN: usize = 64;

/// Where each field of the header is (`docs/FORMAT.md`, "Snapshot").
mod header {
    pub const MAGIC: usize = 0;
    pub const VERSION: usize = 8;
    pub const SECTION_COUNT: usize = 12;
    pub const COVERED_SEQ: usize = 16;
    pub const RESERVED: usize = 24;
    /// The checksum covers the header's bytes before it, then the section table.
    pub const CRC: usize = 28;
}

/// Where each field of a section table entry is.
mod entry {
    pub const KIND: usize = 0;
    pub const OFFSET: usize = 8;
    pub const LEN: usize = 16;
    pub const CRC: usize = 24;
}

// The layout's relations, checked when the code is compiled.
const _: () = assert!(header::CRC + 4 == HEADER_BYTES);
const _: () = assert!(header::MAGIC + SNAPSHOT_MAGIC.len() == header::VERSION);
const _: () = assert!(header::RESERVED + 4 == header::CRC);
const _: () = assert!(entry::CRC + 8 == TABLE_ENTRY_BYTES);
// The vectors section is read in place from a memory map: sections start on a boundary that
// suits f32 (and cache lines).
const _: () = assert!(SECTION_ALIGN.is_multiple_of(std::mem::align_of::<f32>()));

/// Section kinds, in the order they are written.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u32)]
enum Section {
    Meta = 1,
    Concepts = 2,
    Associations = 3,
    Vectors = 4,
    VectorIndex = 5,
    TextIndex = 6,
}

/// Today's sections, in order.
const SECTIONS: [Section; 6] = [
    Section::Meta,
    Section::Concepts,
    Section::Associations,
    Section::Vectors,
    Section::VectorIndex,
    Section::TextIndex,
];

/// Most sections a header may list (more is a corrupt file, not a table to read).
const SECTIONS_MAX: usize = 16;
const _: () = assert!(SECTIONS.len() <= SECTIONS_MAX);

/// The sections a file of `version` holds, in order.
fn sections_of(version: u32) -> &'static [Section] {
    if version >= 5 {
        &SECTIONS
    } else {
        &SECTIONS[..5]
    }
}

#[derive(Serialize, Deserialize, PartialEq, Debug)]
struct Meta {
    dimension: Option<u32>,
    concepts: u64,
    associations: u64,
    vectors: u64,
    /// Added in version 7.
    language: Option<Language>,
    /// Added in version 8: the metadata keys indexed for filters.
    indexed: Vec<String>,
}

/// The meta section of version 7 (frozen).
#[derive(Deserialize)]
struct MetaV7 {
    dimension: Option<u32>,
    concepts: u64,
    associations: u64,
    vectors: u64,
    language: Option<Language>,
}

impl From<MetaV7> for Meta {
    fn from(old: MetaV7) -> Meta {
        Meta {
            dimension: old.dimension,
            concepts: old.concepts,
            associations: old.associations,
            vectors: old.vectors,
            language: old.language,
            indexed: Vec::new(),
        }
    }
}

/// The meta section of versions 3 to 6 (frozen).
#[derive(Deserialize)]
struct MetaV6 {
    dimension: Option<u32>,
    concepts: u64,
    associations: u64,
    vectors: u64,
}

impl From<MetaV6> for Meta {
    fn from(old: MetaV6) -> Meta {
        Meta {
            dimension: old.dimension,
            concepts: old.concepts,
            associations: old.associations,
            vectors: old.vectors,
            language: None,
            indexed: Vec::new(),
        }
    }
}

/// A concept without its embedding (that lives in the vectors section, in concept order).
#[derive(Serialize)]
struct ConceptOut<'a> {
    id: ConceptId,
    content: &'a str,
    has_vector: bool,
    strength: f32,
    confidence: f32,
    metadata: &'a Metadata,
    created_ms: u64,
    updated_ms: u64,
}

/// A concept as read back, with its metadata as the file's version holds it.
#[derive(Deserialize)]
struct ConceptIn<M> {
    id: ConceptId,
    content: Box<str>,
    has_vector: bool,
    strength: f32,
    confidence: f32,
    metadata: M,
    created_ms: u64,
    updated_ms: u64,
}

impl ConceptIn<MetadataV1> {
    /// A version 3 concept as today's.
    fn upgrade(self) -> ConceptIn<Metadata> {
        ConceptIn {
            id: self.id,
            content: self.content,
            has_vector: self.has_vector,
            strength: self.strength,
            confidence: self.confidence,
            metadata: metadata_from_v1(self.metadata),
            created_ms: self.created_ms,
            updated_ms: self.updated_ms,
        }
    }
}

/// Serializes an exact-size iterator as a sequence without collecting it.
struct Seq<I>(std::cell::Cell<Option<I>>);

impl<I: Iterator<Item = T> + ExactSizeIterator, T: Serialize> Serialize for Seq<I> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0.take() {
            Some(iter) => s.collect_seq(iter),
            None => Err(serde::ser::Error::custom("sequence serialized twice")),
        }
    }
}

fn seq<I: Iterator<Item = T> + ExactSizeIterator, T: Serialize>(iter: I) -> Seq<I> {
    Seq(std::cell::Cell::new(Some(iter)))
}

fn encode_err(what: &str, e: postcard::Error) -> Error {
    Error::Storage {
        during: "snapshot encode",
        message: format!("{what}: {e}"),
    }
}

/// What a snapshot holds, as the state hands it over: the format knows the data model, and the
/// vector index's image only as bytes the index encoded.
pub struct Contents<'a, C> {
    /// The sequence number of the last record the state applied.
    pub covered_seq: u64,
    /// The vector dimension, once the first vector fixed it.
    pub dimension: Option<u32>,
    /// The language texts are stemmed in.
    pub language: Option<Language>,
    /// The metadata keys indexed for filters, in order.
    pub indexed: &'a [Box<str>],
    /// Every concept, in strictly increasing id order (walked three times, hence `Clone`).
    pub concepts: C,
    /// Every association, in key order.
    pub associations: &'a [Association],
    /// The vector index's image.
    pub vector_index: &'a [u8],
    /// The text index's image (empty: the index was not built).
    pub text_index: &'a [u8],
}

/// Encodes a snapshot of `contents`.
pub fn encode<'a, C>(contents: Contents<'a, C>) -> Result<Vec<u8>>
where
    C: Iterator<Item = &'a Concept> + ExactSizeIterator + Clone,
{
    let mut out = Vec::new();
    write(contents, &mut out)?;
    Ok(out)
}

/// A sink that keeps only the length and checksum of what passes through it.
#[derive(Default)]
struct Measure {
    len: u64,
    crc: crc32fast::Hasher,
}

impl std::io::Write for Measure {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.len += bytes.len() as u64;
        self.crc.update(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A postcard flavor that hands what it serializes to a writer in pieces of at most
/// [`PIECE_BYTES`], so that a section is never held whole.
struct Piecewise<'w> {
    out: &'w mut dyn std::io::Write,
    piece: Vec<u8>,
    /// The writer's error, kept for the caller (postcard's own error cannot carry it).
    failed: &'w mut Option<std::io::Error>,
}

/// How much a [`Piecewise`] gathers before it writes.
const PIECE_BYTES: usize = 64 * 1024;

impl Piecewise<'_> {
    fn drain(&mut self) -> postcard::Result<()> {
        if let Err(e) = self.out.write_all(&self.piece) {
            *self.failed = Some(e);
            return Err(postcard::Error::SerializeBufferFull);
        }
        self.piece.clear();
        Ok(())
    }
}

impl postcard::ser_flavors::Flavor for Piecewise<'_> {
    type Output = ();

    fn try_push(&mut self, byte: u8) -> postcard::Result<()> {
        self.try_extend(&[byte])
    }

    fn try_extend(&mut self, bytes: &[u8]) -> postcard::Result<()> {
        if self.piece.len() + bytes.len() > PIECE_BYTES {
            self.drain()?;
        }
        if bytes.len() >= PIECE_BYTES {
            if let Err(e) = self.out.write_all(bytes) {
                *self.failed = Some(e);
                return Err(postcard::Error::SerializeBufferFull);
            }
        } else {
            self.piece.extend_from_slice(bytes);
        }
        Ok(())
    }

    fn finalize(mut self) -> postcard::Result<()> {
        self.drain()
    }
}

/// Serializes `value` with postcard into `out`, piece by piece.
fn put<T: Serialize + ?Sized>(what: &str, value: &T, out: &mut dyn std::io::Write) -> Result<()> {
    let mut failed = None;
    let flavor = Piecewise {
        out,
        piece: Vec::with_capacity(PIECE_BYTES),
        failed: &mut failed,
    };
    let result = postcard::serialize_with_flavor(value, flavor);
    match (result, failed) {
        (_, Some(e)) => Err(write_err(what, &e)),
        (Err(e), None) => Err(encode_err(what, e)),
        (Ok(()), None) => Ok(()),
    }
}

fn write_err(what: &str, e: &std::io::Error) -> Error {
    Error::Storage {
        during: "snapshot write",
        message: format!("{what}: {e}"),
    }
}

/// Writes a snapshot of `contents` to `out` as it is encoded, never holding a section whole
/// (a state of any size costs a few pieces of 64 KiB beyond the vector index's image): each
/// section is encoded twice, once to learn its length and checksum for the section table that
/// precedes the sections, once to write it. Returns the bytes written. The same bytes as
/// [`encode`].
pub fn write<'a, C>(contents: Contents<'a, C>, out: &mut dyn std::io::Write) -> Result<u64>
where
    C: Iterator<Item = &'a Concept> + ExactSizeIterator + Clone,
{
    debug_assert!(
        contents
            .associations
            .windows(2)
            .all(|w| w[0].key() < w[1].key()),
        "associations are handed over in strictly increasing key order"
    );
    let with_vector = |c: &&Concept| c.embedding.is_some();
    let vectors_count = contents.concepts.clone().filter(with_vector).count() as u64;
    let meta = Meta {
        dimension: contents.dimension,
        concepts: contents.concepts.len() as u64,
        associations: contents.associations.len() as u64,
        vectors: vectors_count,
        language: contents.language,
        indexed: contents.indexed.iter().map(|k| k.to_string()).collect(),
    };
    let dimension = contents.dimension.unwrap_or(0) as usize;
    let section = |i: usize, out: &mut dyn std::io::Write| -> Result<()> {
        match SECTIONS[i] {
            Section::Meta => put("meta", &meta, out),
            Section::Concepts => {
                let concepts = seq(contents.concepts.clone().map(|c| ConceptOut {
                    id: c.id,
                    content: &c.content,
                    has_vector: c.embedding.is_some(),
                    strength: c.strength,
                    confidence: c.confidence,
                    metadata: &c.metadata,
                    created_ms: c.created_ms,
                    updated_ms: c.updated_ms,
                }));
                put("concepts", &concepts, out)
            }
            Section::Associations => put("associations", contents.associations, out),
            Section::Vectors => {
                let mut piece = Vec::with_capacity(PIECE_BYTES.max(dimension * 4));
                for concept in contents.concepts.clone() {
                    if let Some(v) = &concept.embedding {
                        debug_assert_eq!(
                            v.len(),
                            dimension,
                            "every stored vector has the dimension"
                        );
                        if piece.len() + v.len() * 4 > piece.capacity() {
                            out.write_all(&piece)
                                .map_err(|e| write_err("vectors", &e))?;
                            piece.clear();
                        }
                        for x in v.iter() {
                            piece.extend_from_slice(&x.to_le_bytes());
                        }
                    }
                }
                out.write_all(&piece).map_err(|e| write_err("vectors", &e))
            }
            Section::VectorIndex => out
                .write_all(contents.vector_index)
                .map_err(|e| write_err("vector index", &e)),
            Section::TextIndex => out
                .write_all(contents.text_index)
                .map_err(|e| write_err("text index", &e)),
        }
    };
    let mut measured = Vec::with_capacity(SECTIONS.len());
    for i in 0..SECTIONS.len() {
        let mut m = Measure::default();
        section(i, &mut m)?;
        measured.push((m.len, m.crc.finalize()));
    }
    let head = head(contents.covered_seq, &measured);
    out.write_all(&head).map_err(|e| write_err("header", &e))?;
    let mut written = head.len() as u64;
    for (i, &(len, crc)) in measured.iter().enumerate() {
        let pad = align(written as usize) as u64 - written;
        out.write_all(&[0u8; SECTION_ALIGN][..pad as usize])
            .map_err(|e| write_err("padding", &e))?;
        written += pad;
        let mut tee = Tee {
            out: &mut *out,
            seen: Measure::default(),
        };
        section(i, &mut tee)?;
        let seen = (tee.seen.len, tee.seen.crc.finalize());
        // Encoding is deterministic: the second pass writes what the first measured, or the
        // table would describe other bytes than the file holds.
        if seen != (len, crc) {
            return Err(Error::Storage {
                during: "snapshot write",
                message: format!(
                    "section {i} encoded to {} bytes (crc {:08x}) after measuring {len} (crc {crc:08x})",
                    seen.0, seen.1
                ),
            });
        }
        written += len;
    }
    Ok(written)
}

/// A writer that also measures what it passes on.
struct Tee<'w> {
    out: &'w mut dyn std::io::Write,
    seen: Measure,
}

impl std::io::Write for Tee<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let n = self.out.write(bytes)?;
        std::io::Write::write_all(&mut self.seen, &bytes[..n])?;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

/// The header and section table of a snapshot covering `covered_seq` whose sections (in
/// `SECTIONS` order) have these lengths and checksums.
fn head(covered_seq: u64, sections: &[(u64, u32)]) -> Vec<u8> {
    debug_assert_eq!(sections.len(), SECTIONS.len());
    let table_end = HEADER_BYTES + TABLE_ENTRY_BYTES * SECTIONS.len();
    let mut offset = align(table_end) as u64;
    let mut table = Vec::with_capacity(TABLE_ENTRY_BYTES * SECTIONS.len());
    for (kind, &(len, crc)) in SECTIONS.iter().zip(sections) {
        table.extend_from_slice(&(*kind as u32).to_le_bytes());
        table.extend_from_slice(&0u32.to_le_bytes());
        table.extend_from_slice(&offset.to_le_bytes());
        table.extend_from_slice(&len.to_le_bytes());
        table.extend_from_slice(&crc.to_le_bytes());
        table.extend_from_slice(&0u32.to_le_bytes());
        offset = align((offset + len) as usize) as u64;
    }
    let mut out = Vec::with_capacity(table_end);
    out.extend_from_slice(&SNAPSHOT_MAGIC);
    out.extend_from_slice(&SNAPSHOT_VERSION.to_le_bytes());
    out.extend_from_slice(&(SECTIONS.len() as u32).to_le_bytes());
    out.extend_from_slice(&covered_seq.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    debug_assert_eq!(out.len(), header::CRC);
    let mut crc = crc32fast::Hasher::new();
    crc.update(&out[..header::CRC]);
    crc.update(&table);
    out.extend_from_slice(&crc.finalize().to_le_bytes());
    out.extend_from_slice(&table);
    out
}

/// Frames the six sections (meta, concepts, associations, vectors, vector index, text index, in
/// that order) into a snapshot file covering `covered_seq`: header, section table with checksums,
/// 64-byte aligned sections. Public so that fuzzing can reach the section decoders.
pub fn assemble(covered_seq: u64, sections: &[Vec<u8>]) -> Vec<u8> {
    let empty = Vec::new();
    let section = |i: usize| sections.get(i).unwrap_or(&empty);
    let measured: Vec<(u64, u32)> = (0..SECTIONS.len())
        .map(|i| (section(i).len() as u64, crc32fast::hash(section(i))))
        .collect();
    let mut out = head(covered_seq, &measured);
    for i in 0..SECTIONS.len() {
        out.resize(align(out.len()), 0);
        out.extend_from_slice(section(i));
    }
    // Pair assertion: what is written reads back — header, table, every checksum, padding.
    debug_assert!(
        check_header(&out).is_ok_and(|(covered, version, read)| covered == covered_seq
            && version == SNAPSHOT_VERSION
            && read.len() == SECTIONS.len()
            && read
                .iter()
                .enumerate()
                .all(|(i, s)| *s == section(i).as_slice())),
        "an assembled snapshot reads back"
    );
    out
}

fn align(n: usize) -> usize {
    n.div_ceil(SECTION_ALIGN) * SECTION_ALIGN
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut x = [0u8; 4];
    x.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(x)
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(x)
}

/// Reads only the sequence number a snapshot covers, after checking its header.
pub fn covered_seq(bytes: &[u8]) -> Result<u64> {
    Ok(check_header(bytes)?.0)
}

/// Reads only the format version of a snapshot, after checking the whole file (every section's
/// checksum: for tools and tests; opening a memory takes the version from its decode).
pub fn version(bytes: &[u8]) -> Result<u32> {
    Ok(check_header(bytes)?.1)
}

/// Checks header and table; returns (covered seq, format version, sections in the version's
/// order).
fn check_header(bytes: &[u8]) -> Result<(u64, u32, Vec<&[u8]>)> {
    if bytes.len() < HEADER_BYTES {
        return Err(Error::corrupt_snapshot(format!(
            "file of {} bytes is shorter than the {HEADER_BYTES}-byte header",
            bytes.len()
        )));
    }
    if bytes[header::MAGIC..header::VERSION] != SNAPSHOT_MAGIC {
        return Err(Error::corrupt_snapshot(
            "file does not start with the magic bytes SUTRASNP",
        ));
    }
    let count = u32_at(bytes, header::SECTION_COUNT) as usize;
    if count > SECTIONS_MAX {
        return Err(Error::corrupt_snapshot(format!(
            "header lists {count} sections, more than {SECTIONS_MAX}"
        )));
    }
    let table_end = HEADER_BYTES + TABLE_ENTRY_BYTES * count;
    if bytes.len() < table_end {
        return Err(Error::corrupt_snapshot(
            "file ends inside the section table",
        ));
    }
    let mut crc = crc32fast::Hasher::new();
    crc.update(&bytes[..header::CRC]);
    crc.update(&bytes[HEADER_BYTES..table_end]);
    if crc.finalize() != u32_at(bytes, header::CRC) {
        return Err(Error::corrupt_snapshot("header checksum does not match"));
    }
    let version = u32_at(bytes, header::VERSION);
    if !(SNAPSHOT_VERSION_OLDEST..=SNAPSHOT_VERSION).contains(&version) {
        return Err(Error::UnsupportedVersion {
            file: "snapshot",
            found: version,
            oldest: SNAPSHOT_VERSION_OLDEST,
            supported: SNAPSHOT_VERSION,
        });
    }
    let expected_sections = sections_of(version);
    if count != expected_sections.len() {
        return Err(Error::corrupt_snapshot(format!(
            "header lists {count} sections, expected {} in version {version}",
            expected_sections.len()
        )));
    }
    let covered = u64_at(bytes, header::COVERED_SEQ);
    let mut sections = Vec::with_capacity(count);
    // Every byte of the file is checked: sections by their checksums, the rest must be zero
    // padding, so no flipped bit anywhere can go unnoticed.
    let mut covered_to = table_end;
    for (i, expected) in expected_sections.iter().enumerate() {
        let at = HEADER_BYTES + i * TABLE_ENTRY_BYTES;
        let kind = u32_at(bytes, at + entry::KIND);
        if kind != *expected as u32 {
            return Err(Error::corrupt_snapshot(format!(
                "section {i} has kind {kind}, expected {expected:?} ({})",
                *expected as u32
            )));
        }
        let offset = u64_at(bytes, at + entry::OFFSET);
        let len = u64_at(bytes, at + entry::LEN);
        let end = offset.checked_add(len).filter(|&e| e <= bytes.len() as u64);
        let Some(end) = end else {
            return Err(Error::corrupt_snapshot(format!(
                "{expected:?} section (offset {offset}, {len} bytes) runs past the end of the file ({} bytes)",
                bytes.len()
            )));
        };
        if !offset.is_multiple_of(SECTION_ALIGN as u64) || offset < table_end as u64 {
            return Err(Error::corrupt_snapshot(format!(
                "{expected:?} section has a bad offset {offset}"
            )));
        }
        let (offset, end) = (offset as usize, end as usize);
        if offset < covered_to {
            return Err(Error::corrupt_snapshot(format!(
                "{expected:?} section overlaps the one before it"
            )));
        }
        if bytes[covered_to..offset].iter().any(|&b| b != 0) {
            return Err(Error::corrupt_snapshot(format!(
                "padding before the {expected:?} section is not zero"
            )));
        }
        covered_to = end;
        let section = &bytes[offset..end];
        if crc32fast::hash(section) != u32_at(bytes, at + entry::CRC) {
            return Err(Error::corrupt_snapshot(format!(
                "{expected:?} section checksum does not match"
            )));
        }
        sections.push(section);
    }
    if covered_to != bytes.len() {
        return Err(Error::corrupt_snapshot(format!(
            "{} unexpected bytes after the last section",
            bytes.len() - covered_to
        )));
    }
    Ok((covered, version, sections))
}

fn decode_section<'a, T: Deserialize<'a>>(what: &str, bytes: &'a [u8]) -> Result<T> {
    match postcard::take_from_bytes::<T>(bytes) {
        Ok((value, [])) => Ok(value),
        Ok((_, rest)) => Err(Error::corrupt_snapshot(format!(
            "{what} section has {} trailing bytes",
            rest.len()
        ))),
        Err(e) => Err(Error::corrupt_snapshot(format!(
            "{what} section does not decode: {e}"
        ))),
    }
}

/// A snapshot's contents as read back: checked against its checksums, its meta section's counts
/// and its concept order, each concept with its embedding again.
pub struct Decoded<'a> {
    /// The sequence number of the last record the snapshot covers.
    pub covered_seq: u64,
    /// The file's format version (older than [`SNAPSHOT_VERSION`]: to be rewritten).
    pub version: u32,
    /// The vector dimension, if any vector was ever stored.
    pub dimension: Option<u32>,
    /// The language texts are stemmed in (and the text index holds stems of).
    pub language: Option<Language>,
    /// The metadata keys indexed for filters (checked by the state).
    pub indexed: Vec<String>,
    /// Every concept, in strictly increasing id order.
    pub concepts: Vec<Concept>,
    /// Every association, as stored (the state checks their endpoints and their uniqueness).
    pub associations: Vec<Association>,
    /// The vector index's image, for the index to decode.
    pub vector_index: &'a [u8],
    /// The text index's image, for the index to decode (empty: not built, or a file older than
    /// version 5).
    pub text_index: &'a [u8],
}

/// Decodes and checks a snapshot's sections.
pub fn decode(bytes: &[u8]) -> Result<Decoded<'_>> {
    let (covered, version, sections) = check_header(bytes)?;
    let meta: Meta = match version {
        ..=6 => decode_section::<MetaV6>("meta", sections[0])?.into(),
        7 => decode_section::<MetaV7>("meta", sections[0])?.into(),
        _ => decode_section("meta", sections[0])?,
    };
    let concepts: Vec<ConceptIn<Metadata>> = if version == 3 {
        let old: Vec<ConceptIn<MetadataV1>> = decode_section("concepts", sections[1])?;
        old.into_iter().map(ConceptIn::upgrade).collect()
    } else {
        decode_section("concepts", sections[1])?
    };
    let associations: Vec<Association> = if version <= 5 {
        let old: Vec<AssociationV1> = decode_section("associations", sections[2])?;
        old.into_iter().map(Association::from).collect()
    } else {
        decode_section("associations", sections[2])?
    };
    let vector_bytes = sections[3];

    let bad = |reason: String| Err(Error::corrupt_snapshot(reason));
    if concepts.len() as u64 != meta.concepts || associations.len() as u64 != meta.associations {
        return bad("counts in the meta section do not match the sections".into());
    }
    let dim = meta.dimension.unwrap_or(0) as usize;
    if vector_bytes.len() as u64 != meta.vectors * dim as u64 * 4 {
        return bad(format!(
            "vectors section has {} bytes, expected {} vectors of dimension {dim}",
            vector_bytes.len(),
            meta.vectors
        ));
    }
    let mut floats = vector_bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]));
    let mut previous: Option<ConceptId> = None;
    let mut loaded = Vec::with_capacity(concepts.len());
    for c in concepts {
        if previous.is_some_and(|p| p >= c.id) {
            return bad(format!(
                "concepts are not in strictly increasing id order at {}",
                c.id
            ));
        }
        previous = Some(c.id);
        let embedding = if c.has_vector {
            let v: Box<[f32]> = floats.by_ref().take(dim).collect();
            if v.len() != dim || dim == 0 {
                return bad("vectors section ends before the last vector".into());
            }
            Some(v)
        } else {
            None
        };
        loaded.push(Concept {
            id: c.id,
            content: c.content,
            embedding,
            strength: c.strength,
            confidence: c.confidence,
            metadata: c.metadata.into(),
            created_ms: c.created_ms,
            updated_ms: c.updated_ms,
        });
    }
    Ok(Decoded {
        covered_seq: covered,
        version,
        dimension: meta.dimension,
        language: meta.language,
        indexed: meta.indexed,
        concepts: loaded,
        associations,
        vector_index: sections[4],
        text_index: sections.get(5).copied().unwrap_or_default(),
    })
}
