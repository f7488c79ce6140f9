//! `sutra import --from mcp-memory`: the file of the reference knowledge-graph memory server
//! (`memory.jsonl`: one `{"type":"entity",…}` or `{"type":"relation",…}` per line) into a
//! memory, kept as the MCP tools keep it (see [`crate::mcp::tools`]).

use crate::mcp::tools::{EntityIn, RelationIn, SutraMcp};
use serde::Deserialize;
use std::io::{BufRead, Read};

/// Entities (or relations) written per batch.
pub const CHUNK: usize = 500;
/// Longest line read, in bytes.
pub const LINE_BYTES_MAX: usize = 4 * 1024 * 1024;
/// Rejected lines listed (the rest counted).
pub const REJECTED_LISTED_MAX: usize = 100;

/// One line of the file.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Line {
    Entity {
        name: String,
        #[serde(rename = "entityType")]
        entity_type: String,
        #[serde(default)]
        observations: Vec<String>,
    },
    Relation {
        from: String,
        to: String,
        #[serde(rename = "relationType")]
        relation_type: String,
    },
}

/// What an import did.
#[derive(Debug, Default, PartialEq)]
pub struct Imported {
    /// Entities created.
    pub entities: usize,
    /// Observations of those entities.
    pub observations: usize,
    /// Relations created.
    pub relations: usize,
    /// Entities and relations already in the memory, left as they were.
    pub present: usize,
    /// Lines refused: line number (from 1) and why, the first [`REJECTED_LISTED_MAX`].
    pub rejected: Vec<(usize, String)>,
    /// Lines refused in all.
    pub rejected_count: usize,
}

impl Imported {
    fn reject(&mut self, line: usize, why: String) {
        self.rejected_count += 1;
        if self.rejected.len() < REJECTED_LISTED_MAX {
            self.rejected.push((line, why));
        }
    }
}

/// Reads `input` into `memory`: the entities first (those present are left as they are), then
/// the relations whose two ends are entities. Each batch of [`CHUNK`] is durable before the
/// next; a line that cannot be read is refused with its number, the rest go on.
pub async fn import(
    tools: &SutraMcp,
    memory: &str,
    mut input: impl BufRead,
) -> Result<Imported, String> {
    tools.ready_memory(memory).await?;
    let mut done = Imported::default();
    let mut entities: Vec<EntityIn> = Vec::new();
    let mut relations: Vec<(usize, RelationIn)> = Vec::new();
    let mut buffer = Vec::new();
    let mut number = 0;
    loop {
        buffer.clear();
        let read = input
            .by_ref()
            .take(LINE_BYTES_MAX as u64 + 1)
            .read_until(b'\n', &mut buffer)
            .map_err(|e| format!("cannot read line {}: {e}", number + 1))?;
        if read == 0 {
            break;
        }
        number += 1;
        if buffer.len() > LINE_BYTES_MAX && !buffer.ends_with(b"\n") {
            done.reject(number, format!("longer than {LINE_BYTES_MAX} bytes"));
            // Skip the rest of the line.
            let mut rest = Vec::new();
            input
                .read_until(b'\n', &mut rest)
                .map_err(|e| format!("cannot read line {number}: {e}"))?;
            continue;
        }
        let text = String::from_utf8_lossy(&buffer);
        if text.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Line>(text.trim()) {
            Ok(Line::Entity {
                name,
                entity_type,
                observations,
            }) if !name.trim().is_empty() => {
                entities.push(EntityIn {
                    name,
                    entity_type,
                    observations,
                });
                if entities.len() == CHUNK {
                    write_entities(tools, memory, &mut entities, &mut done).await?;
                }
            }
            Ok(Line::Entity { .. }) => done.reject(number, "an entity needs a name".into()),
            Ok(Line::Relation {
                from,
                to,
                relation_type,
            }) => relations.push((
                number,
                RelationIn {
                    from,
                    to,
                    relation_type,
                },
            )),
            Err(e) => done.reject(number, format!("not an entity or relation line: {e}")),
        }
    }
    write_entities(tools, memory, &mut entities, &mut done).await?;
    let mut chunk = Vec::new();
    for (line, relation) in relations {
        let mut missing = None;
        for end in [&relation.from, &relation.to] {
            if !tools.is_entity(memory, end).await? {
                missing = Some(end.clone());
                break;
            }
        }
        match missing {
            Some(name) => done.reject(line, format!("no entity is named {name:?}")),
            None => chunk.push(relation),
        }
        if chunk.len() == CHUNK {
            write_relations(tools, memory, &mut chunk, &mut done).await?;
        }
    }
    write_relations(tools, memory, &mut chunk, &mut done).await?;
    // Relations are read after the entities: list the refusals in the file's order.
    done.rejected.sort();
    Ok(done)
}

async fn write_entities(
    tools: &SutraMcp,
    memory: &str,
    entities: &mut Vec<EntityIn>,
    done: &mut Imported,
) -> Result<(), String> {
    let created = tools.create_entities_in(memory, entities).await?;
    done.entities += created.len();
    done.present += entities.len() - created.len();
    done.observations += created
        .iter()
        .map(|e| e["observations"].as_array().map_or(0, Vec::len))
        .sum::<usize>();
    entities.clear();
    Ok(())
}

async fn write_relations(
    tools: &SutraMcp,
    memory: &str,
    relations: &mut Vec<RelationIn>,
    done: &mut Imported,
) -> Result<(), String> {
    let created = tools.create_relations_in(memory, relations).await?;
    done.relations += created.len();
    done.present += relations.len() - created.len();
    relations.clear();
    Ok(())
}
