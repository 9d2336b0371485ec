//! Barcodes and QR-like matrix codes. They are not decodable; they only need to look
//! (and confuse a detector) like the real thing.

use crate::fonts::Family;
use crate::painter::Painter;
use crate::text::{Align, TextStyle};

/// A 1-D barcode of `w x h` points at `(x, y)`, with its digits printed below when
/// `digits` is set (then `h` includes them). Returns the bottom y.
pub fn barcode(p: &mut Painter, x: f32, y: f32, w: f32, h: f32, digits: bool) -> f32 {
    let number: String = (0..p.r(8..14))
        .map(|_| char::from(b'0' + p.r(0..10u8)))
        .collect();
    let digit_style = TextStyle::new(Family::Mono, (h * 0.18).clamp(5.0, 10.0));
    let bar_h = if digits {
        h - digit_style.size * 1.3
    } else {
        h
    };
    // Bars and spaces of 1..=4 modules, guard bars at both ends.
    let mut widths: Vec<u32> = vec![1, 1, 1];
    while widths.iter().sum::<u32>() < 90 {
        widths.push(p.r(1..5));
    }
    widths.extend([1, 1, 1]);
    let total: u32 = widths.iter().sum();
    let module = w / total as f32;
    let mut xx = x;
    for (i, m) in widths.iter().enumerate() {
        let ww = *m as f32 * module;
        if i % 2 == 0 {
            p.c.fill_rect(xx, y, ww, bar_h, 1.0);
        }
        xx += ww;
    }
    if digits {
        p.text(
            &number,
            x + w / 2.0,
            y + bar_h + digit_style.size * 0.15,
            &digit_style,
            Align::Center,
        );
    }
    y + h
}

/// A QR-like matrix code of `size` points: three finder squares and random modules.
pub fn qr(p: &mut Painter, x: f32, y: f32, size: f32) {
    let n: usize = [21, 25, 29][p.r(0..3)];
    let m = size / n as f32;
    let finder = |i: usize, j: usize| -> Option<bool> {
        for (fx, fy) in [(0, 0), (n - 7, 0), (0, n - 7)] {
            if i >= fx && i < fx + 7 && j >= fy && j < fy + 7 {
                let (a, b) = (i - fx, j - fy);
                let ring = a == 0 || a == 6 || b == 0 || b == 6;
                let core = (2..=4).contains(&a) && (2..=4).contains(&b);
                return Some(ring || core);
            }
            // Quiet separator around finders.
            if i + 1 >= fx && i < fx + 8 && j + 1 >= fy && j < fy + 8 {
                return Some(false);
            }
        }
        None
    };
    for j in 0..n {
        for i in 0..n {
            let on = match finder(i, j) {
                Some(v) => v,
                None => p.chance(0.5),
            };
            if on {
                p.c.fill_rect(x + i as f32 * m, y + j as f32 * m, m, m, 1.0);
            }
        }
    }
}
