//! Procedural document pages with ground truth, for MoCo pre-training and its downstream
//! tasks (document classification, text-line detection), plus text-line ground truth
//! from born-digital PDFs.
//!
//! Each page is a pure function of `(class, seed, size)`: a class-specific layout is drawn
//! in page points with real (embedded) fonts, then optionally degraded like a scan. The
//! text-line boxes are measured on the inked glyph pixels and follow the page skew as
//! ICDAR 2015 quadrilaterals.
//!
//! * One page: [`generate_page`] (degraded) or [`render_page`] with a [`PageSpec`].
//! * A corpus: [`write_corpus`] with a [`SynthConfig`] writes ImageFolder
//!   (`cls/`), ICDAR 2015 (`det/`) and `unlabeled/` layouts in parallel; [`plan`] shows
//!   which page goes where without writing anything.
//! * Looking at it: [`draw_overlay`], [`write_preview`].
//! * PDFs: [`pdf_text_lines`] for one page, [`pdf_to_det`] for a folder.
//!
//! ```
//! use docmoco_synth::{generate_page, DocClass};
//! let page = generate_page(DocClass::Invoice, 42, 256)?;
//! assert_eq!(page.image.height(), 256);
//! assert!(page.lines.iter().any(|l| !l.dont_care));
//! # Ok::<(), docmoco_synth::SynthError>(())
//! ```

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
