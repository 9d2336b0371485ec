//! One synthetic page: the pure function from `(class, seed, size)` to image + ground truth.

use image::GrayImage;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::canvas::Canvas;
use crate::degrade::{self, Degradation};
use crate::fonts::fonts;
use crate::gt::TextLine;
use crate::layout;
use crate::painter::Painter;
use crate::text::Typesetter;
use crate::{DocClass, SynthError};

/// Smallest and largest accepted long side in pixels. Below 64 px nothing is legible;
/// above 8192 px a page would take hundreds of MB of buffers.
pub const MIN_SIZE: u32 = 64;
pub const MAX_SIZE: u32 = 8192;

/// A generated page with its labels.
#[derive(Debug, Clone)]
pub struct SynthPage {
    /// Greyscale page, long side = the requested size.
    pub image: GrayImage,
    pub class: DocClass,
    /// Every text line, as ICDAR 2015 quads in image pixels (inside the image).
    pub lines: Vec<TextLine>,
    /// The seed the page was made from.
    pub seed: u64,
}

/// What to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageSpec {
    pub class: DocClass,
    pub seed: u64,
    /// Long side of the output in pixels.
    pub size: u32,
    /// Apply scan-like degradations (skew, blur, noise, ...).
    pub degrade: bool,
}

/// Generates a degraded page. Pure and deterministic: the same arguments give the same
/// pixels and ground truth on every machine and thread count.
pub fn generate_page(class: DocClass, seed: u64, size: u32) -> Result<SynthPage, SynthError> {
    render_page(&PageSpec {
        class,
        seed,
        size,
        degrade: true,
    })
}

/// Generates a page as specified. The layout does not depend on `size` or `degrade`
/// (separate random streams), so a clean and a degraded render of one seed show the
/// same document.
pub fn render_page(spec: &PageSpec) -> Result<SynthPage, SynthError> {
    if !(MIN_SIZE..=MAX_SIZE).contains(&spec.size) {
        return Err(SynthError::InvalidConfig(format!(
            "size {} outside {MIN_SIZE}..={MAX_SIZE}",
            spec.size
        )));
    }
    let fonts = fonts()?;
    let base = mix(spec.seed ^ spec.class.salt().wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut layout_rng = ChaCha8Rng::seed_from_u64(base);
    let mut degrade_rng = ChaCha8Rng::seed_from_u64(mix(base ^ 0xD3E6_0000_0000_00D5));

    let (w_pt, h_pt) = layout::paper(spec.class, &mut layout_rng);
    let canvas = Canvas::new(w_pt, h_pt, spec.size);
    let mut painter = Painter::new(canvas, layout_rng, Typesetter::new(fonts));
    layout::draw(spec.class, &mut painter);
    let (w, h, ink, lines) = painter.c.into_parts();

    let deg = if spec.degrade {
        Degradation::random(&mut degrade_rng, spec.size)
    } else {
        Degradation::none()
    };
    let (image, lines) = degrade::apply(&ink, w, h, &lines, &deg, &mut degrade_rng)?;
    Ok(SynthPage {
        image,
        class: spec.class,
        lines,
        seed: spec.seed,
    })
}

/// SplitMix64 finaliser: turns nearby seeds (0, 1, 2, ...) into unrelated ones.
pub fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
