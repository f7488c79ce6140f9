//! Seeded model-based crash testing: random operations, crashes and reopenings, checked against
//! a plain in-memory model of what must be there.
//!
//! The model is written independently of the engine (plain maps, no shared code beyond the
//! operation type), so a bug in the engine's validation or replay shows as a disagreement.

use crate::Harness;
use std::collections::BTreeMap;
use sutra_core::sim::{CrashMode, Rng, SnapshotStep};
use sutra_core::{
    Association, AssociationKey, Concept, ConceptId, ConceptInput, Kind, Label, Language, Memory,
    Metadata, Op, Options, Validity, Value,
};

/// What must be there.
#[derive(Clone, Default, PartialEq, Debug)]
pub struct Model {
    concepts: BTreeMap<ConceptId, Concept>,
    associations: BTreeMap<AssociationKey, Association>,
    dimension: Option<u32>,
    language: Option<Language>,
    indexed: Vec<String>,
}

impl Model {
    /// Applies a batch if it is valid, as the engine must; returns whether it was.
    pub fn apply(&mut self, ops: &[Op]) -> bool {
        let mut next = self.clone();
        for op in ops {
            if !next.apply_op(op) {
                return false;
            }
        }
        *self = next;
        true
    }

    fn apply_op(&mut self, op: &Op) -> bool {
        match op {
            Op::PutConcept {
                id,
                content,
                embedding,
                strength,
                confidence,
                metadata,
                at_ms,
                created_ms,
            } => {
                if created_ms.is_some_and(|c| c > *at_ms) {
                    return false;
                }
                if let Some(v) = embedding {
                    match self.dimension {
                        Some(d) if d as usize != v.len() => return false,
                        Some(_) => {}
                        None => self.dimension = Some(v.len() as u32),
                    }
                }
                let created_ms = created_ms
                    .unwrap_or_else(|| self.concepts.get(id).map_or(*at_ms, |c| c.created_ms));
                self.concepts.insert(
                    *id,
                    Concept {
                        id: *id,
                        content: content.as_str().into(),
                        embedding: embedding.as_deref().map(Box::from),
                        strength: *strength,
                        confidence: *confidence,
                        metadata: metadata.clone().into(),
                        created_ms,
                        updated_ms: *at_ms,
                    },
                );
                true
            }
            Op::DeleteConcept { id } => {
                if self.concepts.remove(id).is_none() {
                    return false;
                }
                self.associations
                    .retain(|k, _| k.source != *id && k.target != *id);
                true
            }
            Op::PutAssociation {
                source,
                target,
                kind,
                label,
                confidence,
                weight,
                metadata,
                validity,
                at_ms,
                created_ms,
            } => {
                if created_ms.is_some_and(|c| c > *at_ms) {
                    return false;
                }
                if let (Some(from), Some(until)) = (validity.from_ms, validity.until_ms) {
                    if until < from {
                        return false;
                    }
                }
                if !self.concepts.contains_key(source) || !self.concepts.contains_key(target) {
                    return false;
                }
                let key = AssociationKey {
                    source: *source,
                    target: *target,
                    kind: *kind,
                    label: label.clone(),
                };
                let created_ms = created_ms.unwrap_or_else(|| {
                    self.associations.get(&key).map_or(*at_ms, |a| a.created_ms)
                });
                self.associations.insert(
                    key,
                    Association {
                        source: *source,
                        target: *target,
                        kind: *kind,
                        label: label.clone(),
                        confidence: *confidence,
                        weight: *weight,
                        created_ms,
                        updated_ms: *at_ms,
                        validity: *validity,
                        metadata: metadata.clone().into(),
                    },
                );
                true
            }
            Op::DeleteAssociation { key } => self.associations.remove(key).is_some(),
            Op::InvalidateAssociation {
                key,
                until_ms,
                at_ms,
            } => {
                let Some(a) = self.associations.get_mut(key) else {
                    return false;
                };
                if a.validity.from_ms.is_some_and(|from| *until_ms < from) {
                    return false;
                }
                let until = a.validity.until_ms.map_or(*until_ms, |u| u.min(*until_ms));
                a.validity.until_ms = Some(until);
                a.updated_ms = *at_ms;
                true
            }
            Op::SetDimension { dimension } => match self.dimension {
                Some(d) => d == *dimension,
                None => {
                    self.dimension = Some(*dimension);
                    true
                }
            },
            Op::IndexMetadata { keys } => {
                self.indexed = keys.clone();
                true
            }
            Op::SetLanguage { language } => match self.language {
                Some(l) => l == *language,
                None => {
                    self.language = Some(*language);
                    true
                }
            },
        }
    }

    fn matches(&self, db: &sutra_core::Db) -> Result<(), String> {
        // Every structure agrees with itself and with the others (the integrity checker), then
        // the state is the model's.
        db.check_integrity().map_err(|e| e.to_string())?;
        let concepts: BTreeMap<ConceptId, Concept> =
            db.concepts().map(|c| (c.id, c.clone())).collect();
        if concepts != self.concepts {
            return Err(format!(
                "concepts differ: engine has {}, model {}",
                concepts.len(),
                self.concepts.len()
            ));
        }
        let associations: BTreeMap<AssociationKey, Association> =
            db.all_associations().map(|a| (a.key(), a)).collect();
        if associations != self.associations {
            return Err(format!(
                "associations differ: engine has {}, model {}",
                associations.len(),
                self.associations.len()
            ));
        }
        if db.counts().associations != self.associations.len() as u64 {
            return Err("association count is off".into());
        }
        if db.counts().language != self.language {
            return Err(format!(
                "language differs: engine has {:?}, model {:?}",
                db.counts().language,
                self.language
            ));
        }
        // Searched by words (which builds the text index, then kept up to date by every later
        // write, and dropped by a language set later): a word of the model's texts, stemmed in
        // its language, finds exactly the concepts whose texts have it.
        if !self.concepts.is_empty() {
            let (word, words): (&str, &[&str]) = match self.language {
                None => ("running", &["running"]),
                Some(Language::English) => ("run", &["running", "runs"]),
                Some(_) => ("rain", &["rain"]),
            };
            let found: std::collections::BTreeSet<ConceptId> = db
                .search_text(word, UNIVERSE as u32)
                .map_err(|e| e.to_string())?
                .into_iter()
                .map(|h| h.id)
                .collect();
            let want: std::collections::BTreeSet<ConceptId> = self
                .concepts
                .values()
                .filter(|c| c.content.split(' ').any(|w| words.contains(&w)))
                .map(|c| c.id)
                .collect();
            if found != want {
                return Err(format!("searching {word:?} found {found:?}, not {want:?}"));
            }
        }
        self.filters_match(db)?;
        Ok(())
    }

    /// Filtered by each indexed key (the index built by the first filtered read, then kept up to
    /// date by every later write, and dropped by keys declared later), the engine keeps exactly
    /// the concepts whose metadata the model's filter keeps; a key not indexed is refused.
    fn filters_match(&self, db: &sutra_core::Db) -> Result<(), String> {
        let indexed: Vec<&str> = db.indexed_keys().collect();
        if indexed != self.indexed {
            return Err(format!(
                "indexed keys {indexed:?}, model {:?}",
                self.indexed
            ));
        }
        for key in ["k0", "k3"] {
            // A value some concept has (or one none has).
            let value = self
                .concepts
                .values()
                .find_map(|c| c.metadata.get(key).cloned())
                .unwrap_or(Value::Text("none".into()));
            let Ok(scalar) = sutra_core::Scalar::wanted("filter", &value) else {
                continue;
            };
            let filter = sutra_core::Filter::new(
                "filter",
                vec![sutra_core::Clause {
                    key: key.into(),
                    any_of: vec![scalar],
                }],
            )
            .map_err(|e| e.to_string())?;
            let found = db.filtered("filter", &filter);
            if !self.indexed.iter().any(|k| k == key) {
                if found.is_ok() {
                    return Err(format!("a filter on {key}, not indexed, was taken"));
                }
                continue;
            }
            let found = found.map_err(|e| e.to_string())?;
            let want: Vec<ConceptId> = self
                .concepts
                .values()
                .filter(|c| filter.matches(&c.metadata))
                .map(|c| c.id)
                .collect();
            if *found != *want {
                return Err(format!(
                    "filter {key} = {value:?} found {found:?}, not {want:?}"
                ));
            }
        }
        Ok(())
    }

    fn vectors(&self) -> usize {
        self.concepts
            .values()
            .filter(|c| c.embedding.is_some())
            .count()
    }
}

const DIM: usize = 4;
const UNIVERSE: u64 = 24;

fn random_vector(rng: &mut Rng) -> Vec<f32> {
    loop {
        let v: Vec<f32> = (0..DIM).map(|_| rng.unit_f32() * 2.0 - 1.0).collect();
        if v.iter().any(|x| x.abs() > 0.01) {
            return v;
        }
    }
}

/// A random operation; mostly valid against `model` (ids picked among the live ones), sometimes
/// not, so that refusals are exercised too.
fn random_op(rng: &mut Rng, clock: &mut u64, model: &Model) -> Op {
    *clock += 1 + rng.below(1000);
    let live: Vec<ConceptId> = model.concepts.keys().copied().collect();
    let id = |rng: &mut Rng| {
        if !live.is_empty() && rng.chance(90) {
            live[rng.below(live.len() as u64) as usize]
        } else {
            ConceptId(u128::from(rng.below(UNIVERSE)) + 1)
        }
    };
    match rng.below(100) {
        0..=44 => {
            // Words whose stems meet in English ("running", "runs": "run") and one that is a
            // stop word without a language.
            const WORDS: [&str; 4] = ["running", "runs", "the", "rain"];
            let content = format!("{} {}", WORDS[rng.below(4) as usize], rng.below(1000));
            let mut input = ConceptInput::new(content).with_id(id(rng));
            if rng.chance(70) {
                // A wrong dimension now and then: the engine must refuse the whole batch.
                let dim = if rng.chance(3) { DIM + 1 } else { DIM };
                input.embedding = Some(random_vector(rng).into_iter().cycle().take(dim).collect());
            }
            input.strength = rng.below(100) as f32 / 10.0;
            input.confidence = rng.unit_f32();
            let mut metadata = Metadata::new();
            for _ in 0..rng.below(3) {
                let value = match rng.below(5) {
                    0 => Value::Integer(rng.below(1000) as i64 - 500),
                    1 => Value::Number(rng.unit_f32() as f64),
                    2 => Value::Bool(rng.chance(50)),
                    3 => Value::List((0..rng.below(3)).map(|i| format!("t{i}")).collect()),
                    _ => Value::Text(format!("v{}", rng.below(100))),
                };
                metadata.insert(format!("k{}", rng.below(5)), value);
            }
            input.metadata = metadata;
            let mut op = Op::put_concept(input, *clock);
            if let Op::PutConcept { created_ms, .. } = &mut op {
                // Import-style explicit creation times, now and then one that is invalid.
                if rng.chance(10) {
                    *created_ms =
                        Some(clock.saturating_sub(rng.below(5000)) + rng.below(2) * 10_000);
                }
            }
            op
        }
        45..=74 => {
            let mut op = Op::put_association(
                id(rng),
                id(rng),
                Kind::ALL[rng.below(5) as usize],
                rng.unit_f32(),
                rng.below(50) as f32,
                *clock,
            );
            if let Op::PutAssociation {
                label,
                metadata,
                validity,
                ..
            } = &mut op
            {
                *label = random_label(rng);
                if rng.chance(30) {
                    metadata.insert("doc".into(), Value::Text(format!("d{}", rng.below(9))));
                }
                if rng.chance(30) {
                    // Now and then one that ends before it starts: refused.
                    let from = clock.saturating_sub(rng.below(2000));
                    *validity = Validity {
                        from_ms: rng.chance(70).then_some(from),
                        until_ms: rng.chance(50).then(|| from + rng.below(3000)),
                    };
                    if rng.chance(5) {
                        validity.until_ms = Some(from.saturating_sub(1 + rng.below(10)));
                    }
                }
            }
            op
        }
        75..=82 => Op::DeleteConcept { id: id(rng) },
        // Keys indexed for filters now and then (any set, replacing the last).
        83 => Op::index_metadata(
            ["k0", "k3", "k4"]
                .into_iter()
                .filter(|_| rng.chance(60))
                .map(String::from)
                .collect(),
        ),
        // A language now and then: the first one set is kept, another is refused.
        84 => Op::SetLanguage {
            language: if rng.chance(80) {
                Language::English
            } else {
                Language::French
            },
        },
        _ => {
            let key = if !model.associations.is_empty() && rng.chance(90) {
                let keys: Vec<&AssociationKey> = model.associations.keys().collect();
                keys[rng.below(keys.len() as u64) as usize].clone()
            } else {
                AssociationKey {
                    source: id(rng),
                    target: id(rng),
                    kind: Kind::ALL[rng.below(5) as usize],
                    label: random_label(rng),
                }
            };
            if rng.chance(40) {
                Op::InvalidateAssociation {
                    key,
                    until_ms: clock.saturating_sub(rng.below(3000)),
                    at_ms: *clock,
                }
            } else {
                Op::DeleteAssociation { key }
            }
        }
    }
}

/// A label from a few (most often none), so that labels share keys and collide.
fn random_label(rng: &mut Rng) -> Label {
    const LABELS: [&str; 4] = ["", "works_at", "founded", "près de"];
    Label::from(LABELS[rng.below(4) as usize])
}

fn random_batch(rng: &mut Rng, clock: &mut u64, model: &Model) -> Vec<Op> {
    (0..1 + rng.below(4))
        .map(|_| random_op(rng, clock, model))
        .collect()
}

/// What a run did, so a test can check the generator really exercised the engine.
#[derive(Clone, Copy, Debug, Default)]
pub struct RunStats {
    /// Batches acknowledged.
    pub accepted: u64,
    /// Batches refused as invalid.
    pub refused: u64,
    /// Crash/reopen cycles.
    pub crashes: u64,
    /// Crashes after which some in-flight batch survived.
    pub in_flight_survived: u64,
    /// Crashes after which some in-flight batch was lost.
    pub in_flight_lost: u64,
    /// Failed syncs injected.
    pub failed_syncs: u64,
    /// Checkpoints written, and crashed.
    pub checkpoints: u64,
    /// Checkpoints crashed by injection.
    pub checkpoint_crashes: u64,
    /// Checkpoints asked for with nothing new since the last snapshot: nothing written, so the
    /// crash injected into the writing was never reached.
    pub checkpoints_unchanged: u64,
}

impl RunStats {
    /// Adds another run's counts.
    pub fn add(&mut self, o: &RunStats) {
        self.accepted += o.accepted;
        self.refused += o.refused;
        self.crashes += o.crashes;
        self.in_flight_survived += o.in_flight_survived;
        self.in_flight_lost += o.in_flight_lost;
        self.failed_syncs += o.failed_syncs;
        self.checkpoints += o.checkpoints;
        self.checkpoint_crashes += o.checkpoint_crashes;
        self.checkpoints_unchanged += o.checkpoints_unchanged;
    }
}

/// Checks vector search against the model: only live concepts, at their current embeddings.
fn check_search<S: sutra_core::Storage>(
    memory: &Memory<S>,
    model: &Model,
    rng: &mut Rng,
) -> Result<(), String> {
    if model.dimension != Some(DIM as u32) {
        return Ok(());
    }
    let query = random_vector(rng);
    let k = 1 + rng.below(10) as u32;
    let hits = memory
        .db()
        .search_vectors(&query, k, None)
        .map_err(|e| format!("search failed: {e}"))?;
    let want = (k as usize).min(model.vectors());
    if hits.len() != want {
        return Err(format!(
            "search returned {} hits, {want} expected",
            hits.len()
        ));
    }
    for hit in &hits {
        let Some(vector) = model
            .concepts
            .get(&hit.id)
            .and_then(|c| c.embedding.as_ref())
        else {
            return Err(format!(
                "search returned {} which has no live vector",
                hit.id
            ));
        };
        let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
        let cosine = vector.iter().zip(&query).map(|(a, b)| a * b).sum::<f32>()
            / (norm(vector) * norm(&query));
        if (cosine - hit.score).abs() > 1e-3 {
            return Err(format!(
                "stale score for {}: {} vs {cosine}",
                hit.id, hit.score
            ));
        }
    }
    Ok(())
}

fn open_or_fail<S: sutra_core::Storage>(storage: S) -> Result<Memory<S>, String> {
    Memory::open(storage, Options::default())
        .map(|(m, _)| m)
        .map_err(|e| format!("open failed: {e}"))
}

/// Runs `cycles` crash/reopen cycles from `seed`; returns an error describing the first failure.
pub fn run_seed<H: Harness>(h: &mut H, seed: u64, cycles: u64) -> Result<RunStats, String> {
    let mut stats = RunStats::default();
    let mut rng = Rng::new(seed);
    let mut clock = 1_700_000_000_000u64;
    let mut model = Model::default();
    let mut memory = open_or_fail(h.create())?;
    for cycle in 0..cycles {
        let fail = |what: String| format!("seed {seed}, cycle {cycle}: {what}");
        // Acknowledged writes, each checked against the model.
        for _ in 0..1 + rng.below(4) {
            let batch = random_batch(&mut rng, &mut clock, &model);
            let valid = model.apply(&batch);
            if valid {
                stats.accepted += 1;
            } else {
                stats.refused += 1;
            }
            match memory.write(batch) {
                Ok(_) if valid => {}
                Ok(_) => return Err(fail("engine accepted a batch the model refused".into())),
                Err(e) if !valid => {
                    if e.code() == "storage_error" || e.code() == "poisoned" {
                        return Err(fail(format!(
                            "invalid batch failed with a storage error: {e}"
                        )));
                    }
                }
                Err(e) => return Err(fail(format!("engine refused a valid batch: {e}"))),
            }
            memory
                .db()
                .check_integrity()
                .map_err(|e| fail(format!("after a write: {e}")))?;
        }
        if rng.chance(10) {
            memory
                .seal_vectors()
                .map_err(|e| fail(format!("seal failed: {e}")))?;
        } else if rng.chance(40) {
            // Background indexing as hosts run it: new segments from the fresh tier, merges.
            while memory
                .index_vectors_step(1 + rng.below(4) as usize)
                .map_err(|e| fail(format!("indexing failed: {e}")))?
            {}
        }
        memory
            .db()
            .check_integrity()
            .map_err(|e| fail(format!("after indexing: {e}")))?;
        check_search(&memory, &model, &mut rng).map_err(fail)?;
        if rng.chance(10) {
            stats.checkpoints += 1;
            memory
                .checkpoint()
                .map_err(|e| fail(format!("checkpoint: {e}")))?;
        }
        // Unacknowledged writes in flight when the crash comes.
        let mut in_flight: Vec<Vec<Op>> = Vec::new();
        let mut probe = model.clone();
        for _ in 0..rng.below(3) {
            let batch = random_batch(&mut rng, &mut clock, &model);
            if probe.apply(&batch) {
                memory
                    .stage(batch.clone())
                    .map_err(|e| fail(format!("stage refused a valid batch: {e}")))?;
                in_flight.push(batch);
            }
        }
        match rng.below(10) {
            0 if !in_flight.is_empty() => {
                // The sync fails: nothing staged is acknowledged and the memory is poisoned.
                h.fail_sync_after(memory.storage_mut(), 0);
                stats.failed_syncs += 1;
                if memory.commit().is_ok() {
                    return Err(fail("commit succeeded although its sync failed".into()));
                }
                match memory.write(vec![random_op(&mut rng, &mut clock, &model)]) {
                    Err(e) if e.code() == "poisoned" => {}
                    other => {
                        return Err(fail(format!(
                            "write after a failed sync was not refused: {other:?}"
                        )))
                    }
                }
                model
                    .matches(&memory.db())
                    .map_err(|e| fail(format!("failed commit became visible: {e}")))?;
            }
            1 if in_flight.is_empty() => {
                h.crash_snapshot_at(
                    memory.storage_mut(),
                    SnapshotStep::ALL[rng.below(4) as usize],
                );
                match memory.checkpoint() {
                    Err(_) => stats.checkpoint_crashes += 1,
                    // Nothing new since the last snapshot (no write, no indexing): a
                    // checkpoint then writes nothing, and the snapshot it keeps must hold
                    // the acknowledged state (checked after the crash below).
                    Ok(report) if !report.written => stats.checkpoints_unchanged += 1,
                    Ok(_) => return Err(fail("injected checkpoint crash did not fail".into())),
                }
            }
            2 if !in_flight.is_empty() => {
                memory.commit().map_err(|e| fail(format!("commit: {e}")))?;
                model = probe;
                in_flight.clear();
                model
                    .matches(&memory.db())
                    .map_err(|e| fail(format!("after group commit: {e}")))?;
            }
            _ => {}
        }
        let mode = CrashMode::ALL[rng.below(4) as usize];
        let storage = h.crash(memory.into_storage(), mode);
        memory = open_or_fail(storage).map_err(fail)?;
        // The acknowledged state plus some prefix of the in-flight batches, nothing else.
        stats.crashes += 1;
        let mut candidate = model.clone();
        let mut matched = candidate.matches(&memory.db()).is_ok();
        let mut survivors = 0;
        for batch in &in_flight {
            if matched {
                break;
            }
            candidate.apply(batch);
            survivors += 1;
            matched = candidate.matches(&memory.db()).is_ok();
        }
        if survivors > 0 {
            stats.in_flight_survived += 1;
        }
        if survivors < in_flight.len() {
            stats.in_flight_lost += 1;
        }
        if !matched {
            let why = model.matches(&memory.db()).err().unwrap_or_default();
            return Err(fail(format!(
                "after {mode:?} crash the state is neither the acknowledged state nor a prefix of in-flight batches ({why})"
            )));
        }
        model = candidate;
        check_search(&memory, &model, &mut rng).map_err(fail)?;
    }
    model
        .matches(&memory.db())
        .map_err(|e| format!("seed {seed}, at the end: {e}"))?;
    Ok(stats)
}
