//! Contact sheets: a grid of page thumbnails with captions and a score bar — the way to
//! *look* at search results and clusters. Text is set with the Liberation Sans face the
//! confusion-matrix PNG uses (compiled in, no system fonts).

use ab_glyph::FontRef;
use anyhow::{Context, Result};
use docmoco_data::{decode_page, PageRef};
use image::{imageops, Rgb, RgbImage};

use crate::tasks::classify::confusion_png::{blit, render, FONT};

/// Thumbnail box width (px); the box is 4:3 portrait-ish (`THUMB x THUMB * 4 / 3`).
pub const THUMB: u32 = 150;
const GAP: u32 = 10;
const LINE: u32 = 18;

/// One cell of a sheet.
pub struct Tile {
    pub image: RgbImage,
    /// Lines under the thumbnail (cut to fit).
    pub caption: Vec<String>,
    /// Drawn as a bar under the thumbnail: cosine similarity in [0, 1].
    pub score: Option<f32>,
    /// A coloured frame (the query of a search).
    pub highlight: bool,
}

impl Tile {
    /// A tile of `page` decoded small; an unreadable page becomes a grey tile saying so, so one
    /// broken file does not lose the whole sheet.
    pub fn of_page(page: &PageRef, caption: Vec<String>, score: Option<f32>) -> Self {
        let image = decode_page(page, Some(THUMB * 4 / 3))
            .unwrap_or_else(|_| RgbImage::from_pixel(THUMB, THUMB * 4 / 3, Rgb([200, 200, 200])));
        let mut caption = caption;
        if !page.path().is_file() {
            caption.push("(file missing)".into());
        }
        Self {
            image,
            caption,
            score,
            highlight: false,
        }
    }
}

/// Cuts `s` to about `px` pixels of 14 px text, keeping the end (file names differ there).
fn fit(s: &str, px: u32) -> String {
    let max = (px / 7) as usize;
    let n = s.chars().count();
    if n <= max {
        s.to_string()
    } else {
        let tail: String = s.chars().skip(n + 1 - max).collect();
        format!("…{tail}")
    }
}

/// Lays `tiles` out `cols` per row under an optional `title`.
pub fn contact_sheet(title: &str, tiles: &[Tile], cols: usize) -> Result<RgbImage> {
    let font = FontRef::try_from_slice(FONT).context("embedded font")?;
    let cols = cols.clamp(1, tiles.len().max(1)) as u32;
    let rows = (tiles.len() as u32).div_ceil(cols).max(1);
    let lines = tiles.iter().map(|t| t.caption.len()).max().unwrap_or(0) as u32;
    let (box_w, box_h) = (THUMB, THUMB * 4 / 3);
    let cell_w = box_w + GAP;
    let cell_h = box_h + 8 + lines * LINE + GAP;
    let top = if title.is_empty() {
        GAP
    } else {
        GAP + LINE + 6
    };
    let mut img = RgbImage::from_pixel(
        GAP + cols * cell_w,
        top + rows * cell_h,
        Rgb([255, 255, 255]),
    );
    if !title.is_empty() {
        let t = render(&font, &fit(title, cols * cell_w));
        blit(&mut img, &t, GAP, GAP, [0, 0, 0], false);
    }
    for (i, tile) in tiles.iter().enumerate() {
        let (c, r) = (i as u32 % cols, i as u32 / cols);
        let (x0, y0) = (GAP + c * cell_w, top + r * cell_h);
        let thumb = imageops::thumbnail(
            &tile.image,
            box_w
                .min(tile.image.width() * box_h / tile.image.height().max(1))
                .max(1),
            box_h,
        );
        let (tx, ty) = (
            x0 + (box_w - thumb.width().min(box_w)) / 2,
            y0 + (box_h - thumb.height().min(box_h)) / 2,
        );
        imageops::overlay(&mut img, &thumb, tx as i64, ty as i64);
        let frame = if tile.highlight {
            [214, 39, 40]
        } else {
            [170, 170, 170]
        };
        let w = if tile.highlight { 3 } else { 1 };
        for k in 0..w {
            let (l, t) = (tx.saturating_sub(k + 1), ty.saturating_sub(k + 1));
            let (rr, b) = (
                (tx + thumb.width() + k).min(img.width() - 1),
                (ty + thumb.height() + k).min(img.height() - 1),
            );
            for x in l..=rr {
                img.put_pixel(x, t, Rgb(frame));
                img.put_pixel(x, b, Rgb(frame));
            }
            for y in t..=b {
                img.put_pixel(l, y, Rgb(frame));
                img.put_pixel(rr, y, Rgb(frame));
            }
        }
        let bar_y = y0 + box_h + 3;
        if let Some(s) = tile.score {
            let len = (s.clamp(0.0, 1.0) * box_w as f32).round() as u32;
            for y in bar_y..bar_y + 4 {
                for x in x0..x0 + box_w {
                    let color = if x < x0 + len {
                        [31, 119, 180]
                    } else {
                        [225, 225, 225]
                    };
                    img.put_pixel(x, y, Rgb(color));
                }
            }
        }
        for (l, line) in tile.caption.iter().enumerate() {
            let t = render(&font, &fit(line, box_w));
            blit(
                &mut img,
                &t,
                x0,
                bar_y + 5 + l as u32 * LINE,
                [30, 30, 30],
                false,
            );
        }
    }
    Ok(img)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_size_bar_and_frame() {
        let page = RgbImage::from_pixel(60, 80, Rgb([250, 250, 250]));
        let tiles: Vec<Tile> = (0..5)
            .map(|i| Tile {
                image: page.clone(),
                caption: vec![format!("page {i}"), "0.90".into()],
                score: Some(0.5),
                highlight: i == 0,
            })
            .collect();
        let img = contact_sheet("query", &tiles, 3).unwrap();
        let cell_w = THUMB + GAP;
        assert_eq!(img.width(), GAP + 3 * cell_w);
        // Two rows of cells under the title.
        let cell_h = THUMB * 4 / 3 + 8 + 2 * LINE + GAP;
        assert_eq!(img.height(), GAP + LINE + 6 + 2 * cell_h);
        // Score 0.5: the bar is blue at a quarter of the box and grey at three quarters.
        let y = GAP + LINE + 6 + THUMB * 4 / 3 + 4;
        assert_eq!(img.get_pixel(GAP + THUMB / 4, y).0, [31, 119, 180]);
        assert_eq!(img.get_pixel(GAP + THUMB * 3 / 4, y).0, [225, 225, 225]);
        // Some caption text was drawn (dark pixels below the bar).
        let dark = (y + 5..y + 5 + LINE)
            .flat_map(|yy| (GAP..GAP + THUMB).map(move |x| (x, yy)))
            .filter(|&(x, yy)| img.get_pixel(x, yy).0[0] < 128)
            .count();
        assert!(dark > 10, "{dark}");
    }
}
