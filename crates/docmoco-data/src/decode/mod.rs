//! Decoding one page to RGB, optionally shrunk so its long side fits a limit.
//!
//! Grayscale scans (most of RVL-CDIP), 16-bit TIFFs and palette PNGs all become 8-bit RGB,
//! so the rest of the pipeline sees one format; transparent pixels are composited on white
//! (paper), not black; the EXIF orientation of phone photos is applied. Shrinking uses the
//! same antialiased filter as the augmentations ([`crate::resample`]).

mod cache;

pub use cache::{suggested_long_side, PageCache};

use image::{DynamicImage, ImageDecoder, RgbImage};

use crate::pdf::render_pdf_page;
use crate::resample::{resample_into, Dest, Rect, Rgb8Source};
use crate::sources::PageRef;
use crate::DataError;

fn decode_error(page: &PageRef, message: impl ToString) -> DataError {
    DataError::Decode {
        path: page.path().to_path_buf(),
        message: message.to_string(),
    }
}

/// Flattens any decoded image to RGB8, compositing alpha over white.
fn to_rgb8_on_white(img: DynamicImage) -> RgbImage {
    if !img.color().has_alpha() {
        return img.into_rgb8();
    }
    let rgba = img.into_rgba8();
    let (w, h) = rgba.dimensions();
    let mut out = RgbImage::new(w, h);
    for (o, p) in out.pixels_mut().zip(rgba.pixels()) {
        let a = p.0[3] as u32;
        for c in 0..3 {
            // Exact integer rounding of v * a / 255 + 255 * (255 - a) / 255.
            o.0[c] = ((p.0[c] as u32 * a + 255 * (255 - a) + 127) / 255) as u8;
        }
    }
    out
}

/// Size with the long side scaled to `max_long_side`, if it is larger.
pub fn fit_long_side(width: u32, height: u32, max_long_side: u32) -> (u32, u32) {
    let long = width.max(height);
    if long <= max_long_side || max_long_side == 0 {
        return (width, height);
    }
    let s = max_long_side as f64 / long as f64;
    let w = ((width as f64 * s).round() as u32).clamp(1, max_long_side);
    let h = ((height as f64 * s).round() as u32).clamp(1, max_long_side);
    (w, h)
}

/// Shrinks `img` so its long side is at most `max_long_side` (antialiased, rounded to u8).
pub fn downscale(img: &RgbImage, max_long_side: u32) -> RgbImage {
    let (w, h) = img.dimensions();
    let (nw, nh) = fit_long_side(w, h, max_long_side);
    if (nw, nh) == (w, h) {
        return img.clone();
    }
    let (nw, nh) = (nw as usize, nh as usize);
    let mut planes = vec![0f32; 3 * nw * nh];
    let dest = Dest {
        data: &mut planes,
        height: nh,
        width: nw,
        top: 0,
        left: 0,
    };
    resample_into(
        &Rgb8Source {
            raw: img.as_raw(),
            w: w as usize,
        },
        Rect::full(h as usize, w as usize),
        (nh, nw),
        Rect::full(nh, nw),
        dest,
    );
    let n = nw * nh;
    let mut raw = Vec::with_capacity(3 * n);
    for i in 0..n {
        for c in 0..3 {
            raw.push((planes[c * n + i] * 255.0).round().clamp(0.0, 255.0) as u8);
        }
    }
    RgbImage::from_raw(nw as u32, nh as u32, raw)
        .unwrap_or_else(|| RgbImage::new(nw as u32, nh as u32))
}

/// Decodes an image file fully (header, pixels, orientation).
fn decode_image(page: &PageRef) -> Result<RgbImage, DataError> {
    let path = page.path();
    let reader = image::ImageReader::open(path)
        .map_err(|e| DataError::io(path, e))?
        .with_guessed_format()
        .map_err(|e| DataError::io(path, e))?;
    let mut decoder = reader.into_decoder().map_err(|e| decode_error(page, e))?;
    let orientation = decoder.orientation().map_err(|e| decode_error(page, e))?;
    let mut img = DynamicImage::from_decoder(decoder).map_err(|e| decode_error(page, e))?;
    img.apply_orientation(orientation);
    if img.width() == 0 || img.height() == 0 {
        return Err(decode_error(page, "empty image"));
    }
    Ok(to_rgb8_on_white(img))
}

/// Decodes one page to RGB8. With `max_long_side`, images larger than that are shrunk and
/// PDF pages are rendered with their long side exactly at that size.
pub fn decode_page(page: &PageRef, max_long_side: Option<u32>) -> Result<RgbImage, DataError> {
    match page {
        PageRef::Image(_) => {
            let img = decode_image(page)?;
            Ok(match max_long_side {
                Some(m) => downscale(&img, m),
                None => img,
            })
        }
        PageRef::PdfPage { path, page } => render_pdf_page(path, *page, max_long_side),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grayscale_and_alpha_become_rgb_on_white() {
        let dir = tempfile::tempdir().unwrap();
        let g = dir.path().join("g.png");
        image::GrayImage::from_pixel(3, 2, image::Luma([77]))
            .save(&g)
            .unwrap();
        let img = decode_page(&PageRef::Image(g), None).unwrap();
        assert_eq!(img.get_pixel(1, 1).0, [77, 77, 77]);
        let a = dir.path().join("a.png");
        image::RgbaImage::from_pixel(2, 2, image::Rgba([0, 0, 0, 0]))
            .save(&a)
            .unwrap();
        let img = decode_page(&PageRef::Image(a), None).unwrap();
        assert_eq!(img.get_pixel(0, 0).0, [255, 255, 255]);
    }

    #[test]
    fn large_pages_are_shrunk_to_the_long_side() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("big.png");
        image::RgbImage::from_pixel(300, 120, image::Rgb([10, 200, 30]))
            .save(&p)
            .unwrap();
        let img = decode_page(&PageRef::Image(p.clone()), Some(100)).unwrap();
        assert_eq!(img.dimensions(), (100, 40));
        assert_eq!(img.get_pixel(50, 20).0, [10, 200, 30]);
        assert_eq!(
            decode_page(&PageRef::Image(p), Some(1000))
                .unwrap()
                .dimensions(),
            (300, 120)
        );
        assert_eq!(fit_long_side(7, 1000, 10), (1, 10));
    }

    #[test]
    fn corrupt_files_are_errors_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bad.png");
        let mut bytes = Vec::new();
        image::RgbImage::from_pixel(40, 40, image::Rgb([1, 2, 3]))
            .write_to(
                &mut std::io::Cursor::new(&mut bytes),
                image::ImageFormat::Png,
            )
            .unwrap();
        bytes.truncate(bytes.len() / 2);
        std::fs::write(&p, bytes).unwrap();
        let e = decode_page(&PageRef::Image(p), None).unwrap_err();
        assert!(e.to_string().contains("bad.png"), "{e}");
    }
}
