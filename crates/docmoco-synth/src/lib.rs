//! Procedural document pages with ground truth, for MoCo pre-training and its downstream
//! tasks (document classification, text-line detection).
//!
//! Each page is a pure function of `(class, seed, size)`: a class-specific layout is drawn
//! in page points with real fonts, then optionally degraded like a scan. The text-line
//! boxes are measured on the inked glyph pixels and follow the page skew as quadrilaterals.
//!
//! Entry points: [`generate_page`] / [`render_page`] for one page, [`write_corpus`] for
//! the ImageFolder + ICDAR 2015 corpus, [`draw_overlay`] / [`write_preview`] to look at
//! the ground truth.

pub mod canvas;
pub mod class;
pub mod content;
pub mod corpus;
pub mod degrade;
pub mod elements;
pub mod error;
pub mod fonts;
pub mod gt;
pub mod layout;
pub mod overlay;
pub mod page;
pub mod painter;
pub mod pdf;
pub mod text;
pub mod words;

pub use class::DocClass;
pub use corpus::{
    plan, write_corpus, write_preview, CorpusSummary, PlannedPage, Split, SynthConfig,
};
pub use error::SynthError;
pub use gt::TextLine;
pub use overlay::draw_overlay;
pub use page::{generate_page, render_page, PageSpec, SynthPage};
pub use pdf::{pdf_text_lines, pdf_to_det, PdfDetSummary};
