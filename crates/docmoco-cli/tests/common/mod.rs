//! Running the `docmoco` binary from integration tests, and the small generated corpus they
//! share.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn docmoco(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_docmoco"))
        .args(args)
        .output()
        .expect("docmoco runs")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The JSON objects a `--json` command printed, one per line of its standard output.
pub fn json_lines(o: &Output) -> Vec<serde_json::Value> {
    stdout(o)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect()
}

/// `docmoco synth` of `pages` pages with long side `size` into `dir/corpus`.
pub fn corpus(dir: &Path, pages: usize, size: u32) -> PathBuf {
    let out = dir.join("corpus");
    let (pages, size) = (pages.to_string(), size.to_string());
    let o = docmoco(&[
        "synth",
        "--out",
        out.to_str().unwrap(),
        "--pages",
        &pages,
        "--size",
        &size,
        "--quiet",
    ]);
    assert!(o.status.success(), "synth failed: {}", stderr(&o));
    out
}

/// The `epoch` rows of a run's `metrics.csv`, split into columns.
pub fn epoch_rows(run: &Path) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
    text.lines()
        .filter(|l| l.starts_with("epoch,"))
        .map(|l| l.split(',').map(String::from).collect())
        .collect()
}
