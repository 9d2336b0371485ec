//! Till receipts: narrow roll, monospace print, store header, items with prices, dashed
//! separators, totals, payment, thank-you line and often a barcode or QR code.

use rand::seq::SliceRandom;

use crate::content::{self, MoneyStyle};
use crate::elements::{barcode, logo};
use crate::fonts::Family;
use crate::painter::Painter;
use crate::text::{Align, Gt, TextStyle};
use crate::words::{RECEIPT_ITEMS, STORE_NAMES};

/// Till roll widths in points: 80 mm and 58 mm.
pub const ROLL_WIDTHS: [f32; 2] = [227.0, 164.0];

pub fn draw(p: &mut Painter) {
    let (rx, ry, rw, rh) = if p.w() > 300.0 {
        scanner_bed(p)
    } else {
        (0.0, 0.0, p.w(), p.h())
    };
    draw_roll(p, rx, ry, rw, rh);
}

/// A receipt laid on a flatbed scanner: the page is the scanner bed (lid grey around the
/// slip), the slip is a roll-width strip somewhere on it. Keeps "narrow page" from being
/// the only thing that tells a receipt apart.
fn scanner_bed(p: &mut Painter) -> (f32, f32, f32, f32) {
    let rw = ROLL_WIDTHS[p.r(0..2)];
    let rh = (rw * p.r(1.8..3.4)).min(p.h() - 40.0);
    let rx = p.r(20.0..(p.w() - rw - 20.0).max(21.0));
    let ry = p.r(15.0..(p.h() - rh - 15.0).max(16.0));
    let bed = p.r(0.04..0.25);
    let (w, h) = (p.w(), p.h());
    // One pass over the page (separate rectangles would leave anti-aliased seams).
    let (u0, u1, v0, v1) = (rx / w, (rx + rw) / w, ry / h, (ry + rh) / h);
    p.c.fill_with(0.0, 0.0, w, h, |u, v| {
        if u >= u0 && u < u1 && v >= v0 && v < v1 {
            0.0
        } else {
            bed
        }
    });
    // A faint shadow along the slip's right and bottom edges.
    let sh = p.r(1.0..4.0);
    p.c.fill_rect(rx + rw, ry + sh, sh, rh, (bed + 0.15).min(0.6));
    p.c.fill_rect(rx + sh, ry + rh, rw, sh, (bed + 0.15).min(0.6));
    (rx, ry, rw, rh)
}

/// Draws the receipt into the region `(ox, oy, pw, ph)` points.
fn draw_roll(p: &mut Painter, ox: f32, oy: f32, pw: f32, ph: f32) {
    let fam = if p.chance(0.85) {
        *Family::MONO.choose(&mut p.rng).unwrap_or(&Family::Mono)
    } else {
        Family::Sans
    };
    // Thermal print is often faint and greyish.
    let dark = p.r(0.55..1.0);
    let margin = pw * p.r(0.05..0.1);
    let (x0, x1) = (ox + margin, ox + pw - margin);
    let width = x1 - x0;
    let chars_per_line = p.r(30..44) as f32;
    // Size the font so a line holds about `chars_per_line` characters.
    let probe = TextStyle::new(fam, 10.0);
    let cw = p.measure("0000000000", &probe) / 10.0;
    debug_assert!(cw > 0.0);
    let size = 10.0 * width / (cw * chars_per_line);
    let body = TextStyle::new(fam, size).dark(dark);
    let lh = size * p.r(1.2..1.5);
    let bottom = oy + ph - margin;
    let money = MoneyStyle {
        symbol: ["", "$", "£", " EUR"][p.r(0..4)],
        ..MoneyStyle::random(&mut p.rng)
    };
    let cx = ox + pw / 2.0;
    let mut y = oy + margin * p.r(0.8..1.5);

    // Store header.
    let store = content::pick(&mut p.rng, STORE_NAMES).to_string();
    let big = body.sized(size * p.r(1.4..2.0)).bold();
    if p.chance(0.3) {
        let s = size * 2.5;
        logo::mark(p, cx - s / 2.0, y, s);
        y += s + size * 0.6;
    }
    let t = p.fit(&store, &big, width);
    p.text(&t, cx, y, &big, Align::Center);
    y += big.size * 1.4;
    let addr = vec![
        content::street(&mut p.rng),
        content::city_line(&mut p.rng),
        format!("Tel {}", content::phone(&mut p.rng)),
    ];
    for a in &addr {
        let s = p.fit(a, &body, width);
        p.text(&s, cx, y, &body, Align::Center);
        y += lh;
    }
    if p.chance(0.5) {
        let v = format!("VAT {}", content::vat_id(&mut p.rng));
        p.text(&v, cx, y, &body, Align::Center);
        y += lh;
    }
    y += lh * 0.5;
    let sep = |p: &mut Painter, y: f32| {
        if p.chance(0.5) {
            p.c.dashed_hline(
                x0,
                x1,
                y + lh * 0.4,
                size * 0.08,
                [size * 0.5, size * 0.3],
                dark,
            );
        } else {
            // A row of dashes is a rule, not text: drawn but not recorded.
            let ch = ["-", "=", "*"][p.r(0..3)];
            let n = (width / p.measure(ch, &body).max(0.1)) as usize;
            let s = p.fit(&ch.repeat(n), &body, width);
            p.ts.draw(&mut p.c, &s, x0, y, &body, Align::Left, Gt::Skip);
        }
    };
    let date = content::date(&mut p.rng);
    let time = format!("{:02}:{:02}", p.r(6..23), p.r(0..60));
    p.text(&date, x0, y, &body, Align::Left);
    p.text(&time, x1, y, &body, Align::Right);
    y += lh;
    if p.chance(0.7) {
        let c = format!("Receipt {}", p.r(1000..99999));
        p.text(&c, x0, y, &body, Align::Left);
        let till = format!("Till {}", p.r(1..12));
        p.text(&till, x1, y, &body, Align::Right);
        y += lh;
    }
    sep(p, y);
    y += lh;

    // Items until the space for the footer runs out.
    let footer_need = lh * 10.0 + width * 0.35;
    let max_items = p.r(2..25);
    let mut total = 0i64;
    let mut n = 0;
    while n < max_items && y + lh * 2.0 < bottom - footer_need {
        let item = content::pick(&mut p.rng, RECEIPT_ITEMS);
        let qty: i64 = if p.chance(0.7) { 1 } else { p.r(2..6) };
        let price: i64 = p.r(49..2999);
        total += qty * price;
        if qty > 1 && p.chance(0.6) {
            p.text(item, x0, y, &body, Align::Left);
            y += lh;
            let q = format!("  {qty} x {}", money.format(price, false));
            p.text(&q, x0, y, &body, Align::Left);
        } else {
            let label = if qty > 1 {
                format!("{qty} {item}")
            } else {
                item.to_string()
            };
            p.text(&label, x0, y, &body, Align::Left);
        }
        let amount = money.format(qty * price, false);
        let flag = ["", " A", " B"][p.r(0..3)];
        p.text(&format!("{amount}{flag}"), x1, y, &body, Align::Right);
        y += lh;
        n += 1;
    }
    sep(p, y);
    y += lh;

    // Totals and payment.
    let rate = [5, 7, 10, 19, 20][p.r(0..5)];
    let tax = total * rate / (100 + rate);
    p.text("SUBTOTAL", x0, y, &body, Align::Left);
    p.text(
        &money.format(total - tax, false),
        x1,
        y,
        &body,
        Align::Right,
    );
    y += lh;
    p.text(&format!("TAX {rate}%"), x0, y, &body, Align::Left);
    p.text(&money.format(tax, false), x1, y, &body, Align::Right);
    y += lh;
    let tb = body.sized(size * p.r(1.1..1.5)).bold();
    p.text("TOTAL", x0, y, &tb, Align::Left);
    p.text(&money.format(total, true), x1, y, &tb, Align::Right);
    y += tb.size * 1.5;
    if p.chance(0.5) {
        let card = format!("CARD ****{:04}", p.r(0..9999));
        p.text(&card, x0, y, &body, Align::Left);
        p.text(&money.format(total, false), x1, y, &body, Align::Right);
        y += lh;
        let auth = format!("AUTH {:06}", p.r(0..999999));
        p.text(&auth, x0, y, &body, Align::Left);
    } else {
        let given = (total / 1000 + 1) * 1000;
        p.text("CASH", x0, y, &body, Align::Left);
        p.text(&money.format(given, false), x1, y, &body, Align::Right);
        y += lh;
        p.text("CHANGE", x0, y, &body, Align::Left);
        p.text(
            &money.format(given - total, false),
            x1,
            y,
            &body,
            Align::Right,
        );
    }
    y += lh * 1.5;
    let thanks = [
        "THANK YOU!",
        "THANK YOU FOR SHOPPING",
        "PLEASE COME AGAIN",
        "HAVE A NICE DAY",
        "KEEP THIS RECEIPT",
    ][p.r(0..5)];
    let s = p.fit(thanks, &body, width);
    p.text(&s, cx, y, &body, Align::Center);
    y += lh * 1.5;
    let room = bottom - y;
    if room > width * 0.3 && p.chance(0.8) {
        if p.chance(0.5) {
            let s = (width * 0.4).min(room - 4.0);
            barcode::qr(p, cx - s / 2.0, y, s);
        } else {
            let h = (width * 0.3).min(room - 4.0);
            barcode::barcode(p, x0 + width * 0.1, y, width * 0.8, h, true);
        }
    }
}
