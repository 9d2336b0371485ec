//! Pictures of detections over their page, for people to look at.
//!
//! Ground truth is drawn thin in green (don't-care regions in grey), detections thicker in
//! red on top, so a miss (green alone), a false alarm (red alone) and a hit (red over green)
//! read at a glance. Line width grows with the page so boxes stay visible when a large scan
//! is viewed shrunk to a screen.

use docmoco_data::icdar::TextLine;
use image::{Rgb, RgbImage};

use crate::geometry::Point;
use crate::postprocess::Detection;

const GREEN: Rgb<u8> = Rgb([0, 170, 0]);
const GREY: Rgb<u8> = Rgb([150, 150, 150]);
const RED: Rgb<u8> = Rgb([230, 0, 0]);

/// Paints a disc of radius `r` (a thick line's pen).
fn dot(img: &mut RgbImage, x: f32, y: f32, r: f32, c: Rgb<u8>) {
    let (w, h) = (img.width() as i64, img.height() as i64);
    let ri = r.ceil() as i64;
    let (cx, cy) = (x.round() as i64, y.round() as i64);
    for dy in -ri..=ri {
        for dx in -ri..=ri {
            let (px, py) = (cx + dx, cy + dy);
            if px >= 0 && py >= 0 && px < w && py < h && ((dx * dx + dy * dy) as f32) <= r * r + 0.5
            {
                img.put_pixel(px as u32, py as u32, c);
            }
        }
    }
}

/// Draws the closed polygon with a pen of width about `2 r + 1`.
fn polygon(img: &mut RgbImage, poly: &[Point], r: f32, c: Rgb<u8>) {
    let n = poly.len();
    for i in 0..n {
        let (a, b) = (poly[i], poly[(i + 1) % n]);
        let steps =
            ((b[0] - a[0]).abs().max((b[1] - a[1]).abs()).ceil() as usize).clamp(1, 100_000);
        for s in 0..=steps {
            let t = s as f32 / steps as f32;
            dot(
                img,
                a[0] + t * (b[0] - a[0]),
                a[1] + t * (b[1] - a[1]),
                r,
                c,
            );
        }
    }
}

/// The page with ground truth and detections drawn over it (both in page pixels).
pub fn draw_detections(page: &RgbImage, gt: &[TextLine], dets: &[Detection]) -> RgbImage {
    let mut img = page.clone();
    let long = page.width().max(page.height()) as f32;
    let thin = (long / 1500.0).floor();
    let thick = (long / 600.0).floor().max(1.0);
    for l in gt {
        polygon(
            &mut img,
            &l.quad,
            thin,
            if l.dont_care { GREY } else { GREEN },
        );
    }
    for d in dets {
        polygon(&mut img, &d.quad, thick, RED);
    }
    img
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_land_on_the_box_edges_only() {
        let page = RgbImage::from_pixel(100, 60, Rgb([255, 255, 255]));
        let q = [[10.0, 10.0], [50.0, 10.0], [50.0, 30.0], [10.0, 30.0]];
        let gt = [
            TextLine::new(q, "a"),
            TextLine::new(
                [[60.0, 40.0], [90.0, 40.0], [90.0, 50.0], [60.0, 50.0]],
                "###",
            ),
        ];
        let det = [Detection {
            quad: [[12.0, 12.0], [48.0, 12.0], [48.0, 28.0], [12.0, 28.0]],
            score: 0.9,
        }];
        let out = draw_detections(&page, &gt, &det);
        assert_eq!(*out.get_pixel(30, 10), GREEN);
        assert_eq!(*out.get_pixel(75, 40), GREY);
        assert_eq!(*out.get_pixel(30, 12), RED);
        assert_eq!(*out.get_pixel(30, 20), Rgb([255, 255, 255]));
        assert_eq!(out.dimensions(), page.dimensions());
    }
}
