//! A state to and from a snapshot: what the state hands the snapshot format, and how it is
//! rebuilt from what the format read back (with the checks only the state can make: every
//! association's ends exist, no association twice, the vector index agrees with the concepts).

use crate::error::{Error, Result};
use crate::format::snapshot::{self, Contents};
use crate::graph::adjacency::EdgeData;
use crate::limits::LABELS_MAX;
use crate::model::{Association, Language};
use crate::state::concepts::Concepts;
use crate::state::Db;
use crate::text::{TextImage, TextIndex};
use crate::vector::{decode_image, HnswParams, VectorIndex};

impl Db {
    /// Encodes the whole state as a snapshot covering [`Db::last_seq`].
    pub fn encode_snapshot(&self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.write_snapshot(&mut out)?;
        Ok(out)
    }

    /// Writes the whole state as a snapshot covering [`Db::last_seq`] to `out` as it is
    /// encoded (the same bytes as [`Db::encode_snapshot`], without holding them: beyond the
    /// associations' order and the vector index's image, a few pieces of 64 KiB); returns the
    /// bytes written.
    pub fn write_snapshot(&self, out: &mut dyn std::io::Write) -> Result<u64> {
        let mut associations: Vec<Association> = Vec::with_capacity(self.links.len() as usize);
        associations.extend(self.links.iter());
        associations.sort_unstable_by(|a, b| {
            (a.source, a.target, a.kind, &a.label).cmp(&(b.source, b.target, b.kind, &b.label))
        });
        let encode_err = |what: &str, e: postcard::Error| Error::Storage {
            during: "snapshot encode",
            message: format!("{what}: {e}"),
        };
        let vector_index = postcard::to_allocvec(&self.vectors.image())
            .map_err(|e| encode_err("vector index", e))?;
        // A text index is stored once built (a memory never searched by words stores none).
        let text_index = match self.text.get() {
            Some(text) => {
                postcard::to_allocvec(&text.image()).map_err(|e| encode_err("text index", e))?
            }
            None => Vec::new(),
        };
        snapshot::write(
            Contents {
                covered_seq: self.last_seq,
                dimension: self.dimension,
                language: self.language,
                indexed: &self.indexed,
                concepts: self.concepts.values(),
                associations: &associations,
                vector_index: &vector_index,
                text_index: &text_index,
            },
            out,
        )
    }

    /// Decodes and checks a snapshot into a state whose vector graphs use `params`.
    pub fn decode_snapshot(bytes: &[u8], params: HnswParams) -> Result<Db> {
        Db::decode_snapshot_versioned(bytes, params).map(|(db, _)| db)
    }

    /// [`Db::decode_snapshot`], with the file's format version.
    pub(crate) fn decode_snapshot_versioned(bytes: &[u8], params: HnswParams) -> Result<(Db, u32)> {
        let decoded = snapshot::decode(bytes)?;
        let version = decoded.version;
        let bad = |reason: String| Err(Error::corrupt_snapshot(reason));
        let image = decode_image(decoded.vector_index, decoded.dimension)
            .map_err(Error::corrupt_snapshot)?;
        let text = match decoded.text_index {
            [] => None,
            bytes => {
                let text = decode_text_index(bytes, decoded.language)?;
                // Every document is a concept: both lists in id order, walked together.
                let mut concepts = decoded.concepts.iter().map(|c| c.id).peekable();
                for id in text.ids() {
                    while concepts.next_if(|c| *c < id).is_some() {}
                    if concepts.next_if(|c| *c == id).is_none() {
                        return bad(format!("text index holds {id}, which is not a concept"));
                    }
                }
                Some(text)
            }
        };
        let mut db = Db::new(params);
        db.dimension = decoded.dimension;
        db.language = decoded.language;
        if let Err(e) = crate::model::rules::check_indexed_keys("indexed keys", &decoded.indexed) {
            return bad(format!("meta section: {e}"));
        }
        db.indexed = decoded
            .indexed
            .into_iter()
            .map(String::into_boxed_str)
            .collect();
        db.last_seq = decoded.covered_seq;
        db.concepts = Concepts::from_concepts(decoded.concepts);
        for a in decoded.associations {
            if !db.concepts.contains_key(&a.source) || !db.concepts.contains_key(&a.target) {
                return bad(format!(
                    "association {} -> {} has a missing endpoint",
                    a.source, a.target
                ));
            }
            let labels = db.links.labels();
            if labels.number(&a.label).is_none() && labels.len() as u64 >= u64::from(LABELS_MAX) {
                return bad(format!("more than {LABELS_MAX} distinct labels"));
            }
            if a.validity.is_backwards() {
                return bad(format!("association {} ends before it starts", a.key()));
            }
            let data = EdgeData {
                confidence: a.confidence,
                weight: a.weight,
                created_ms: a.created_ms,
                updated_ms: a.updated_ms,
                metadata: a.metadata,
                validity: EdgeData::keep_validity(a.validity),
            };
            if db
                .links
                .insert(a.source, a.target, a.kind, &a.label, data)
                .is_some()
            {
                return bad(format!(
                    "association {} -[{} {:?}]-> {} appears twice",
                    a.source, a.kind, a.label, a.target
                ));
            }
        }
        let embeddings = db
            .concepts
            .values()
            .filter_map(|c| c.embedding.as_deref().map(|v| (c.id, v)));
        db.vectors =
            VectorIndex::restore(params, image, embeddings).map_err(Error::corrupt_snapshot)?;
        if let Some(text) = text {
            // The state is new: nothing else has set it.
            let _ = db.text.set(text);
        }
        Ok((db, version))
    }
}

/// A snapshot's text index section, decoded and checked (see [`TextIndex::from_image`]); its
/// documents in increasing id order.
fn decode_text_index(bytes: &[u8], language: Option<Language>) -> Result<TextIndex> {
    let image: TextImage = match postcard::take_from_bytes(bytes) {
        Ok((image, [])) => image,
        Ok((_, rest)) => {
            return Err(Error::corrupt_snapshot(format!(
                "text index section has {} trailing bytes",
                rest.len()
            )))
        }
        Err(e) => {
            return Err(Error::corrupt_snapshot(format!(
                "text index section does not decode: {e}"
            )))
        }
    };
    TextIndex::from_image(language, image)
        .map_err(|e| Error::corrupt_snapshot(format!("text index: {e}")))
}
