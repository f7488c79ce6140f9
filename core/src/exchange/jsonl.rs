//! The JSON Lines exchange format, shared by `sutra import`/`sutra export`, the HTTP import and
//! export endpoints and the browser build's import and export. One JSON object per line:
//!
//! ```text
//! {"type":"memory","format":5,"dimension":3,"language":"english","indexed_keys":["user"]}
//! {"type":"concept","id":"…32 hex…","content":"rain","embedding":[0.1,0.2,0.3],"strength":1.0,"confidence":0.9,"metadata":{"src":"x","year":2024,"tags":["weather"]},"created_ms":1700000000000,"updated_ms":1700000000000}
//! {"type":"association","source":"…","target":"…","kind":"causal","label":"causes","confidence":0.8,"weight":1.0,"metadata":{"doc":"a.txt"},"valid_from_ms":null,"valid_until_ms":null,"created_ms":…,"updated_ms":…}
//! ```
//!
//! The header line is optional on import (it fixes the dimension, the language texts are
//! stemmed in for full-text search, and the metadata keys indexed for filters). Concepts come before the
//! associations that use them. Export writes concepts in id order, then associations by source,
//! every field. Timestamps are kept exactly, so export then import reproduces a memory.
//!
//! On import a line may leave out what the HTTP API has defaults for: a concept's `id` (derived
//! from its content), `embedding`, `strength` and `confidence` (1), `metadata`, and a concept's
//! or an association's `confidence` and `weight` (1), an association's `label` (none),
//! `metadata` and validity (always valid), and timestamps (`updated_ms`: the time of
//! the import; `created_ms`: kept from the concept or association it replaces, else its
//! `updated_ms`). A rejected line is reported with its number, and the reason names the field
//! (and a metadata value's key).
//!
//! Versions: 5 (today's) gives the header the keys indexed for filters; 4 the memory's stemming
//! language; 3 gives associations a label, metadata and validity; 2 allowed metadata values of
//! every type (a string, a number, a boolean, a list of strings); 1 allowed strings only. All
//! are imported: an older file is a version 5 file without indexed keys (before 4, without a
//! language; before 3, whose associations have no label, metadata or validity; 1, whose
//! metadata values are all strings).

use super::bounded::{Capped, MetadataIn};
use super::VectorIn;
use crate::error::Error;
use crate::model::Language;
use crate::model::Validity;
use crate::{Association, Concept, ConceptId, Kind, Label, Metadata, Op};
use serde::{Deserialize, Serialize};

/// The format's version, in the header line of an export.
pub const FORMAT_VERSION: u32 = 5;
/// The oldest version an import reads.
pub const FORMAT_VERSION_OLDEST: u32 = 1;
/// Longest line accepted on import, in bytes.
pub const LINE_BYTES_MAX: usize = 2 * 1024 * 1024;
// A concept exported at every limit at once — every character of its content and metadata
// escaped as \uXXXX (6 bytes), a vector of the largest dimension at 16 characters a number —
// fits in one line an import takes: whatever is exported can be imported back.
const _: () = assert!(
    6 * (crate::limits::CONTENT_BYTES_MAX + crate::limits::METADATA_BYTES_MAX)
        + 16 * crate::limits::DIMENSION_MAX as usize
        + 1024
        <= LINE_BYTES_MAX
);
/// Most operations in one batch written by an import.
pub const IMPORT_BATCH_OPS: usize = 1000;
/// Most bytes of lines in one batch written by an import (a batch also ends at
/// [`IMPORT_BATCH_OPS`]): with lines of up to [`LINE_BYTES_MAX`], what an import holds at once
/// stays a few megabytes whatever the lines.
pub const IMPORT_BATCH_BYTES: usize = 4 * 1024 * 1024;
/// Rejected lines listed in an import summary (the count covers them all).
pub const REJECTIONS_LISTED_MAX: usize = 100;

/// Why a line of an import was refused (its text is the rejection's `reason`).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LineError {
    /// The line is over [`LINE_BYTES_MAX`].
    #[error("line is {bytes} bytes; the limit is {limit}")]
    TooLong {
        /// Its length.
        bytes: u64,
        /// The limit.
        limit: u64,
    },
    /// The line is not UTF-8.
    #[error("line is not UTF-8 (invalid byte at offset {offset})")]
    NotUtf8 {
        /// Where the first invalid byte is.
        offset: u64,
    },
    /// The text could not be read (an I/O error where the lines come from).
    #[error("cannot read the file: {message}")]
    Unreadable {
        /// The reader's error.
        message: String,
    },
    /// The line is not a JSON object of the format (serde_json's message, without the line
    /// number, with the column).
    #[error("{message}")]
    Json {
        /// What the JSON reader said.
        message: String,
    },
    /// The `type` is not one of the format's.
    #[error("type {found:?} is not a line type: use memory, concept or association")]
    LineType {
        /// The type given (shortened).
        found: String,
    },
    /// A field this type of line does not take.
    #[error("a {line} line has no field {field} (it has {allowed})")]
    StrayField {
        /// The line's type.
        line: String,
        /// The field.
        field: String,
        /// The fields it takes.
        allowed: String,
    },
    /// A field this type of line needs.
    #[error("{field} is missing (a {line} line needs it)")]
    Missing {
        /// The field.
        field: &'static str,
        /// The line's type.
        line: &'static str,
    },
    /// A header of another format version.
    #[error("format {found} is not supported (this build reads formats {oldest} to {supported})")]
    Format {
        /// The version in the line.
        found: u32,
        /// The oldest version this build reads.
        oldest: u32,
        /// The newest version this build reads.
        supported: u32,
    },
    /// A value the engine's rules refuse (or a write of the line refused).
    #[error(transparent)]
    Value(#[from] Error),
}

/// A numbered line for [`import`]: its text, or why it could not be read.
pub type NumberedLine = (u64, Result<String, LineError>);

/// A line as exported: every field, borrowed from the state.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum LineOut<'a> {
    Memory {
        format: u32,
        dimension: Option<u32>,
        language: Option<&'static str>,
        indexed_keys: Vec<&'a str>,
    },
    Concept {
        id: String,
        content: &'a str,
        embedding: Option<&'a [f32]>,
        strength: f32,
        confidence: f32,
        metadata: &'a Metadata,
        created_ms: u64,
        updated_ms: u64,
    },
    Association {
        source: String,
        target: String,
        kind: &'static str,
        label: &'a str,
        confidence: f32,
        weight: f32,
        metadata: &'a Metadata,
        valid_from_ms: Option<u64>,
        valid_until_ms: Option<u64>,
        created_ms: u64,
        updated_ms: u64,
    },
}

/// A line as imported: one flat object whose `type` says which fields it may have. (Not an
/// enum tagged by `type`: serde would buffer such a line whole before reading its fields, and
/// the bounded embedding and metadata could not refuse what is over their limits as they read.)
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct LineIn {
    #[serde(rename = "type")]
    kind_of_line: String,
    format: Option<u32>,
    dimension: Option<u32>,
    language: Option<String>,
    indexed_keys: Option<Capped<String, { crate::limits::INDEXED_KEYS_MAX }>>,
    id: Option<String>,
    content: Option<String>,
    embedding: Option<VectorIn>,
    strength: Option<f32>,
    confidence: Option<f32>,
    metadata: Option<MetadataIn>,
    source: Option<String>,
    target: Option<String>,
    kind: Option<String>,
    label: Option<String>,
    weight: Option<f32>,
    valid_from_ms: Option<u64>,
    valid_until_ms: Option<u64>,
    created_ms: Option<u64>,
    updated_ms: Option<u64>,
}

impl LineIn {
    /// Refuses the fields present that a line of this type does not take.
    fn only(&self, allowed: &[&str]) -> Result<(), LineError> {
        let present = [
            ("format", self.format.is_some()),
            ("dimension", self.dimension.is_some()),
            ("language", self.language.is_some()),
            ("indexed_keys", self.indexed_keys.is_some()),
            ("id", self.id.is_some()),
            ("content", self.content.is_some()),
            ("embedding", self.embedding.is_some()),
            ("strength", self.strength.is_some()),
            ("confidence", self.confidence.is_some()),
            ("metadata", self.metadata.is_some()),
            ("source", self.source.is_some()),
            ("target", self.target.is_some()),
            ("kind", self.kind.is_some()),
            ("label", self.label.is_some()),
            ("weight", self.weight.is_some()),
            ("valid_from_ms", self.valid_from_ms.is_some()),
            ("valid_until_ms", self.valid_until_ms.is_some()),
            ("created_ms", self.created_ms.is_some()),
            ("updated_ms", self.updated_ms.is_some()),
        ];
        match super::stray_field(&present, allowed) {
            Some(name) => Err(LineError::StrayField {
                line: self.kind_of_line.clone(),
                field: name.to_string(),
                allowed: allowed.join(", "),
            }),
            None => Ok(()),
        }
    }
}

fn required<T>(value: Option<T>, field: &'static str, line: &'static str) -> Result<T, LineError> {
    value.ok_or(LineError::Missing { field, line })
}

/// The header line for a memory.
pub fn header(dimension: Option<u32>, language: Option<Language>, indexed_keys: &[&str]) -> String {
    line(&LineOut::Memory {
        format: FORMAT_VERSION,
        dimension,
        language: language.map(Language::as_str),
        indexed_keys: indexed_keys.to_vec(),
    })
}

/// A concept's line.
pub fn concept_line(c: &Concept) -> String {
    line(&LineOut::Concept {
        id: c.id.to_string(),
        content: &c.content,
        embedding: c.embedding.as_deref(),
        strength: c.strength,
        confidence: c.confidence,
        metadata: &c.metadata,
        created_ms: c.created_ms,
        updated_ms: c.updated_ms,
    })
}

/// An association's line.
pub fn association_line(a: &Association) -> String {
    line(&LineOut::Association {
        source: a.source.to_string(),
        target: a.target.to_string(),
        kind: a.kind.as_str(),
        label: a.label.as_str(),
        confidence: a.confidence,
        weight: a.weight,
        metadata: &a.metadata,
        valid_from_ms: a.validity.from_ms,
        valid_until_ms: a.validity.until_ms,
        created_ms: a.created_ms,
        updated_ms: a.updated_ms,
    })
}

fn line(l: &LineOut) -> String {
    // Serializing these plain structs cannot fail; an empty object would be refused on import.
    let mut s = serde_json::to_string(l).unwrap_or_else(|_| String::from("{}"));
    s.push('\n');
    s
}

/// A JSON error in the API's words (every line is parsed on its own, so a syntax error's
/// position is its column).
fn json_reason(e: &serde_json::Error) -> LineError {
    LineError::Json {
        message: super::wording::json_problem(e),
    }
}

/// Parses one line into the operations that reproduce it: one for a concept or an association,
/// none for a blank line, those a header sets (its dimension, its language). `now_ms` stands
/// for timestamps the line leaves out.
pub fn parse(text: &str, now_ms: u64) -> Result<Vec<Op>, LineError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(Vec::new());
    }
    if text.len() > LINE_BYTES_MAX {
        return Err(LineError::TooLong {
            bytes: text.len() as u64,
            limit: LINE_BYTES_MAX as u64,
        });
    }
    let parsed: LineIn = serde_json::from_str(text).map_err(|e| json_reason(&e))?;
    let id = |field: &str, text: &str| ConceptId::parse_field(field, text);
    let op = match parsed.kind_of_line.as_str() {
        "memory" => {
            parsed.only(&["format", "dimension", "language", "indexed_keys"])?;
            let format = required(parsed.format, "format", "memory")?;
            if !(FORMAT_VERSION_OLDEST..=FORMAT_VERSION).contains(&format) {
                return Err(LineError::Format {
                    found: format,
                    oldest: FORMAT_VERSION_OLDEST,
                    supported: FORMAT_VERSION,
                });
            }
            let language = match &parsed.language {
                Some(name) => Some(Language::parse("language", name)?),
                None => None,
            };
            let dimension = parsed
                .dimension
                .map(|dimension| Op::SetDimension { dimension });
            let language = language.map(|language| Op::SetLanguage { language });
            // No keys is what a new memory has: nothing to write.
            let indexed = match parsed.indexed_keys {
                Some(keys) => {
                    let keys = keys.check("indexed_keys")?;
                    let op = Op::index_metadata(keys);
                    op.validate("")?;
                    (!matches!(&op, Op::IndexMetadata { keys } if keys.is_empty())).then_some(op)
                }
                None => None,
            };
            return Ok(dimension
                .into_iter()
                .chain(language)
                .chain(indexed)
                .collect());
        }
        "concept" => {
            parsed.only(&[
                "id",
                "content",
                "embedding",
                "strength",
                "confidence",
                "metadata",
                "created_ms",
                "updated_ms",
            ])?;
            let content = required(parsed.content, "content", "concept")?;
            let id = match &parsed.id {
                Some(text) => id("id", text)?,
                None => ConceptId::from_content(&content),
            };
            let embedding = parsed
                .embedding
                .map(|e| e.check("embedding (dimension)"))
                .transpose()?;
            let metadata = MetadataIn::or_none(parsed.metadata)?;
            Op::PutConcept {
                id,
                content,
                embedding,
                strength: parsed.strength.unwrap_or(1.0),
                confidence: parsed.confidence.unwrap_or(1.0),
                metadata,
                at_ms: parsed.updated_ms.unwrap_or(now_ms),
                created_ms: parsed.created_ms,
            }
        }
        "association" => {
            parsed.only(&[
                "source",
                "target",
                "kind",
                "label",
                "confidence",
                "weight",
                "metadata",
                "valid_from_ms",
                "valid_until_ms",
                "created_ms",
                "updated_ms",
            ])?;
            let metadata = MetadataIn::or_none(parsed.metadata)?;
            Op::PutAssociation {
                source: id("source", &required(parsed.source, "source", "association")?)?,
                target: id("target", &required(parsed.target, "target", "association")?)?,
                kind: Kind::parse(&required(parsed.kind, "kind", "association")?)?,
                label: Label::from(parsed.label.unwrap_or_default()),
                confidence: parsed.confidence.unwrap_or(1.0),
                weight: parsed.weight.unwrap_or(1.0),
                metadata,
                validity: Validity {
                    from_ms: parsed.valid_from_ms,
                    until_ms: parsed.valid_until_ms,
                },
                at_ms: parsed.updated_ms.unwrap_or(now_ms),
                created_ms: parsed.created_ms,
            }
        }
        other => {
            return Err(LineError::LineType {
                found: other.chars().take(64).collect::<String>(),
            })
        }
    };
    // The values' own rules, checked here so that a bad line is rejected alone and named.
    op.validate("")?;
    Ok(vec![op])
}

/// A rejected line.
#[derive(Serialize, Debug, Clone, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Rejection {
    /// 1-based line number.
    pub line: u64,
    /// Why.
    pub reason: String,
}

/// What an import did.
#[derive(Serialize, Debug, Clone, PartialEq, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImportSummary {
    /// Concepts written.
    pub concepts: u64,
    /// Associations written.
    pub associations: u64,
    /// Lines rejected, in all.
    pub rejected_count: u64,
    /// The first rejected lines and why.
    pub rejected: Vec<Rejection>,
}

impl ImportSummary {
    fn reject(&mut self, line: u64, why: &LineError) {
        self.rejected_count += 1;
        if self.rejected.len() < REJECTIONS_LISTED_MAX {
            self.rejected.push(Rejection {
                line,
                reason: why.to_string(),
            });
        }
    }

    fn count(&mut self, op: &Op) {
        match op {
            Op::PutConcept { .. } => self.concepts += 1,
            Op::PutAssociation { .. } => self.associations += 1,
            _ => {}
        }
    }
}

/// An import stopped by a storage failure: what it had written before, and why it stopped.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportStopped {
    /// The lines written (each batch durable) and rejected before it stopped.
    pub summary: ImportSummary,
    /// The storage's error.
    pub reason: Error,
}

impl std::fmt::Display for ImportStopped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} (before it stopped: {} concepts and {} associations written, {} lines rejected)",
            self.reason,
            self.summary.concepts,
            self.summary.associations,
            self.summary.rejected_count
        )
    }
}

/// Imports lines through `write` (which writes one batch durably and returns its error as
/// text, with `true` when the error is the batch's own fault rather than the storage's).
/// Lines are written in batches of at most [`IMPORT_BATCH_OPS`] operations and
/// [`IMPORT_BATCH_BYTES`] bytes of lines; a refused batch is retried line by line so that
/// exactly the bad lines are rejected, each with its line number. A storage failure stops the
/// import (the batches before it are written). `now_ms` stands for timestamps lines leave out.
pub fn import<I, W>(
    lines: I,
    now_ms: u64,
    mut write: W,
    mut progress: impl FnMut(u64),
) -> Result<ImportSummary, ImportStopped>
where
    I: IntoIterator<Item = NumberedLine>,
    W: FnMut(Vec<Op>) -> Result<(), Error>,
{
    let mut summary = ImportSummary::default();
    let mut batch: Vec<(u64, Op)> = Vec::with_capacity(IMPORT_BATCH_OPS);
    let mut batch_bytes = 0usize;
    let mut flush =
        |batch: &mut Vec<(u64, Op)>, summary: &mut ImportSummary| -> Result<(), Error> {
            if batch.is_empty() {
                return Ok(());
            }
            let ops: Vec<Op> = batch.iter().map(|(_, op)| op.clone()).collect();
            match write(ops) {
                Ok(()) => {
                    for (_, op) in batch.iter() {
                        summary.count(op);
                    }
                }
                Err(e) if e.is_storage_failure() => return Err(e),
                Err(_) => {
                    for (no, op) in batch.iter() {
                        match write(vec![op.clone()]) {
                            Ok(()) => summary.count(op),
                            Err(e) if e.is_storage_failure() => return Err(e),
                            Err(e) => summary.reject(*no, &LineError::Value(e)),
                        }
                    }
                }
            }
            batch.clear();
            Ok(())
        };
    for (no, text) in lines {
        progress(no);
        let parsed = text.and_then(|t| {
            batch_bytes += t.len();
            parse(&t, now_ms)
        });
        match parsed {
            Ok(ops) => {
                batch.extend(ops.into_iter().map(|op| (no, op)));
                if batch.len() >= IMPORT_BATCH_OPS || batch_bytes >= IMPORT_BATCH_BYTES {
                    if let Err(reason) = flush(&mut batch, &mut summary) {
                        return Err(ImportStopped { summary, reason });
                    }
                    batch_bytes = 0;
                }
            }
            Err(why) => summary.reject(no, &why),
        }
    }
    match flush(&mut batch, &mut summary) {
        Ok(()) => Ok(summary),
        Err(reason) => Err(ImportStopped { summary, reason }),
    }
}

/// Splits text into numbered lines for [`import`].
pub fn numbered_lines(text: &str) -> impl Iterator<Item = NumberedLine> + '_ {
    text.lines()
        .enumerate()
        .map(|(i, l)| (i as u64 + 1, Ok(l.to_string())))
}

/// Splits bytes that arrive in pieces (a request body, a file read a block at a time) into
/// numbered lines for [`import`], holding at most [`LINE_BYTES_MAX`] bytes of a line: a longer
/// line is skipped to its end without being kept, and given as an error, as is a line that is
/// not UTF-8.
#[derive(Debug, Default)]
pub struct LineSplitter {
    buffer: Vec<u8>,
    /// Bytes of the current line when it is over the limit (then `buffer` is empty).
    overlong: Option<u64>,
    /// Number of the line being read, less one.
    done: u64,
}

impl LineSplitter {
    /// A splitter at the start of a text.
    pub fn new() -> Self {
        LineSplitter::default()
    }

    /// Lines numbered so far.
    pub fn lines(&self) -> u64 {
        self.done
    }

    fn emit(&mut self, out: &mut impl FnMut(u64, Result<String, LineError>)) {
        self.done += 1;
        let line = match self.overlong.take() {
            Some(bytes) => Err(LineError::TooLong {
                bytes,
                limit: LINE_BYTES_MAX as u64,
            }),
            None => {
                if self.buffer.last() == Some(&b'\r') {
                    self.buffer.pop();
                }
                let bytes = std::mem::take(&mut self.buffer);
                String::from_utf8(bytes).map_err(|e| LineError::NotUtf8 {
                    offset: e.utf8_error().valid_up_to() as u64,
                })
            }
        };
        out(self.done, line);
    }

    fn append(&mut self, piece: &[u8]) {
        match &mut self.overlong {
            Some(bytes) => *bytes += piece.len() as u64,
            None => {
                if self.buffer.len() + piece.len() > LINE_BYTES_MAX {
                    self.overlong = Some((self.buffer.len() + piece.len()) as u64);
                    self.buffer = Vec::new();
                } else {
                    self.buffer.extend_from_slice(piece);
                }
            }
        }
    }

    /// Takes the next piece of bytes; calls `out` with each line it completes.
    pub fn push(&mut self, bytes: &[u8], out: &mut impl FnMut(u64, Result<String, LineError>)) {
        let mut rest = bytes;
        while let Some(end) = rest.iter().position(|&b| b == b'\n') {
            self.append(&rest[..end]);
            self.emit(out);
            rest = &rest[end + 1..];
        }
        self.append(rest);
    }

    /// Ends the text: the last line, if it did not end with a newline.
    pub fn finish(mut self, out: &mut impl FnMut(u64, Result<String, LineError>)) {
        if !self.buffer.is_empty() || self.overlong.is_some() {
            self.emit(out);
        }
    }
}

/// Export as a sequence of text chunks: the header, then a page of concepts per chunk, then
/// the associations, by source in id order and each source's in (target, kind) order, at most
/// [`EXPORT_ASSOCIATIONS_PER_CHUNK`] per chunk — a hub's list is cut across chunks and picked
/// up where it stopped, so an export is complete whatever the degree. Each chunk is read under
/// a short read lock, so writers go on during a long export; a concept deleted between chunks
/// may leave its associations out.
pub struct ExportChunks {
    reader: crate::Reader,
    phase: Phase,
}

enum Phase {
    Header,
    Concepts(Option<ConceptId>),
    /// The associations of the concepts after `after` (of all of them for `None`), and first
    /// the rest of the list of `within.0`, after `within.1`, cut at the end of the last chunk.
    Associations {
        after: Option<ConceptId>,
        within: Option<(ConceptId, (ConceptId, Kind, Label))>,
    },
    Done,
}

/// Concepts per export chunk (and concepts whose associations one chunk examines, at most).
const EXPORT_PAGE: u32 = 500;
/// Association lines per export chunk, at most.
pub const EXPORT_ASSOCIATIONS_PER_CHUNK: usize = 5_000;

impl ExportChunks {
    /// Starts an export.
    pub fn new(reader: crate::Reader) -> Self {
        ExportChunks {
            reader,
            phase: Phase::Header,
        }
    }
}

/// One chunk of association lines (see [`ExportChunks`]) and where the next one starts.
fn associations_chunk(
    db: &crate::Db,
    mut after: Option<ConceptId>,
    within: Option<(ConceptId, (ConceptId, Kind, Label))>,
) -> (String, Phase) {
    let mut text = String::new();
    let mut lines = 0usize;
    let mut examined = 0u32;
    let mut current = within.map(|(source, cursor)| (source, Some(cursor)));
    loop {
        let (source, cursor) = match current.take() {
            Some(resumed) => resumed,
            None => {
                if examined == EXPORT_PAGE {
                    return (
                        text,
                        Phase::Associations {
                            after,
                            within: None,
                        },
                    );
                }
                match db.concepts.after(after).next() {
                    Some(c) => {
                        examined += 1;
                        (c.id, None)
                    }
                    None => return (text, Phase::Done),
                }
            }
        };
        let mut last = None;
        for (target, kind, label, data) in db.links.outgoing_after(&source, cursor.as_ref()) {
            if lines == EXPORT_ASSOCIATIONS_PER_CHUNK {
                // The list is cut after the last line written (in this chunk, or before it).
                let within = last.or(cursor).map(|cut| (source, cut));
                return (text, Phase::Associations { after, within });
            }
            text.push_str(&association_line(&crate::graph::adjacency::assoc(
                source, target, kind, label, data,
            )));
            lines += 1;
            last = Some((target, kind, label.clone()));
        }
        after = Some(source);
    }
}

impl Iterator for ExportChunks {
    type Item = String;

    fn next(&mut self) -> Option<String> {
        let db = self.reader.db();
        let (chunk, next) = match std::mem::replace(&mut self.phase, Phase::Done) {
            Phase::Done => return None,
            Phase::Header => {
                let counts = db.counts();
                let keys: Vec<&str> = db.indexed_keys().collect();
                (
                    header(counts.dimension, counts.language, &keys),
                    Phase::Concepts(None),
                )
            }
            Phase::Concepts(after) => match db.scan(after, EXPORT_PAGE) {
                Ok(page) => (
                    page.concepts.iter().map(|c| concept_line(c)).collect(),
                    page.next.map_or(
                        Phase::Associations {
                            after: None,
                            within: None,
                        },
                        |n| Phase::Concepts(Some(n)),
                    ),
                ),
                Err(_) => (String::new(), Phase::Done),
            },
            Phase::Associations { after, within } => associations_chunk(&db, after, within),
        };
        drop(db);
        self.phase = next;
        Some(chunk)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A line's error as the rejection's reason.
    fn text(line: Result<String, LineError>) -> Result<String, String> {
        line.map_err(|e| e.to_string())
    }

    /// [`super::parse`] of a line of at most one operation, with its error as the rejection's
    /// reason.
    fn parse(line: &str, now_ms: u64) -> Result<Option<Op>, String> {
        let mut ops = super::parse(line, now_ms).map_err(|e| e.to_string())?;
        assert!(ops.len() <= 1, "{line} is one operation");
        Ok(ops.pop())
    }

    fn split(pieces: &[&[u8]]) -> Vec<(u64, Result<String, String>)> {
        let mut lines = Vec::new();
        let mut splitter = LineSplitter::new();
        for piece in pieces {
            splitter.push(piece, &mut |n, l| lines.push((n, text(l))));
        }
        splitter.finish(&mut |n, l| lines.push((n, text(l))));
        lines
    }

    #[test]
    fn lines_split_across_pieces_with_crlf_and_no_final_newline() {
        let lines = split(&[b"ab", b"c\r\nde", b"f\n\ng", b"h"]);
        let want: Vec<(u64, Result<String, String>)> = vec![
            (1, Ok("abc".into())),
            (2, Ok("def".into())),
            (3, Ok(String::new())),
            (4, Ok("gh".into())),
        ];
        assert_eq!(lines, want);
        assert!(
            split(&[b"x\n"]).len() == 1,
            "a final newline ends the last line"
        );
    }

    #[test]
    fn an_overlong_line_is_skipped_without_being_kept_and_the_next_goes_on() {
        let block = vec![b'x'; 1024 * 1024];
        let mut splitter = LineSplitter::new();
        let mut lines = Vec::new();
        splitter.push(b"first\n", &mut |n, l| lines.push((n, text(l))));
        for _ in 0..300 {
            splitter.push(&block, &mut |n, l| lines.push((n, text(l))));
            assert!(
                splitter.buffer.capacity() <= LINE_BYTES_MAX,
                "never holds more than a line"
            );
        }
        splitter.push(b"\n{\"ok\":1}\n\xff\xfe\n", &mut |n, l| {
            lines.push((n, text(l)))
        });
        splitter.finish(&mut |n, l| lines.push((n, text(l))));
        assert_eq!(lines[0], (1, Ok("first".into())));
        assert_eq!(
            lines[1],
            (
                2,
                Err(format!(
                    "line is {} bytes; the limit is {LINE_BYTES_MAX}",
                    300 * 1024 * 1024
                ))
            )
        );
        assert_eq!(lines[2], (3, Ok("{\"ok\":1}".into())));
        assert_eq!(
            lines[3],
            (
                4,
                Err("line is not UTF-8 (invalid byte at offset 0)".into())
            )
        );
        assert_eq!(lines.len(), 4);
    }

    #[test]
    fn lines_leave_out_what_the_api_has_defaults_for() {
        let now = 1_700_000_000_000;
        let op = parse(r#"{"type":"concept","content":"rain"}"#, now)
            .expect("minimal concept")
            .expect("op");
        assert_eq!(
            op,
            Op::PutConcept {
                id: ConceptId::from_content("rain"),
                content: "rain".into(),
                embedding: None,
                strength: 1.0,
                confidence: 1.0,
                metadata: Metadata::new(),
                at_ms: now,
                created_ms: None,
            }
        );
        let a = ConceptId::from_content("a");
        let op = parse(
            &format!(r#"{{"type":"association","source":"{a}","target":"{a}","kind":"causal"}}"#),
            now,
        )
        .expect("minimal association")
        .expect("op");
        assert_eq!(op, Op::put_association(a, a, Kind::Causal, 1.0, 1.0, now));
    }

    #[test]
    fn every_version_imports_and_typed_metadata_comes_back_as_it_went() {
        for format in [1, 2, 3, 4, 5] {
            let line = format!(r#"{{"type":"memory","format":{format},"dimension":2}}"#);
            assert_eq!(parse(&line, 1), Ok(Some(Op::SetDimension { dimension: 2 })));
        }
        assert_eq!(
            parse(r#"{"type":"memory","format":6}"#, 1),
            Err("format 6 is not supported (this build reads formats 1 to 5)".into())
        );
        let out = header(Some(2), Some(Language::German), &["user", "year"]);
        assert_eq!(
            out.trim_end(),
            r#"{"type":"memory","format":5,"dimension":2,"language":"german","indexed_keys":["user","year"]}"#
        );
        assert_eq!(
            super::parse(&out, 1).map_err(|e| e.to_string()),
            Ok(vec![
                Op::SetDimension { dimension: 2 },
                Op::SetLanguage {
                    language: Language::German
                },
                Op::IndexMetadata {
                    keys: vec!["user".into(), "year".into()]
                }
            ])
        );
        assert!(
            parse(r#"{"type":"memory","format":4,"language":"klingon"}"#, 1)
                .expect_err("unknown")
                .contains("\"klingon\" is not a stemming language: use one of arabic")
        );
        let line = r#"{"type":"concept","content":"x","metadata":{"n":-3,"on":false,"tags":["a","b"],"w":0.5,"src":"s"}}"#;
        let Some(Op::PutConcept { id, metadata, .. }) = parse(line, 7).expect("parses") else {
            panic!("a concept");
        };
        let concept = Concept {
            id,
            content: "x".into(),
            embedding: None,
            strength: 1.0,
            confidence: 1.0,
            metadata: metadata.clone().into(),
            created_ms: 7,
            updated_ms: 7,
        };
        let out = concept_line(&concept);
        assert!(
            out.contains(r#""metadata":{"n":-3,"on":false,"src":"s","tags":["a","b"],"w":0.5}"#),
            "{out}"
        );
        let Some(Op::PutConcept { metadata: back, .. }) = parse(&out, 9).expect("re-parses") else {
            panic!("a concept");
        };
        assert_eq!(back, metadata);
    }

    /// An association's label, metadata and validity go out and come back; an older line
    /// without them reads as none.
    #[test]
    fn association_lines_carry_label_metadata_and_validity() {
        let (a, b) = (ConceptId::from_content("a"), ConceptId::from_content("b"));
        let association = Association {
            source: a,
            target: b,
            kind: Kind::Semantic,
            label: Label::from("works_at"),
            confidence: 0.5,
            weight: 2.0,
            created_ms: 3,
            updated_ms: 4,
            validity: Validity {
                from_ms: Some(1),
                until_ms: Some(9),
            },
            metadata: Metadata::from([("doc".to_string(), crate::Value::from("hr.pdf"))]).into(),
        };
        let out = association_line(&association);
        assert_eq!(
            out,
            format!(
                "{{\"type\":\"association\",\"source\":\"{a}\",\"target\":\"{b}\",\"kind\":\"semantic\",\"label\":\"works_at\",\"confidence\":0.5,\"weight\":2.0,\"metadata\":{{\"doc\":\"hr.pdf\"}},\"valid_from_ms\":1,\"valid_until_ms\":9,\"created_ms\":3,\"updated_ms\":4}}\n"
            )
        );
        let Some(Op::PutAssociation {
            label,
            metadata,
            validity,
            ..
        }) = parse(&out, 5).expect("parses")
        else {
            panic!("an association");
        };
        assert_eq!(
            (label, &metadata, validity),
            (
                association.label,
                &*association.metadata,
                association.validity
            )
        );
        let old =
            format!(r#"{{"type":"association","source":"{a}","target":"{b}","kind":"semantic"}}"#);
        let Some(Op::PutAssociation {
            label,
            metadata,
            validity,
            ..
        }) = parse(&old, 5).expect("parses")
        else {
            panic!("an association");
        };
        assert_eq!(
            (label, metadata, validity),
            (Label::EMPTY, Metadata::new(), Validity::ALWAYS)
        );
        let backwards = format!(
            r#"{{"type":"association","source":"{a}","target":"{b}","kind":"semantic","valid_from_ms":5,"valid_until_ms":4}}"#
        );
        assert_eq!(
            parse(&backwards, 5).expect_err("refused").to_string(),
            "invalid valid_until_ms: 4 (1970-01-01T00:00:00.004Z) is before valid_from_ms 5 (1970-01-01T00:00:00.005Z)"
        );
    }

    #[test]
    fn errors_name_the_field_and_the_key() {
        let err = parse(
            r#"{"type":"concept","content":"x","metadata":{"src":"a","year":null}}"#,
            1,
        )
        .expect_err("null");
        assert_eq!(
            err,
            "metadata[\"year\"]: expected a string, a number, a boolean or a list of strings, got null"
        );
        let err = parse(r#"{"type":"concept","content":x}"#, 1).expect_err("syntax");
        assert_eq!(
            err,
            "not valid JSON: a value was expected here (at column 29)"
        );
        let err =
            parse(r#"{"type":"concept","content":"x","confidence":1.5}"#, 1).expect_err("range");
        assert_eq!(err, "invalid confidence: must be from 0 to 1, not 1.5");
        let err = parse(r#"{"type":"concept"}"#, 1).expect_err("no content");
        assert_eq!(err, "content is missing (a concept line needs it)");
        let err = parse(r#"{"type":"association","content":"x"}"#, 1).expect_err("wrong field");
        assert!(err.contains("has no field content"), "{err}");
        let err = parse(r#"{"type":"thing"}"#, 1).expect_err("type");
        assert!(err.contains("not a line type"), "{err}");
        let many: String = (0..70)
            .map(|i| format!("\"k{i}\":\"v\""))
            .collect::<Vec<_>>()
            .join(",");
        let err = parse(
            &format!(r#"{{"type":"concept","content":"x","metadata":{{{many}}}}}"#),
            1,
        )
        .expect_err("entries");
        assert!(err.contains("metadata (entries) is too large: 70"), "{err}");
    }
}
