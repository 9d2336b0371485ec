//! Progress bars: steps with loss, lr, img/s and ETA (indicatif).

use std::cell::RefCell;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A training progress bar (hidden when quiet).
pub struct Progress {
    bar: ProgressBar,
    /// The diagnostic's flag (`shortcut`, `collapse`), shown until the next diagnostic.
    flag: RefCell<String>,
}

impl Progress {
    pub fn new(total_steps: usize, done: usize, quiet: bool) -> Self {
        let bar = ProgressBar::new(total_steps as u64);
        if quiet {
            bar.set_draw_target(ProgressDrawTarget::hidden());
        }
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} steps  {msg}  ETA {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.set_position(done as u64);
        bar.reset_eta();
        Self {
            bar,
            flag: RefCell::new(String::new()),
        }
    }

    pub fn step(&self, step: usize, epoch: usize, loss: f64, acc: f64, lr: f64, img_per_s: f64) {
        self.bar.set_position(step as u64);
        self.bar.set_message(format!(
            "ep {epoch} loss {loss:.4} inst-acc {:.0}% lr {lr:.2e} {img_per_s:.1} img/s{}",
            acc * 100.0,
            self.flag_text()
        ));
    }

    /// A detection step: DBNet's weighted loss instead of InfoNCE and instance accuracy.
    pub fn step_detect(&self, step: usize, loss: f64, terms: [f64; 3], lr: f64, img_per_s: f64) {
        self.bar.set_position(step as u64);
        let [bce, dice, l1] = terms;
        self.bar.set_message(format!(
            "loss {loss:.3} (bce {bce:.3} dice {dice:.3} l1 {l1:.3}) lr {lr:.2e} {img_per_s:.1} img/s"
        ));
    }

    /// Shows the diagnostic's flag label (`ok` clears it) in the step message.
    pub fn set_flag(&self, label: &str) {
        *self.flag.borrow_mut() = label.to_string();
    }

    fn flag_text(&self) -> String {
        match self.flag.borrow().as_str() {
            "" | "ok" => String::new(),
            f => format!("  [{}: see the warning above]", f.to_uppercase()),
        }
    }

    pub fn message(&self, text: &str) {
        self.bar.println(text);
    }

    pub fn finish(&self) {
        self.bar.finish();
    }
}

/// A plain counting bar for data preparation (decoding, feature extraction).
pub fn counter(len: usize, what: &str, quiet: bool) -> ProgressBar {
    let bar = ProgressBar::new(len as u64);
    if quiet {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "{{spinner}} {what} {{bar:30}} {{pos}}/{{len}} ({{per_sec}}, ETA {{eta}})"
        ))
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}
