//! Reading and writing detection results, and evaluating a result directory against a
//! ground-truth directory.
//!
//! Result files follow the ICDAR 2015 submission format, one box per line:
//! `x1,y1,x2,y2,x3,y3,x4,y4[,confidence]` (anything after a non-numeric ninth field, such
//! as a transcription, is ignored, so ground-truth-formatted files also load). Files are
//! named `res_<name>.txt` (the submission naming: `res_img_1.txt` pairs with
//! `gt_img_1.txt`), `gt_<name>.txt` or `<name>.txt`. A ground-truth file without a result is
//! an image where nothing was found (counted in `missing_results`); a result without ground
//! truth is an error, since silently skipping it would inflate precision.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use docmoco_data::icdar::{parse_gt_file, TextLine};

use crate::eval::{aggregate, evaluate_image, DetMetrics, ImageEval};
use crate::postprocess::Detection;
use crate::DetError;

const COORD_FIELDS: [&str; 8] = ["x1", "y1", "x2", "y2", "x3", "y3", "x4", "y4"];

/// Parses the text of one result file; `path` names it in errors. Boxes without a
/// confidence get score 1.
pub fn parse_detections_str(text: &str, path: &Path) -> Result<Vec<Detection>, DetError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        if raw.trim().is_empty() {
            continue;
        }
        let err = |field: &str, message: String| DetError::Parse {
            path: path.to_path_buf(),
            line: i + 1,
            field: field.to_string(),
            message,
        };
        let mut parts = raw.splitn(9, ',');
        let mut c = [0f32; 8];
        for (k, name) in COORD_FIELDS.iter().enumerate() {
            let field = parts
                .next()
                .ok_or_else(|| err(name, "missing (expected 8 coordinates)".into()))?;
            let v: f32 = field
                .trim()
                .parse()
                .map_err(|_| err(name, format!("`{}` is not a number", field.trim())))?;
            if !v.is_finite() {
                return Err(err(name, format!("`{}` is not finite", field.trim())));
            }
            c[k] = v;
        }
        let score = parts
            .next()
            .and_then(|rest| rest.split(',').next())
            .and_then(|s| s.trim().parse::<f32>().ok())
            .filter(|s| s.is_finite())
            .unwrap_or(1.0);
        out.push(Detection {
            quad: [[c[0], c[1]], [c[2], c[3]], [c[4], c[5]], [c[6], c[7]]],
            score,
        });
    }
    Ok(out)
}

/// Reads one result file.
pub fn read_detections_file(path: &Path) -> Result<Vec<Detection>, DetError> {
    let text = std::fs::read_to_string(path).map_err(|e| DetError::io(path, e))?;
    parse_detections_str(&text, path)
}

/// Writes boxes in the submission format: rounded integer corners, then the score.
pub fn write_detections(path: &Path, dets: &[Detection]) -> Result<(), DetError> {
    let mut s = String::new();
    for d in dets {
        for p in &d.quad {
            s.push_str(&format!("{},{},", p[0].round() as i64, p[1].round() as i64));
        }
        s.push_str(&format!("{:.4}\n", d.score));
    }
    std::fs::write(path, s).map_err(|e| DetError::io(path, e))
}

/// The image name of a `res_<name>.txt`, `gt_<name>.txt` or `<name>.txt` file.
pub fn image_name(path: &Path) -> Option<String> {
    if path.extension()? != "txt" {
        return None;
    }
    let stem = path.file_stem()?.to_str()?;
    let name = stem
        .strip_prefix("res_")
        .or_else(|| stem.strip_prefix("gt_"))
        .unwrap_or(stem);
    Some(name.to_string())
}

/// `.txt` files of `dir` by image name, refusing two files for one name.
fn txt_files_by_name(dir: &Path) -> Result<BTreeMap<String, PathBuf>, DetError> {
    if !dir.is_dir() {
        return Err(DetError::MissingDir(dir.to_path_buf()));
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| DetError::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    let mut out = BTreeMap::new();
    for f in files {
        let Some(name) = image_name(&f) else { continue };
        if let Some(first) = out.insert(name.clone(), f.clone()) {
            return Err(DetError::DuplicateName {
                name,
                first,
                second: f,
            });
        }
    }
    Ok(out)
}

/// All result files of `dir`, by image name.
pub fn read_detections_dir(dir: &Path) -> Result<BTreeMap<String, Vec<Detection>>, DetError> {
    txt_files_by_name(dir)?
        .into_iter()
        .map(|(name, path)| Ok((name, read_detections_file(&path)?)))
        .collect()
}

/// All ground-truth files of `dir`, by image name.
pub fn read_gt_dir(dir: &Path) -> Result<BTreeMap<String, Vec<TextLine>>, DetError> {
    txt_files_by_name(dir)?
        .into_iter()
        .map(|(name, path)| Ok((name, parse_gt_file(&path)?)))
        .collect()
}

/// Per-image results and the totals of a directory evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalReport {
    pub metrics: DetMetrics,
    /// By image name, in name order.
    pub images: Vec<(String, ImageEval)>,
    /// Images with ground truth but no result file.
    pub missing: Vec<String>,
}

/// Evaluates in-memory results against ground truth, paired by name. `gt_dir` only names
/// the expected ground-truth file in the error for an orphan result.
pub fn evaluate_maps(
    gt: &BTreeMap<String, Vec<TextLine>>,
    det: &BTreeMap<String, Vec<Detection>>,
    gt_dir: &Path,
) -> Result<EvalReport, DetError> {
    if let Some(name) = det.keys().find(|n| !gt.contains_key(*n)) {
        return Err(DetError::OrphanResult {
            result: PathBuf::from(format!("res_{name}.txt")),
            expected: gt_dir.join(format!("gt_{name}.txt")),
        });
    }
    let mut images = Vec::new();
    let mut missing = Vec::new();
    for (name, lines) in gt {
        let quads: Vec<[[f32; 2]; 4]> = match det.get(name) {
            Some(d) => d.iter().map(|d| d.quad).collect(),
            None => {
                missing.push(name.clone());
                Vec::new()
            }
        };
        images.push((name.clone(), evaluate_image(lines, &quads)));
    }
    let per: Vec<ImageEval> = images.iter().map(|(_, e)| e.clone()).collect();
    let mut metrics = aggregate(&per);
    metrics.missing_results = missing.len();
    Ok(EvalReport {
        metrics,
        images,
        missing,
    })
}

/// Evaluates the result files of `det_dir` against the ground truth of `gt_dir`.
pub fn evaluate_dirs(gt_dir: &Path, det_dir: &Path) -> Result<EvalReport, DetError> {
    let gt = read_gt_dir(gt_dir)?;
    let det_files = txt_files_by_name(det_dir)?;
    if let Some((name, path)) = det_files.iter().find(|(n, _)| !gt.contains_key(*n)) {
        return Err(DetError::OrphanResult {
            result: path.clone(),
            expected: gt_dir.join(format!("gt_{name}.txt")),
        });
    }
    let det = det_files
        .into_iter()
        .map(|(name, path)| Ok((name, read_detections_file(&path)?)))
        .collect::<Result<BTreeMap<_, _>, DetError>>()?;
    evaluate_maps(&gt, &det, gt_dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use docmoco_data::icdar::write_gt_file;

    #[test]
    fn parses_submission_lines_with_and_without_confidence() {
        let p = Path::new("res_img_1.txt");
        let d = parse_detections_str(
            "\u{feff}1,2,3,2,3,4,1,4\r\n\n5,6,7,6,7,8,5,8,0.75\n1,1,2,1,2,2,1,2,###\n",
            p,
        )
        .unwrap();
        assert_eq!(d.len(), 3);
        assert_eq!(d[0].quad[2], [3.0, 4.0]);
        assert_eq!((d[0].score, d[1].score, d[2].score), (1.0, 0.75, 1.0));
        let e = parse_detections_str("1,2,3,2,3,4,1,4\n1,2,3,2,oops,4,1,4\n", p)
            .unwrap_err()
            .to_string();
        assert!(e.contains("res_img_1.txt:2") && e.contains("x3"), "{e}");
        let e = parse_detections_str("1,2,3", p).unwrap_err().to_string();
        assert!(e.contains("y2"), "{e}");
    }

    #[test]
    fn names_pair_results_with_ground_truth() {
        assert_eq!(
            image_name(Path::new("d/res_img_1.txt")).as_deref(),
            Some("img_1")
        );
        assert_eq!(
            image_name(Path::new("gt_img_1.txt")).as_deref(),
            Some("img_1")
        );
        assert_eq!(
            image_name(Path::new("page_3.txt")).as_deref(),
            Some("page_3")
        );
        assert_eq!(image_name(Path::new("res_1.png")), None);
    }

    #[test]
    fn directory_evaluation_counts_missing_and_refuses_orphans() {
        let tmp = tempfile::tempdir().unwrap();
        let (gt, det) = (tmp.path().join("gt"), tmp.path().join("det"));
        std::fs::create_dir_all(&gt).unwrap();
        std::fs::create_dir_all(&det).unwrap();
        let q = [[0.0, 0.0], [100.0, 0.0], [100.0, 10.0], [0.0, 10.0]];
        write_gt_file(&gt.join("gt_a.txt"), &[TextLine::new(q, "a")]).unwrap();
        write_gt_file(&gt.join("gt_b.txt"), &[TextLine::new(q, "b")]).unwrap();
        write_detections(
            &det.join("res_a.txt"),
            &[Detection {
                quad: q,
                score: 0.9,
            }],
        )
        .unwrap();
        let r = evaluate_dirs(&gt, &det).unwrap();
        assert_eq!(r.missing, vec!["b".to_string()]);
        assert_eq!(
            (r.metrics.matched, r.metrics.n_gt, r.metrics.n_det),
            (1, 2, 1)
        );
        assert_eq!((r.metrics.precision, r.metrics.recall), (1.0, 0.5));
        assert_eq!(r.metrics.missing_results, 1);
        // Results written as gt_<name>.txt pair the same way.
        std::fs::rename(det.join("res_a.txt"), det.join("gt_a.txt")).unwrap();
        assert_eq!(evaluate_dirs(&gt, &det).unwrap().metrics.matched, 1);
        write_detections(&det.join("res_c.txt"), &[]).unwrap();
        let e = evaluate_dirs(&gt, &det).unwrap_err();
        assert!(
            matches!(e, DetError::OrphanResult { .. }) && e.to_string().contains("res_c.txt"),
            "{e}"
        );
        std::fs::remove_file(det.join("res_c.txt")).unwrap();
        write_detections(&det.join("res_a.txt"), &[]).unwrap();
        assert!(matches!(
            evaluate_dirs(&gt, &det),
            Err(DetError::DuplicateName { .. })
        ));
    }
}
