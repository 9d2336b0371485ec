//! Invoices: header with logo, seller and buyer addresses, invoice facts, a line-item
//! table, totals, payment details, sometimes a QR/barcode, signature or "PAID" stamp.

use crate::content::{self, MoneyStyle};
use crate::elements::{barcode, logo, marks, stamp, table};
use crate::fonts::Family;
use crate::layout::common::{body_family, footer, page_number, small_print, Margins};
use crate::painter::Painter;
use crate::text::{Align, TextStyle};

pub fn draw(p: &mut Painter) {
    let m = Margins::office(p);
    let fam = body_family(p);
    let base = p.r(8.0..10.5);
    let body = TextStyle::new(fam, base);
    let small = body.sized(base * 0.8);
    let bold = body.bold();
    let money = MoneyStyle::random(&mut p.rng);
    let date_style = p.r(0..6);
    let seller = content::company(&mut p.rng);
    let buyer = if p.chance(0.7) {
        content::company(&mut p.rng)
    } else {
        content::person(&mut p.rng)
    };
    let title = [
        "INVOICE",
        "Invoice",
        "TAX INVOICE",
        "COMMERCIAL INVOICE",
        "Rechnung",
        "Facture",
    ][p.r(0..6)];
    let (x0, x1) = (m.left, m.right_x(p));
    let width = m.width(p);

    // Footer first so the body knows where to stop.
    let foot_style = small.sized(base * 0.7);
    let mut pieces = vec![
        format!("{} · {}", seller, content::street(&mut p.rng)),
        format!("VAT ID {}", content::vat_id(&mut p.rng)),
    ];
    if p.chance(0.5) {
        pieces.push(page_number(p));
    }
    let bottom = if p.chance(0.8) {
        footer(p, &m, &foot_style, &pieces)
    } else {
        m.bottom_y(p)
    };

    // Header.
    let mut y = m.top;
    let title_style = TextStyle::new(fam, p.r(16.0..26.0)).bold();
    let name_style = TextStyle::new(
        if p.chance(0.3) { Family::Serif } else { fam },
        p.r(12.0..18.0),
    )
    .bold();
    let seller_addr = content::address(&mut p.rng, None);
    match p.r(0..3) {
        0 => {
            // Logo left, title right.
            let yb = logo::logo(p, x0, y, &seller, &name_style);
            p.text(title, x1, y, &title_style, Align::Right);
            y = yb + base;
            let line = format!(
                "{} · {}",
                seller_addr.join(", "),
                content::phone(&mut p.rng)
            );
            let line = p.fit(&line, &small, width);
            p.text(&line, x0, y, &small, Align::Left);
            y += base * 2.2;
        }
        1 => {
            // Centred letterhead with a rule, title below left.
            p.text(&seller, p.w() / 2.0, y, &name_style, Align::Center);
            y += name_style.size * 1.4;
            let line = p.fit(&seller_addr.join(" · "), &small, width);
            p.text(&line, p.w() / 2.0, y, &small, Align::Center);
            y += small.size * 1.6;
            let t = p.r(0.5..1.5);
            p.c.hline(x0, x1, y, t, 0.9);
            y += base * 1.5;
            p.text(title, x0, y, &title_style, Align::Left);
            y += title_style.size * 1.6;
        }
        _ => {
            // Title left, seller block right-aligned.
            p.text(title, x0, y, &title_style, Align::Left);
            let mut yy = y;
            p.text(&seller, x1, yy, &bold, Align::Right);
            yy += base * 1.3;
            for l in &seller_addr {
                p.text(l, x1, yy, &body, Align::Right);
                yy += base * 1.3;
            }
            let ph = format!("Tel. {}", content::phone(&mut p.rng));
            p.text(&ph, x1, yy, &body, Align::Right);
            yy += base * 1.3;
            let em = content::email(&mut p.rng, &seller);
            p.text(&em, x1, yy, &body, Align::Right);
            yy += base * 1.3;
            y = yy.max(y + title_style.size * 1.5) + base;
        }
    }

    // Buyer block left, invoice facts right.
    let label_bold = p.chance(0.6);
    let mut yl = y;
    let bill_label = [
        "Bill to:",
        "Invoice to:",
        "Customer:",
        "BILL TO",
        "Sold to:",
    ][p.r(0..5)];
    p.text(
        bill_label,
        x0,
        yl,
        &small.with_bold(label_bold),
        Align::Left,
    );
    yl += base * 1.4;
    let addr = content::address(&mut p.rng, Some(buyer));
    yl = p.lines(&addr, x0, yl, 1.3, &body, Align::Left);

    let facts: Vec<(&str, String)> = {
        let mut f = vec![
            ("Invoice No.:", content::doc_number(&mut p.rng, "INV")),
            ("Date:", date_fixed(p, date_style)),
        ];
        if p.chance(0.7) {
            f.push(("Due date:", date_fixed(p, date_style)));
        }
        if p.chance(0.6) {
            f.push(("Customer No.:", format!("{}", p.r(10000..99999))));
        }
        if p.chance(0.5) {
            f.push(("Order No.:", content::doc_number(&mut p.rng, "PO")));
        }
        if p.chance(0.3) {
            f.push((
                "Payment terms:",
                format!("{} days net", [14, 30, 45, 60][p.r(0..4)]),
            ));
        }
        f
    };
    let facts_x = x0 + width * p.r(0.55..0.65);
    let mut yr = y;
    let two_col = p.chance(0.6);
    for (label, value) in &facts {
        if two_col {
            p.text(label, facts_x, yr, &body.with_bold(label_bold), Align::Left);
            p.text(value, x1, yr, &body, Align::Right);
        } else {
            p.label_value(
                label,
                value,
                facts_x,
                yr,
                &body.with_bold(label_bold),
                &body,
            );
        }
        yr += base * 1.35;
    }
    y = yl.max(yr) + base * 2.0;

    if p.chance(0.5) {
        let subj = format!(
            "Re: {} {}",
            ["Order", "Project", "Contract", "Delivery"][p.r(0..4)],
            content::doc_number(&mut p.rng, "R")
        );
        p.text(&subj, x0, y, &bold, Align::Left);
        y += base * 2.0;
    }

    // Line items.
    let vat_rate = [0, 7, 10, 19, 20, 21][p.r(0..6)];
    let n_rows = p.r(2..15);
    let (cols, rows, subtotal) = line_items(p, n_rows, &money, vat_rate);
    let table_size = base * p.r(0.85..1.0);
    let st = table::TableStyle::random(p, body.sized(table_size));
    let reserve = base * 12.0;
    y = table::draw_table(p, x0, y, width, &cols, &rows, &st, bottom - reserve) + base;

    // Totals.
    let vat = subtotal * vat_rate / 100;
    let shipping = if p.chance(0.3) { p.r(500..5000) } else { 0 };
    let total = subtotal + vat + shipping;
    let lab_x = x0 + width * p.r(0.55..0.7);
    let mut totals = vec![("Subtotal".to_string(), subtotal)];
    if shipping > 0 {
        totals.push(("Shipping".to_string(), shipping));
    }
    totals.push((format!("VAT {vat_rate}%"), vat));
    for (l, v) in &totals {
        p.text(l, lab_x, y, &body, Align::Left);
        p.text(&money.format(*v, false), x1, y, &body, Align::Right);
        y += base * 1.4;
    }
    p.c.hline(lab_x, x1, y - base * 0.15, 0.8, 0.9);
    y += base * 0.3;
    let total_style = body.bold().sized(base * p.r(1.0..1.3));
    let total_label = ["Total", "TOTAL", "Amount due", "Total due", "Grand total"][p.r(0..5)];
    p.text(total_label, lab_x, y, &total_style, Align::Left);
    p.text(
        &money.format(total, true),
        x1,
        y,
        &total_style,
        Align::Right,
    );
    let totals_bottom = y + total_style.size * 1.2;
    if p.chance(0.4) {
        p.c.hline(lab_x, x1, totals_bottom, 0.6, 0.9);
        p.c.hline(lab_x, x1, totals_bottom + 1.5, 0.6, 0.9);
    }
    y = totals_bottom + base * 2.0;

    // Payment details and notes.
    let mut notes = Vec::new();
    if p.chance(0.8) {
        notes.push(format!(
            "Please transfer the amount within {} days to:",
            [10, 14, 30][p.r(0..3)]
        ));
        notes.push(format!("IBAN {}", content::iban(&mut p.rng)));
        if p.chance(0.6) {
            let bic: String = (0..8).map(|_| char::from(b'A' + p.r(0..26u8))).collect();
            notes.push(format!("BIC {bic}"));
        }
    }
    if p.chance(0.6) {
        notes.push(
            [
                "Thank you for your business!",
                "We appreciate your prompt payment.",
                "Goods remain our property until paid in full.",
            ][p.r(0..3)]
            .to_string(),
        );
    }
    for n in &notes {
        if y + base * 1.4 > bottom {
            break;
        }
        let s = p.fit(n, &body, width * 0.65);
        p.text(&s, x0, y, &body, Align::Left);
        y += base * 1.4;
    }

    // Optional code, signature, stamp in the space that is left.
    let space = bottom - y;
    if space > 70.0 && p.chance(0.5) {
        let s = p.r(40.0..60.0f32).min(space - 10.0);
        if p.chance(0.5) {
            barcode::qr(p, x1 - s, y, s);
        } else {
            barcode::barcode(p, x1 - s * 2.5, y, s * 2.5, s * 0.8, true);
        }
    } else if space > 50.0 && p.chance(0.4) {
        marks::signature(p, x0, y, 120.0, 35.0);
    }
    if bottom - y > 160.0 && p.chance(0.3) {
        let y0 = (bottom - p.r(90.0..160.0f32)).max(y + 70.0);
        let cols = p.r(1..4);
        small_print(
            p,
            "Terms and conditions",
            x0,
            y0,
            width,
            bottom - 4.0,
            fam,
            cols,
        );
    }
    if p.chance(0.3) {
        let (cx, cy) = (
            p.r(x0 + 60.0..x1 - 60.0),
            p.r(m.top + 120.0..(bottom - 40.0).max(m.top + 121.0)),
        );
        stamp::stamp(p, cx, cy, &[]);
    }
}

fn date_fixed(p: &mut Painter, style: u32) -> String {
    content::date_in_style(style, p.r(2016..2026), p.r(1..=12), p.r(1..=28))
}

/// Columns and rows of a line-item table, and the subtotal in cents.
fn line_items(
    p: &mut Painter,
    n: usize,
    money: &MoneyStyle,
    vat: i64,
) -> (Vec<table::Column>, Vec<Vec<String>>, i64) {
    use table::Column;
    let template = p.r(0..3);
    let cols = match template {
        0 => vec![
            Column::new("Pos", 0.6, Align::Center),
            Column::new("Description", 4.0, Align::Left),
            Column::new("Qty", 0.8, Align::Right),
            Column::new("Unit price", 1.4, Align::Right),
            Column::new("Amount", 1.5, Align::Right),
        ],
        1 => vec![
            Column::new("Item", 1.2, Align::Left),
            Column::new("Description", 3.6, Align::Left),
            Column::new("Quantity", 1.0, Align::Center),
            Column::new("Unit", 0.7, Align::Center),
            Column::new("Price", 1.2, Align::Right),
            Column::new("Total", 1.4, Align::Right),
        ],
        _ => vec![
            Column::new("Description", 4.0, Align::Left),
            Column::new("Hours", 0.9, Align::Right),
            Column::new("Rate", 1.2, Align::Right),
            Column::new("VAT", 0.8, Align::Right),
            Column::new("Amount", 1.5, Align::Right),
        ],
    };
    let mut rows = Vec::new();
    let mut subtotal = 0i64;
    for i in 0..n {
        let qty: i64 = if p.chance(0.6) {
            p.r(1..5)
        } else {
            p.r(1..200)
        };
        let price: i64 = p.r(50..50000);
        let amount = qty * price;
        subtotal += amount;
        let desc = content::product(&mut p.rng);
        let row = match template {
            0 => vec![
                format!("{}", i + 1),
                desc,
                format!("{qty}"),
                money.format(price, false),
                money.format(amount, false),
            ],
            1 => vec![
                content::sku(&mut p.rng),
                desc,
                format!("{qty}"),
                ["pcs", "ea", "kg", "m", "box", "h"][p.r(0..6)].to_string(),
                money.format(price, false),
                money.format(amount, false),
            ],
            _ => vec![
                desc,
                format!("{qty}"),
                money.format(price, false),
                format!("{vat}%"),
                money.format(amount, false),
            ],
        };
        rows.push(row);
    }
    (cols, rows, subtotal)
}
