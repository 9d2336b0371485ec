//! Fill-in forms: title, shaded section bars, labelled fields on lines or in boxes, some
//! filled in by hand (handwriting fonts), checkbox groups, comb fields, signature line.

use rand::seq::SliceRandom;

use crate::content;
use crate::elements::{barcode, marks};
use crate::fonts::Family;
use crate::layout::common::{body_family, footer, Margins};
use crate::painter::Painter;
use crate::text::{Align, TextStyle};

const TITLES: &[&str] = &[
    "APPLICATION FORM",
    "REGISTRATION FORM",
    "Change of Address",
    "EXPENSE CLAIM FORM",
    "Employee Information",
    "ORDER FORM",
    "Membership Application",
    "Request Form",
    "Patient Registration",
    "Claim Form",
];

const SECTIONS: &[&str] = &[
    "Personal details",
    "Contact information",
    "Address",
    "Employment",
    "Payment details",
    "Bank account",
    "Emergency contact",
    "Declaration",
    "Office use only",
    "Details of claim",
    "Vehicle",
    "Membership type",
];

/// Makes the value of a field.
type ValueGen = fn(&mut Painter) -> String;

fn field_labels() -> Vec<(&'static str, ValueGen)> {
    vec![
        ("Surname", |p| {
            content::pick(&mut p.rng, crate::words::LAST_NAMES).to_string()
        }),
        ("First name(s)", |p| {
            content::pick(&mut p.rng, crate::words::FIRST_NAMES).to_string()
        }),
        ("Date of birth", |p| {
            content::date_in_style(0, p.r(1950..2005), p.r(1..=12), p.r(1..=28))
        }),
        ("Street and number", |p| content::street(&mut p.rng)),
        ("Postcode / City", |p| content::city_line(&mut p.rng)),
        ("Telephone", |p| content::phone(&mut p.rng)),
        ("E-mail", |p| {
            let c = content::company(&mut p.rng);
            content::email(&mut p.rng, &c)
        }),
        ("Employer", |p| content::company(&mut p.rng)),
        ("Position", |p| {
            content::pick(&mut p.rng, crate::words::JOB_TITLES).to_string()
        }),
        ("Amount", |p| format!("{:.2}", p.r(5.0..5000.0f32))),
        ("Reference no.", |p| content::doc_number(&mut p.rng, "REF")),
        ("Nationality", |p| {
            content::country(&mut p.rng).0.to_string()
        }),
        ("IBAN", |p| content::iban(&mut p.rng)),
        ("Start date", |p| content::date(&mut p.rng)),
    ]
}

pub fn draw(p: &mut Painter) {
    let m = Margins::office(p);
    let fam = body_family(p);
    let base = p.r(8.0..10.5);
    let label = TextStyle::new(fam, base);
    let hand_fam = *Family::HAND.choose(&mut p.rng).unwrap_or(&Family::Hand);
    let hand = TextStyle::new(hand_fam, base * p.r(1.3..1.7)).dark(p.r(0.7..0.95));
    let typed = TextStyle::new(
        *Family::MONO.choose(&mut p.rng).unwrap_or(&Family::Mono),
        base * 1.05,
    );
    let handwritten = p.chance(0.65);
    let value_style = if handwritten { hand } else { typed };
    let fill_rate = p.r(0.5..1.0);
    let (x0, x1, width) = (m.left, m.right_x(p), m.width(p));
    let boxed = p.chance(0.4);
    let bar_fill = if p.chance(0.6) {
        Some(p.r(0.1..0.25))
    } else {
        None
    };

    let bottom = if p.chance(0.5) {
        let fs = label.sized(base * 0.75);
        let code = format!(
            "Form {}-{} ({})",
            ["A", "B", "F", "HR", "FIN"][p.r(0..5)],
            p.r(1..99),
            p.r(2015..2026)
        );
        footer(p, &m, &fs, &[code])
    } else {
        m.bottom_y(p)
    };

    let mut y = m.top;
    let ts = TextStyle::new(fam, p.r(14.0..20.0)).bold();
    let title = content::pick(&mut p.rng, TITLES);
    if p.chance(0.5) {
        p.text(title, p.w() / 2.0, y, &ts, Align::Center);
    } else {
        p.text(title, x0, y, &ts, Align::Left);
        if p.chance(0.5) {
            barcode::barcode(p, x1 - 110.0, y - 4.0, 110.0, 30.0, true);
        }
    }
    y += ts.size * 1.8;
    if p.chance(0.6) {
        let s = {
            let n = p.r(8..16);
            content::sentence(&mut p.rng, n)
        };
        y = p.paragraph(
            &[s],
            x0,
            y,
            width,
            1.3,
            &label.sized(base * 0.9),
            crate::text::ParAlign::Left,
            bottom,
        ) + base;
    }

    let labels = field_labels();
    let mut sections: Vec<&str> = SECTIONS.to_vec();
    sections.shuffle(&mut p.rng);
    let cols = if p.chance(0.5) { 2 } else { 1 };
    let col_w = width / cols as f32;
    let row_h = base * p.r(2.4..3.2);
    'outer: for (si, sec) in sections.iter().enumerate() {
        if y + row_h * 3.0 > bottom - 70.0 {
            break;
        }
        // Section bar.
        let bh = base * 1.8;
        if let Some(f) = bar_fill {
            p.c.fill_rect(x0, y, width, bh, f);
        } else {
            p.c.hline(x0, x1, y + bh, 0.8, 0.9);
        }
        let title = format!("{}. {}", si + 1, sec);
        p.text(
            &title,
            x0 + 4.0,
            y + (bh - p.line_height(&label)) / 2.0,
            &label.bold(),
            Align::Left,
        );
        y += bh + base * 0.6;
        let n_fields = p.r(2..7);
        let mut i = 0;
        while i < n_fields {
            if y + row_h > bottom - 70.0 {
                break 'outer;
            }
            for c in 0..cols {
                if i >= n_fields {
                    break;
                }
                let (lab, gen) = labels[p.r(0..labels.len())];
                let fx = x0 + c as f32 * col_w;
                let fw = col_w - base;
                text_field(
                    p,
                    fx,
                    y,
                    fw,
                    row_h,
                    lab,
                    gen,
                    &label,
                    &value_style,
                    boxed,
                    fill_rate,
                );
                i += 1;
            }
            y += row_h;
        }
        if p.chance(0.4) && y + row_h < bottom - 70.0 {
            // A checkbox group.
            let opts = [
                ["Yes", "No", "Not sure"],
                ["Full-time", "Part-time", "Contract"],
                ["Cash", "Card", "Transfer"],
                ["Single", "Married", "Other"],
            ][p.r(0..4)];
            let q = format!(
                "{}:",
                {
                    let n = p.r(2..5);
                    content::sentence(&mut p.rng, n)
                }
                .trim_end_matches('.')
            );
            let qw = p.text(&q, x0, y + base * 0.4, &label, Align::Left);
            let mut cx = x0 + qw + base * 1.5;
            let chosen = p.r(0..opts.len());
            for (k, o) in opts.iter().enumerate() {
                if cx + base * 6.0 > x1 {
                    break;
                }
                marks::checkbox(
                    p,
                    cx,
                    y + base * 0.4,
                    base,
                    if k == chosen { fill_rate as f64 } else { 0.0 },
                );
                let w = p.text(
                    o,
                    cx + base * 1.4,
                    y + base * 0.4 - base * 0.1,
                    &label,
                    Align::Left,
                );
                cx += w + base * 3.0;
            }
            y += row_h;
        }
        y += base * 0.8;
    }

    // Signature and date line.
    let sy = (bottom - 55.0).max(y + 10.0);
    if sy + 40.0 <= bottom + 1.0 {
        let lw = width * 0.4;
        p.c.hline(x0, x0 + lw, sy + 30.0, 0.6, 0.9);
        p.c.hline(x1 - lw, x1, sy + 30.0, 0.6, 0.9);
        p.text(
            "Date",
            x0,
            sy + 33.0,
            &label.sized(base * 0.85),
            Align::Left,
        );
        p.text(
            "Signature",
            x1 - lw,
            sy + 33.0,
            &label.sized(base * 0.85),
            Align::Left,
        );
        if p.chance(fill_rate as f64) {
            let d = content::date(&mut p.rng);
            let hs = hand.sized(hand.size.min(18.0));
            p.text(
                &d,
                x0 + 6.0,
                sy + 28.0 - p.line_height(&hs) * 0.85,
                &hs,
                Align::Left,
            );
            marks::signature(p, x1 - lw + 6.0, sy, lw * 0.8, 28.0);
        }
    }
}

/// A labelled field: label left (or above) and a value written on a line or in a box.
#[allow(clippy::too_many_arguments)]
fn text_field(
    p: &mut Painter,
    x: f32,
    y: f32,
    w: f32,
    h: f32,
    label: &str,
    gen: ValueGen,
    ls: &TextStyle,
    vs: &TextStyle,
    boxed: bool,
    fill_rate: f32,
) {
    let lw = p.text(label, x, y + h - ls.size * 1.6, ls, Align::Left);
    let vx = x + lw + ls.size * 0.8;
    let vw = (x + w - vx).max(10.0);
    let line_y = y + h - ls.size * 0.4;
    if boxed {
        p.c.stroke_rect(vx, y + h * 0.15, vw, h * 0.8, 0.6, 0.9);
    } else {
        let gap = if p.chance(0.5) { 1.0 } else { 0.0 };
        p.c.dashed_hline(vx, vx + vw, line_y, 0.5, [1.0, gap], 0.85);
    }
    if p.chance(fill_rate as f64) {
        let v = gen(p);
        let mut st = *vs;
        // Handwriting shrinks to fit the space, as people do.
        let tw = p.measure(&v, &st);
        if tw > vw - 6.0 {
            st.size *= (vw - 6.0) / tw;
        }
        let top = line_y - p.line_height(&st) * 0.85 - 1.0;
        p.text(&v, vx + 4.0, top.max(y), &st, Align::Left);
    }
}
