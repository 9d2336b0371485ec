//! Business letters: letterhead (logo or typographic), sender line, recipient block in the
//! envelope window, date, subject, salutation, body paragraphs, closing and signature.

use crate::content;
use crate::elements::{logo, marks, stamp};
use crate::fonts::Family;
use crate::layout::common::{body_family, footer, Margins};
use crate::painter::Painter;
use crate::text::{Align, ParAlign, TextStyle};
use crate::words::{CLOSINGS, JOB_TITLES};

pub fn draw(p: &mut Painter) {
    let m = Margins::office(p);
    let fam = body_family(p);
    let base = p.r(9.0..12.0);
    let body = TextStyle::new(fam, base);
    let small = body.sized(base * 0.75);
    let leading = p.r(1.2..1.5);
    let (x0, x1, width) = (m.left, m.right_x(p), m.width(p));
    let company = content::company(&mut p.rng);
    let sender_addr = content::address(&mut p.rng, None);
    let mut y = m.top;

    // Letterhead.
    let head_fam = match p.r(0..4) {
        0 => Family::Script,
        1 => Family::Serif,
        _ => fam,
    };
    let hs = TextStyle::new(head_fam, p.r(14.0..22.0)).with_bold(head_fam != Family::Script);
    match p.r(0..3) {
        0 => {
            y = logo::logo(p, x0, y, &company, &hs) + base;
        }
        1 => {
            p.text(&company, p.w() / 2.0, y, &hs, Align::Center);
            y += p.line_height(&hs) + base * 0.3;
            let l = p.fit(&sender_addr.join(" · "), &small, width);
            p.text(&l, p.w() / 2.0, y, &small, Align::Center);
            y += small.size * 1.5;
            let t = p.r(0.4..1.2);
            p.c.hline(x0, x1, y, t, 0.9);
            y += base * 2.0;
        }
        _ => {
            p.text(&company, x1, y, &hs, Align::Right);
            let mut yy = y + p.line_height(&hs) + base * 0.2;
            for l in &sender_addr {
                p.text(l, x1, yy, &small, Align::Right);
                yy += small.size * 1.3;
            }
            let ph = format!("Phone {}", content::phone(&mut p.rng));
            p.text(&ph, x1, yy, &small, Align::Right);
            yy += small.size * 1.3;
            let em = content::email(&mut p.rng, &company);
            p.text(&em, x1, yy, &small, Align::Right);
            y = yy + base * 2.0;
        }
    }

    let bottom = if p.chance(0.6) {
        let pieces = vec![
            format!("{company} · {}", sender_addr.join(", ")),
            format!(
                "Reg. No. {} · {}",
                p.r(10000..999999),
                content::iban(&mut p.rng)
            ),
        ];
        footer(p, &m, &small.sized(base * 0.65), &pieces)
    } else {
        m.bottom_y(p)
    };

    // Window envelope: tiny sender line over the recipient block.
    y = y.max(m.top + p.r(90.0..130.0));
    if p.chance(0.5) {
        let l = format!("{company} · {}", sender_addr.join(" · "));
        let l = p.fit(&l, &small.sized(base * 0.6), width * 0.5);
        p.text(&l, x0, y, &small.sized(base * 0.6), Align::Left);
        y += base * 1.3;
    }
    let recipient = if p.chance(0.5) {
        let mut a = {
            let n = content::company(&mut p.rng);
            content::address(&mut p.rng, Some(n))
        };
        a.insert(1, content::person_with_title(&mut p.rng));
        a
    } else {
        {
            let n = content::person_with_title(&mut p.rng);
            content::address(&mut p.rng, Some(n))
        }
    };
    y = p.lines(&recipient, x0, y, 1.3, &body, Align::Left) + base * 2.0;

    // Date (right or left), optional references.
    let date = format!(
        "{}, {}",
        content::pick(&mut p.rng, crate::words::CITIES),
        content::date(&mut p.rng)
    );
    if p.chance(0.6) {
        p.text(&date, x1, y, &body, Align::Right);
    } else {
        p.text(&date, x0, y, &body, Align::Left);
    }
    y += base * 2.2;
    if p.chance(0.5) {
        let r = format!(
            "Our ref.: {}    Your ref.: {}",
            content::doc_number(&mut p.rng, "L"),
            content::doc_number(&mut p.rng, "C")
        );
        let r = p.fit(&r, &small, width);
        p.text(&r, x0, y, &small, Align::Left);
        y += base * 1.8;
    }
    if p.chance(0.8) {
        let subj = format!(
            "{}{}",
            ["Re: ", "Subject: ", "", "Regarding: "][p.r(0..4)],
            content::title(&mut p.rng)
        );
        p.text(&subj, x0, y, &body.bold(), Align::Left);
        y += base * 2.2;
    }
    let salutation = if p.chance(0.7) {
        format!(
            "Dear {} {},",
            content::pick(&mut p.rng, crate::words::SALUTATION_TITLES),
            content::pick(&mut p.rng, crate::words::LAST_NAMES)
        )
    } else {
        "Dear Sir or Madam,".to_string()
    };
    p.text(&salutation, x0, y, &body, Align::Left);
    y += base * leading * 1.6;

    // Body.
    let align = if p.chance(0.5) {
        ParAlign::Justify
    } else {
        ParAlign::Left
    };
    let sig_need = base * 9.0;
    let indent = p.chance(0.2);
    for _ in 0..p.r(2..7) {
        if y + base * leading * 2.0 > bottom - sig_need {
            break;
        }
        let mut words = {
            let n = p.r(2..6);
            content::paragraph_words(&mut p.rng, n)
        };
        if indent {
            if let Some(w) = words.first_mut() {
                *w = format!("    {w}");
            }
        }
        y = p.paragraph(
            &words,
            x0,
            y,
            width,
            leading,
            &body,
            align,
            bottom - sig_need,
        );
        y += base * leading * 0.7;
    }

    // Closing and signature.
    y += base * 0.5;
    let sx = if p.chance(0.8) { x0 } else { x0 + width * 0.55 };
    let closing = content::pick(&mut p.rng, CLOSINGS);
    p.text(closing, sx, y, &body, Align::Left);
    y += base * 1.4;
    marks::signature(p, sx, y, 140.0, base * 3.0);
    y += base * 3.3;
    let name = content::person(&mut p.rng);
    p.text(&name, sx, y, &body, Align::Left);
    y += base * 1.3;
    let role = content::pick(&mut p.rng, JOB_TITLES);
    p.text(role, sx, y, &body, Align::Left);
    y += base * 2.0;
    if y + base * 1.5 < bottom && p.chance(0.3) {
        let enc = format!("Enclosures: {}", p.r(1..4));
        p.text(&enc, x0, y, &small, Align::Left);
    }
    if p.chance(0.15) {
        let lines = ["RECEIVED".to_string(), content::date(&mut p.rng)];
        stamp::stamp(p, x1 - 70.0, m.top + 140.0, &lines);
    }
}
