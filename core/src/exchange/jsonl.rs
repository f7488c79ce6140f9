//! The JSON Lines exchange format, shared by `sutra import`/`sutra export`, the HTTP import and
//! export endpoints and the browser build's import and export. One JSON object per line:
//!
//! ```text
//! {"type":"memory","format":1,"dimension":3}
//! {"type":"concept","id":"…32 hex…","content":"rain","embedding":[0.1,0.2,0.3],"strength":1.0,"confidence":0.9,"metadata":{"src":"x"},"created_ms":1700000000000,"updated_ms":1700000000000}
//! {"type":"association","source":"…","target":"…","kind":"causal","confidence":0.8,"weight":1.0,"created_ms":…,"updated_ms":…}
//! ```
//!
//! The header line is optional on import (it fixes the dimension). Concepts come before the
//! associations that use them. Export writes concepts in id order, then associations by source.
//! Timestamps are kept exactly, so export then import reproduces a memory.

use crate::{Association, Concept, ConceptId, Kind, Metadata, Op};
use serde::{Deserialize, Serialize};

/// The format's version, in the header line.
pub const FORMAT_VERSION: u32 = 1;
/// Longest line accepted on import, in bytes.
pub const LINE_BYTES_MAX: usize = 2 * 1024 * 1024;
/// Operations per batch when importing.
pub const IMPORT_BATCH_OPS: usize = 1000;
/// Rejected lines listed in an import summary (the count covers them all).
pub const REJECTIONS_LISTED_MAX: usize = 100;

/// One line.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Line {
    /// The header.
    Memory {
        /// Format version.
        format: u32,
        /// The memory's vector dimension, if fixed.
        dimension: Option<u32>,
    },
    /// A concept, every field.
    Concept {
        /// Id.
        id: String,
        /// Text.
        content: String,
        /// Embedding.
        #[serde(default)]
        embedding: Option<Vec<f32>>,
        /// Strength.
        strength: f32,
        /// Confidence.
        confidence: f32,
        /// Metadata.
        #[serde(default)]
        metadata: Metadata,
        /// Created (ms).
        created_ms: u64,
        /// Updated (ms).
        updated_ms: u64,
    },
    /// An association, every field.
    Association {
        /// Source id.
        source: String,
        /// Target id.
        target: String,
        /// Kind.
        kind: String,
        /// Confidence.
        confidence: f32,
        /// Weight.
        weight: f32,
        /// Created (ms).
        created_ms: u64,
        /// Updated (ms).
        updated_ms: u64,
    },
}

/// The header line for a memory.
pub fn header(dimension: Option<u32>) -> String {
    line(&Line::Memory {
        format: FORMAT_VERSION,
        dimension,
    })
}

/// A concept's line.
pub fn concept_line(c: &Concept) -> String {
    line(&Line::Concept {
        id: c.id.to_string(),
        content: c.content.to_string(),
        embedding: c.embedding.as_deref().map(<[f32]>::to_vec),
        strength: c.strength,
        confidence: c.confidence,
        metadata: Metadata::clone(&c.metadata),
        created_ms: c.created_ms,
        updated_ms: c.updated_ms,
    })
}

/// An association's line.
pub fn association_line(a: &Association) -> String {
    line(&Line::Association {
        source: a.source.to_string(),
        target: a.target.to_string(),
        kind: a.kind.as_str().to_string(),
        confidence: a.confidence,
        weight: a.weight,
        created_ms: a.created_ms,
        updated_ms: a.updated_ms,
    })
}

fn line(l: &Line) -> String {
    // Serializing these plain structs cannot fail; an empty object would be refused on import.
    let mut s = serde_json::to_string(l).unwrap_or_else(|_| String::from("{}"));
    s.push('\n');
    s
}

/// Parses one line into the operation that reproduces it (`None` for blank lines).
pub fn parse(text: &str) -> Result<Option<Op>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    if text.len() > LINE_BYTES_MAX {
        return Err(format!(
            "line is {} bytes; the limit is {LINE_BYTES_MAX}",
            text.len()
        ));
    }
    let parsed: Line = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let id =
        |field: &str, text: &str| ConceptId::parse_field(field, text).map_err(|e| e.to_string());
    Ok(Some(match parsed {
        Line::Memory { format, dimension } => {
            if format != FORMAT_VERSION {
                return Err(format!(
                    "format {format} is not supported (this build reads {FORMAT_VERSION})"
                ));
            }
            match dimension {
                Some(dimension) => Op::SetDimension { dimension },
                None => return Ok(None),
            }
        }
        Line::Concept {
            id: text_id,
            content,
            embedding,
            strength,
            confidence,
            metadata,
            created_ms,
            updated_ms,
        } => Op::PutConcept {
            id: id("id", &text_id)?,
            content,
            embedding,
            strength,
            confidence,
            metadata,
            at_ms: updated_ms,
            created_ms: Some(created_ms),
        },
        Line::Association {
            source,
            target,
            kind,
            confidence,
            weight,
            created_ms,
            updated_ms,
        } => Op::PutAssociation {
            source: id("source", &source)?,
            target: id("target", &target)?,
            kind: Kind::parse(&kind).map_err(|e| e.to_string())?,
            confidence,
            weight,
            at_ms: updated_ms,
            created_ms: Some(created_ms),
        },
    }))
}

/// A rejected line.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct Rejection {
    /// 1-based line number.
    pub line: u64,
    /// Why.
    pub reason: String,
}

/// What an import did.
#[derive(Serialize, Debug, Clone, PartialEq, Default)]
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
    fn reject(&mut self, line: u64, reason: String) {
        self.rejected_count += 1;
        if self.rejected.len() < REJECTIONS_LISTED_MAX {
            self.rejected.push(Rejection { line, reason });
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

/// Imports lines through `write` (which writes one batch durably and returns its error as
/// text, with `true` when the error is the batch's own fault rather than the storage's).
/// Lines are written in batches; a refused batch is retried line by line so that exactly the
/// bad lines are rejected, each with its line number. A storage failure stops the import.
pub fn import<I, W>(
    lines: I,
    mut write: W,
    mut progress: impl FnMut(u64),
) -> Result<ImportSummary, String>
where
    I: IntoIterator<Item = (u64, Result<String, String>)>,
    W: FnMut(Vec<Op>) -> Result<(), (bool, String)>,
{
    let mut summary = ImportSummary::default();
    let mut batch: Vec<(u64, Op)> = Vec::with_capacity(IMPORT_BATCH_OPS);
    let mut flush =
        |batch: &mut Vec<(u64, Op)>, summary: &mut ImportSummary| -> Result<(), String> {
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
                Err((false, storage)) => return Err(storage),
                Err((true, _)) => {
                    for (no, op) in batch.iter() {
                        match write(vec![op.clone()]) {
                            Ok(()) => summary.count(op),
                            Err((false, storage)) => return Err(storage),
                            Err((true, reason)) => summary.reject(*no, reason),
                        }
                    }
                }
            }
            batch.clear();
            Ok(())
        };
    for (no, text) in lines {
        progress(no);
        let parsed = text.and_then(|t| parse(&t));
        match parsed {
            Ok(Some(op)) => {
                batch.push((no, op));
                if batch.len() >= IMPORT_BATCH_OPS {
                    flush(&mut batch, &mut summary)?;
                }
            }
            Ok(None) => {}
            Err(reason) => summary.reject(no, reason),
        }
    }
    flush(&mut batch, &mut summary)?;
    Ok(summary)
}

/// Splits text into numbered lines for [`import`].
pub fn numbered_lines(text: &str) -> impl Iterator<Item = (u64, Result<String, String>)> + '_ {
    text.lines()
        .enumerate()
        .map(|(i, l)| (i as u64 + 1, Ok(l.to_string())))
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
        within: Option<(ConceptId, (ConceptId, Kind))>,
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
    within: Option<(ConceptId, (ConceptId, Kind))>,
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
        let mut last = cursor;
        for (target, kind, data) in db.links.outgoing_after(&source, cursor) {
            if lines == EXPORT_ASSOCIATIONS_PER_CHUNK {
                // `last` is set: this list had at least one line in this chunk.
                let within = last.map(|cut| (source, cut));
                return (text, Phase::Associations { after, within });
            }
            text.push_str(&association_line(&crate::state::assoc(
                source, target, kind, data,
            )));
            lines += 1;
            last = Some((target, kind));
        }
        after = Some(source);
    }
}

impl Iterator for ExportChunks {
    type Item = String;

    fn next(&mut self) -> Option<String> {
        let db = self.reader.db();
        let (chunk, next) = match self.phase {
            Phase::Done => return None,
            Phase::Header => (header(db.counts().dimension), Phase::Concepts(None)),
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
