//! An embedding index on disk: `NAME.npy` (float32 `[N, D]`, L2-normalised rows) and
//! `NAME.json` beside it (what produced the vectors and which page each row is), plus
//! `NAME.csv` (row, path, page, label) for spreadsheets and pandas.
//!
//! The JSON records the backbone (`init`, architecture, seed) and the input view (image size,
//! decode long side) so that `docmoco search` embeds its queries exactly as the indexed pages
//! were embedded — a query identical to an indexed page then has cosine 1 with it.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use super::npy::{read_npy, write_npy};
use crate::train::config::BackboneParams;

/// Format tag of the JSON side-car; bumped when fields change meaning.
pub const FORMAT: &str = "docmoco-embeddings/1";

/// One indexed page.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IndexRow {
    /// The file (absolute when the data folder was given absolute).
    pub path: PathBuf,
    /// 0-based page number inside a PDF; 0 for images.
    pub page: usize,
    /// Index into [`IndexMeta::classes`] when the folder is labelled.
    pub label: Option<usize>,
}

impl IndexRow {
    /// `file.png` or `file.pdf#page=3` (1-based, as PDF viewers).
    pub fn name(&self) -> String {
        let is_pdf = self
            .path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("pdf"));
        if is_pdf {
            format!("{}#page={}", self.path.display(), self.page + 1)
        } else {
            self.path.display().to_string()
        }
    }

    /// The page to decode again (contact sheets, queries).
    pub fn page_ref(&self) -> docmoco_data::PageRef {
        let is_pdf = self
            .path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("pdf"));
        if is_pdf {
            docmoco_data::PageRef::PdfPage {
                path: self.path.clone(),
                page: self.page,
            }
        } else {
            docmoco_data::PageRef::Image(self.path.clone())
        }
    }
}

/// The JSON side-car of an index.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IndexMeta {
    pub format: String,
    /// `random`, `moco:RUN_DIR` or `torchvision:FILE`, paths made absolute.
    pub init: String,
    pub arch: BackboneParams,
    /// Seed of the `random` init (the weights are re-drawn from it for queries).
    pub seed: u64,
    /// Side of the square network input.
    pub image_size: u32,
    /// Long side pages were decoded at before the resize to `image_size`.
    pub decode_long_side: u32,
    pub dim: usize,
    /// The folder that was embedded.
    pub data: PathBuf,
    /// Class names when the folder is labelled (ImageFolder), else empty.
    pub classes: Vec<String>,
    pub rows: Vec<IndexRow>,
}

/// Vectors and their metadata.
#[derive(Clone, Debug)]
pub struct EmbeddingIndex {
    pub meta: IndexMeta,
    /// `n x dim`, row-major, each row of unit length.
    pub vectors: Vec<f32>,
}

/// The `.npy`, `.json` and `.csv` paths of an index named by any of them (or by the stem).
pub fn index_paths(file: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let stem = match file.extension().and_then(|e| e.to_str()) {
        Some("npy" | "json" | "csv") => file.with_extension(""),
        _ => file.to_path_buf(),
    };
    let with = |ext: &str| {
        let mut s = stem.clone().into_os_string();
        s.push(".");
        s.push(ext);
        PathBuf::from(s)
    };
    (with("npy"), with("json"), with("csv"))
}

/// A CSV field, quoted when it holds a comma, quote or newline (RFC 4180).
pub fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

impl EmbeddingIndex {
    pub fn len(&self) -> usize {
        self.meta.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.meta.rows.is_empty()
    }

    pub fn dim(&self) -> usize {
        self.meta.dim
    }

    /// Row `i`'s vector.
    pub fn vector(&self, i: usize) -> &[f32] {
        &self.vectors[i * self.meta.dim..(i + 1) * self.meta.dim]
    }

    /// Labels of every row when all rows have one.
    pub fn labels(&self) -> Option<Vec<usize>> {
        self.meta.rows.iter().map(|r| r.label).collect()
    }

    /// Class name of a row's label, or empty.
    pub fn class_name(&self, row: usize) -> &str {
        self.meta.rows[row]
            .label
            .and_then(|l| self.meta.classes.get(l))
            .map_or("", String::as_str)
    }

    /// Writes the three files of `file` (see [`index_paths`]).
    pub fn save(&self, file: &Path) -> Result<()> {
        let (npy, json, csv) = index_paths(file);
        if let Some(dir) = npy.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        write_npy(&npy, &self.vectors, self.len(), self.dim())?;
        let text = serde_json::to_string_pretty(&self.meta)?;
        std::fs::write(&json, text).with_context(|| format!("cannot write {}", json.display()))?;
        let mut out = String::from("row,path,page,label\n");
        for (i, r) in self.meta.rows.iter().enumerate() {
            out.push_str(&format!(
                "{i},{},{},{}\n",
                csv_field(&r.path.display().to_string()),
                r.page,
                csv_field(self.class_name(i))
            ));
        }
        std::fs::write(&csv, out).with_context(|| format!("cannot write {}", csv.display()))?;
        Ok(())
    }

    /// Reads an index and checks that the vectors and the metadata agree.
    pub fn load(file: &Path) -> Result<Self> {
        let (npy, json, _) = index_paths(file);
        for p in [&npy, &json] {
            if !p.is_file() {
                bail!(
                    "index {}: {} does not exist (write an index with `docmoco embed --out {}`)",
                    file.display(),
                    p.display(),
                    npy.display()
                );
            }
        }
        let text = std::fs::read_to_string(&json)
            .with_context(|| format!("reading {}", json.display()))?;
        let meta: IndexMeta = serde_json::from_str(&text)
            .with_context(|| format!("{}: not a docmoco embedding index", json.display()))?;
        if meta.format != FORMAT {
            bail!(
                "{}: format `{}`, this docmoco reads `{FORMAT}`",
                json.display(),
                meta.format
            );
        }
        let (vectors, rows, cols) = read_npy(&npy)?;
        if rows != meta.rows.len() || cols != meta.dim {
            bail!(
                "{} holds [{rows}, {cols}] but {} lists {} pages of dim {} (files from different runs?)",
                npy.display(),
                json.display(),
                meta.rows.len(),
                meta.dim
            );
        }
        if let Some((i, r)) = meta
            .rows
            .iter()
            .enumerate()
            .find(|(_, r)| r.label.is_some_and(|l| l >= meta.classes.len()))
        {
            bail!(
                "{}: rows[{i}].label = {:?} but there are {} classes",
                json.display(),
                r.label,
                meta.classes.len()
            );
        }
        Ok(Self { meta, vectors })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ResNetArch;

    fn tiny(n: usize, dim: usize) -> EmbeddingIndex {
        let mut vectors = vec![0f32; n * dim];
        for i in 0..n {
            vectors[i * dim + i % dim] = 1.0;
        }
        EmbeddingIndex {
            meta: IndexMeta {
                format: FORMAT.into(),
                init: "random".into(),
                arch: BackboneParams {
                    arch: ResNetArch::Resnet18,
                    width_mult: 0.25,
                    small_stem: false,
                    vit: None,
                },
                seed: 0,
                image_size: 32,
                decode_long_side: 64,
                dim,
                data: "d".into(),
                classes: vec!["a".into(), "b,c".into()],
                rows: (0..n)
                    .map(|i| IndexRow {
                        path: format!("d/{i}.png").into(),
                        page: 0,
                        label: Some(i % 2),
                    })
                    .collect(),
            },
            vectors,
        }
    }

    #[test]
    fn save_load_round_trip_by_any_name() {
        let dir = tempfile::tempdir().unwrap();
        let idx = tiny(5, 4);
        idx.save(&dir.path().join("emb.npy")).unwrap();
        for name in ["emb.npy", "emb.json", "emb"] {
            let back = EmbeddingIndex::load(&dir.path().join(name)).unwrap();
            assert_eq!(back.meta, idx.meta);
            assert_eq!(back.vectors, idx.vectors);
        }
        let csv = std::fs::read_to_string(dir.path().join("emb.csv")).unwrap();
        assert_eq!(csv.lines().nth(2), Some("1,d/1.png,0,\"b,c\""));
    }

    #[test]
    fn mismatched_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("emb.npy");
        tiny(5, 4).save(&p).unwrap();
        write_npy(&p, &[0.0; 12], 3, 4).unwrap();
        let e = EmbeddingIndex::load(&p).unwrap_err().to_string();
        assert!(e.contains("[3, 4]") && e.contains("lists 5 pages"), "{e}");
        let e = EmbeddingIndex::load(&dir.path().join("nope.npy"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("nope.npy") && e.contains("does not exist"),
            "{e}"
        );
    }
}
