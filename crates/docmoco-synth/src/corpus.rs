//! Writing a whole corpus to disk in the layouts the rest of docmoco reads:
//!
//! ```text
//! OUT/cls/{train,test}/<class>/<name>.png        ImageFolder, for classification
//! OUT/det/{train,test}/images/<name>.png         ICDAR 2015 images
//! OUT/det/{train,test}/gt/gt_<name>.txt          ICDAR 2015 ground truth
//! OUT/unlabeled/<name>.png                       every page, for MoCo pre-training
//! OUT/classes.txt                                class names, in label order
//! OUT/manifest.tsv                               name, class, split, seed, lines
//! ```
//!
//! A page is encoded once and hard-linked into the other folders (copied where links
//! are not possible), so the corpus costs the disk space of one copy.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use rayon::prelude::*;

use crate::overlay::draw_overlay;
use crate::page::{mix, render_page, PageSpec, MAX_SIZE, MIN_SIZE};
use crate::{DocClass, SynthError};
use docmoco_data::icdar::write_gt_file;

/// What corpus to generate. Serde-ready so a run can save it next to its output
/// (missing fields take the defaults).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct SynthConfig {
    /// Total number of pages (spread round-robin over `classes`).
    pub pages: usize,
    /// Corpus seed; page `i` uses a seed derived from it and `i`.
    pub seed: u64,
    /// Long side of every page in pixels.
    pub size: u32,
    /// Fraction of each class held out as the test split.
    pub test_fraction: f32,
    pub classes: Vec<DocClass>,
    /// Apply scan-like degradations.
    pub degrade: bool,
}

impl Default for SynthConfig {
    fn default() -> Self {
        SynthConfig {
            pages: 600,
            seed: 0,
            size: 512,
            test_fraction: 0.2,
            classes: DocClass::ALL.to_vec(),
            degrade: true,
        }
    }
}

impl SynthConfig {
    /// Checks the values a user can get wrong, before any work is done.
    pub fn validate(&self) -> Result<(), SynthError> {
        if self.classes.is_empty() {
            return Err(SynthError::InvalidConfig(
                "no document classes selected".into(),
            ));
        }
        if !(0.0..=1.0).contains(&self.test_fraction) {
            return Err(SynthError::InvalidConfig(format!(
                "test_fraction {} outside 0..=1",
                self.test_fraction
            )));
        }
        if !(MIN_SIZE..=MAX_SIZE).contains(&self.size) {
            return Err(SynthError::InvalidConfig(format!(
                "size {} outside {MIN_SIZE}..={MAX_SIZE}",
                self.size
            )));
        }
        let mut seen = self.classes.clone();
        seen.sort();
        seen.dedup();
        if seen.len() != self.classes.len() {
            return Err(SynthError::InvalidConfig("a class is listed twice".into()));
        }
        Ok(())
    }
}

/// Train or test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    Train,
    Test,
}

impl Split {
    pub fn as_str(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Test => "test",
        }
    }
}

/// One page of the corpus plan.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedPage {
    pub index: usize,
    /// File stem, e.g. `invoice_000012`.
    pub name: String,
    pub spec: PageSpec,
    pub split: Split,
}

/// The deterministic plan: classes round-robin (balanced), page seeds derived from the
/// corpus seed, and within each class test pages spread evenly so that each class gets
/// `round(n * test_fraction)` test pages without any randomness.
pub fn plan(cfg: &SynthConfig) -> Result<Vec<PlannedPage>, SynthError> {
    cfg.validate()?;
    let n = cfg.classes.len();
    // Through f64 via a decimal string so 0.2f32 counts as 0.2, not 0.2000000030.
    let tf: f64 = format!("{}", cfg.test_fraction).parse().unwrap_or(0.0);
    Ok((0..cfg.pages)
        .map(|i| {
            let class = cfg.classes[i % n];
            let j = (i / n) as f64;
            // The first m pages of a class hold round(m * tf) test pages, for every m.
            let test = ((j + 1.0) * tf + 0.5).floor() > (j * tf + 0.5).floor();
            PlannedPage {
                index: i,
                name: format!("{}_{i:06}", class.as_str()),
                spec: PageSpec {
                    class,
                    seed: mix(cfg.seed ^ mix(i as u64)),
                    size: cfg.size,
                    degrade: cfg.degrade,
                },
                split: if test { Split::Test } else { Split::Train },
            }
        })
        .collect())
}

/// What was written.
#[derive(Debug, Clone, PartialEq)]
pub struct CorpusSummary {
    pub out_dir: PathBuf,
    pub pages: usize,
    pub train: usize,
    pub test: usize,
    /// Ground-truth text lines written (don't-care ones included).
    pub lines: usize,
    /// Per class: (class, train pages, test pages).
    pub per_class: Vec<(DocClass, usize, usize)>,
}

/// Generates and writes the corpus in parallel (rayon's global pool). `progress` is
/// called with the number of finished pages after each page, from worker threads.
pub fn write_corpus(
    cfg: &SynthConfig,
    out_dir: &Path,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<CorpusSummary, SynthError> {
    let plan = plan(cfg)?;
    create_dirs(cfg, out_dir)?;
    let done = AtomicUsize::new(0);
    let lines = AtomicUsize::new(0);
    let manifest: Mutex<Vec<(usize, String)>> = Mutex::new(Vec::with_capacity(plan.len()));
    plan.par_iter()
        .try_for_each(|pp| -> Result<(), SynthError> {
            let page = render_page(&pp.spec)?;
            let split = pp.split.as_str();
            let png = format!("{}.png", pp.name);
            let cls_path = out_dir
                .join("cls")
                .join(split)
                .join(pp.spec.class.as_str())
                .join(&png);
            page.image
                .save(&cls_path)
                .map_err(|source| SynthError::Image {
                    path: cls_path.clone(),
                    source,
                })?;
            link_or_copy(
                &cls_path,
                &out_dir.join("det").join(split).join("images").join(&png),
            )?;
            link_or_copy(&cls_path, &out_dir.join("unlabeled").join(&png))?;
            let gt_path = out_dir
                .join("det")
                .join(split)
                .join("gt")
                .join(format!("gt_{}.txt", pp.name));
            write_gt_file(&gt_path, &page.lines)?;
            lines.fetch_add(page.lines.len(), Ordering::Relaxed);
            let row = format!(
                "{}\t{}\t{}\t{}\t{}\n",
                pp.name,
                pp.spec.class,
                split,
                pp.spec.seed,
                page.lines.len()
            );
            if let Ok(mut m) = manifest.lock() {
                m.push((pp.index, row));
            }
            progress(done.fetch_add(1, Ordering::Relaxed) + 1);
            Ok(())
        })?;

    let classes_path = out_dir.join("classes.txt");
    let names: Vec<&str> = cfg.classes.iter().map(|c| c.as_str()).collect();
    fs::write(&classes_path, names.join("\n") + "\n")
        .map_err(|e| SynthError::io(&classes_path, e))?;
    let mut rows = manifest.into_inner().unwrap_or_default();
    rows.sort();
    let manifest_path = out_dir.join("manifest.tsv");
    let mut f = fs::File::create(&manifest_path).map_err(|e| SynthError::io(&manifest_path, e))?;
    let mut text = String::from("name\tclass\tsplit\tseed\tlines\n");
    for (_, r) in rows {
        text.push_str(&r);
    }
    f.write_all(text.as_bytes())
        .map_err(|e| SynthError::io(&manifest_path, e))?;

    let per_class = cfg
        .classes
        .iter()
        .map(|&c| {
            let tr = plan
                .iter()
                .filter(|p| p.spec.class == c && p.split == Split::Train)
                .count();
            let te = plan
                .iter()
                .filter(|p| p.spec.class == c && p.split == Split::Test)
                .count();
            (c, tr, te)
        })
        .collect();
    let test = plan.iter().filter(|p| p.split == Split::Test).count();
    Ok(CorpusSummary {
        out_dir: out_dir.to_path_buf(),
        pages: plan.len(),
        train: plan.len() - test,
        test,
        lines: lines.load(Ordering::Relaxed),
        per_class,
    })
}

/// Writes the first `n` pages of the corpus plan with their ground-truth overlays
/// (`<name>.png`, `<name>_gt.png`), for a quick look before a long run.
pub fn write_preview(
    cfg: &SynthConfig,
    out_dir: &Path,
    n: usize,
) -> Result<Vec<PathBuf>, SynthError> {
    let plan = plan(&SynthConfig {
        pages: n,
        ..cfg.clone()
    })?;
    fs::create_dir_all(out_dir).map_err(|e| SynthError::io(out_dir, e))?;
    let written: Result<Vec<Vec<PathBuf>>, SynthError> = plan
        .par_iter()
        .map(|pp| {
            let page = render_page(&pp.spec)?;
            let img = out_dir.join(format!("{}.png", pp.name));
            page.image.save(&img).map_err(|source| SynthError::Image {
                path: img.clone(),
                source,
            })?;
            let ov = out_dir.join(format!("{}_gt.png", pp.name));
            draw_overlay(&page.image, &page.lines)
                .save(&ov)
                .map_err(|source| SynthError::Image {
                    path: ov.clone(),
                    source,
                })?;
            Ok(vec![img, ov])
        })
        .collect();
    Ok(written?.into_iter().flatten().collect())
}

fn create_dirs(cfg: &SynthConfig, out: &Path) -> Result<(), SynthError> {
    let mut dirs = vec![out.join("unlabeled")];
    for split in [Split::Train, Split::Test] {
        let s = split.as_str();
        for c in &cfg.classes {
            dirs.push(out.join("cls").join(s).join(c.as_str()));
        }
        dirs.push(out.join("det").join(s).join("images"));
        dirs.push(out.join("det").join(s).join("gt"));
    }
    for d in dirs {
        fs::create_dir_all(&d).map_err(|e| SynthError::io(&d, e))?;
    }
    Ok(())
}

/// Hard-links `src` to `dst` (replacing an older `dst`), falling back to a copy on file
/// systems without links.
fn link_or_copy(src: &Path, dst: &Path) -> Result<(), SynthError> {
    if dst.exists() {
        fs::remove_file(dst).map_err(|e| SynthError::io(dst, e))?;
    }
    if fs::hard_link(src, dst).is_err() {
        fs::copy(src, dst).map_err(|e| SynthError::io(dst, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_is_balanced_and_split_deterministically() {
        let cfg = SynthConfig {
            pages: 60,
            ..Default::default()
        };
        let p = plan(&cfg).expect("plan");
        assert_eq!(p, plan(&cfg).expect("plan"));
        for c in DocClass::ALL {
            let of: Vec<_> = p.iter().filter(|x| x.spec.class == c).collect();
            assert_eq!(of.len(), 10);
            assert_eq!(of.iter().filter(|x| x.split == Split::Test).count(), 2);
        }
        let seeds: std::collections::HashSet<u64> = p.iter().map(|x| x.spec.seed).collect();
        assert_eq!(seeds.len(), 60);
    }

    #[test]
    fn config_round_trips_through_toml_with_defaults() {
        let cfg = SynthConfig {
            pages: 12,
            classes: vec![DocClass::Receipt, DocClass::CustomsDeclaration],
            ..Default::default()
        };
        let text = toml::to_string(&cfg).expect("serialise");
        assert!(text.contains("\"customs_declaration\""), "{text}");
        assert_eq!(toml::from_str::<SynthConfig>(&text).expect("parse"), cfg);
        let partial: SynthConfig = toml::from_str("pages = 7").expect("parse");
        assert_eq!(
            partial,
            SynthConfig {
                pages: 7,
                ..Default::default()
            }
        );
    }

    #[test]
    fn invalid_configs_are_rejected() {
        let bad = [
            SynthConfig {
                classes: vec![],
                ..Default::default()
            },
            SynthConfig {
                test_fraction: 1.5,
                ..Default::default()
            },
            SynthConfig {
                size: 10,
                ..Default::default()
            },
            SynthConfig {
                classes: vec![DocClass::Letter, DocClass::Letter],
                ..Default::default()
            },
        ];
        for b in bad {
            assert!(matches!(b.validate(), Err(SynthError::InvalidConfig(_))));
        }
    }
}
