//! Customs declarations: a dense grid of numbered, labelled boxes (SAD style) or a CN 23
//! style sheet with a goods table, category checkboxes, HS codes, signature and stamps.

use crate::content;
use crate::elements::{barcode, marks, stamp, table};
use crate::fonts::Family;
use crate::layout::common::{body_family, small_print, Margins};
use crate::painter::Painter;
use crate::text::{Align, TextStyle};
use crate::words::{GOODS_DESCRIPTIONS, TRANSPORT};

/// One labelled box of the grid.
struct Field {
    label: String,
    values: Vec<String>,
    weight: f32,
}

fn field(label: String, values: Vec<String>, weight: f32) -> Field {
    Field {
        label,
        values,
        weight,
    }
}

/// The fonts of a form: tiny printed labels and filled-in values.
struct Look {
    label: TextStyle,
    value: TextStyle,
    rule: f32,
}

pub fn draw(p: &mut Painter) {
    if p.chance(0.55) {
        sad(p)
    } else {
        cn23(p)
    }
}

fn look(p: &mut Painter) -> Look {
    let lf = if p.chance(0.7) {
        Family::Sans
    } else {
        body_family(p)
    };
    let vf = match p.r(0..3) {
        0 => Family::Mono,
        1 => Family::DejaVuMono,
        _ => body_family(p),
    };
    Look {
        label: TextStyle::new(lf, p.r(5.5..7.0)),
        value: TextStyle::new(vf, p.r(7.5..9.5)),
        rule: p.r(0.5..1.1),
    }
}

/// Draws a row of boxes of height `h`; values start under the label, one per line.
fn field_row(p: &mut Painter, x: f32, y: f32, width: f32, h: f32, fields: &[Field], look: &Look) {
    let total: f32 = fields.iter().map(|f| f.weight).sum::<f32>().max(1e-3);
    let mut cx = x;
    for f in fields {
        let w = f.weight / total * width;
        p.c.stroke_rect(cx, y, w, h, look.rule, 0.95);
        let pad = 2.0 + look.rule;
        let l = p.fit(&f.label, &look.label, w - 2.0 * pad);
        p.text(&l, cx + pad, y + pad * 0.6, &look.label, Align::Left);
        let mut vy = y + pad * 0.6 + look.label.size * 1.35;
        let vl = look.value.size * 1.2;
        for v in &f.values {
            if vy + vl > y + h {
                break;
            }
            let s = p.fit(v, &look.value, w - 3.0 * pad);
            p.text(&s, cx + pad * 1.5, vy, &look.value, Align::Left);
            vy += vl;
        }
        cx += w;
    }
}

/// Single Administrative Document look-alike: numbered boxes filling the page.
fn sad(p: &mut Painter) {
    let m = Margins {
        left: p.r(25.0..50.0),
        right: p.r(20.0..40.0),
        top: p.r(25.0..45.0),
        bottom: p.r(25.0..45.0),
    };
    let look = look(p);
    let (x0, width) = (m.left, m.width(p));
    let bottom = m.bottom_y(p);
    let mut y = m.top;
    let title = [
        "SINGLE ADMINISTRATIVE DOCUMENT",
        "CUSTOMS DECLARATION",
        "EXPORT DECLARATION",
        "IMPORT DECLARATION",
        "TRANSIT DECLARATION",
    ][p.r(0..5)];
    let ts = TextStyle::new(look.label.family, p.r(10.0..14.0)).bold();
    let cc = content::country(&mut p.rng);
    let copy = format!("{} {}", cc.0.to_uppercase(), p.r(1..4));
    p.text(&copy, x0, y, &ts.sized(ts.size * 0.7), Align::Left);
    p.text(title, x0 + width, y, &ts, Align::Right);
    y += ts.size * 1.8;

    let mut no = 1;
    let mut next = |label: &str| {
        let s = format!("{no} {label}");
        no += 1;
        s
    };
    let (origin, dest) = (content::country(&mut p.rng), content::country(&mut p.rng));
    let consignor = {
        let n = content::company(&mut p.rng);
        content::address(&mut p.rng, Some(n))
    };
    let consignee = {
        let n = content::company(&mut p.rng);
        content::address(&mut p.rng, Some(n))
    };
    let row_h = p.r(26.0..38.0);
    let big_h = row_h * p.r(1.8..2.4);
    let gross: f32 = p.r(1.0..25000.0);
    let currency = content::pick(&mut p.rng, crate::words::CURRENCIES);
    let goods: Vec<String> = (0..p.r(1..4))
        .map(|_| content::pick(&mut p.rng, GOODS_DESCRIPTIONS).to_string())
        .collect();

    let rows: Vec<(f32, Vec<Field>)> = vec![
        (
            big_h,
            vec![
                field(next("Consignor/Exporter"), consignor, 3.0),
                field(
                    next("Declaration"),
                    vec![["EX A", "IM A", "EU A", "EX 1", "T1"][p.r(0..5)].to_string()],
                    1.0,
                ),
                field(next("Forms"), vec![format!("{} / {}", 1, p.r(1..4))], 0.8),
                field(
                    next("Reference number"),
                    vec![content::doc_number(&mut p.rng, "MRN")],
                    1.6,
                ),
            ],
        ),
        (
            big_h,
            vec![
                field(next("Consignee"), consignee, 3.0),
                field(
                    next("Total packages"),
                    vec![format!("{}", p.r(1..400))],
                    1.2,
                ),
                field(
                    next("Declarant/Representative"),
                    vec![content::company(&mut p.rng), content::vat_id(&mut p.rng)],
                    2.2,
                ),
            ],
        ),
        (
            row_h,
            vec![
                field(
                    next("Country of dispatch/export"),
                    vec![origin.0.to_string()],
                    2.0,
                ),
                field(next("Ctry. dispatch code"), vec![origin.1.to_string()], 1.0),
                field(
                    next("Country of destination"),
                    vec![dest.0.to_string()],
                    2.0,
                ),
                field(next("Dest. code"), vec![dest.1.to_string()], 1.0),
            ],
        ),
        (
            row_h,
            vec![
                field(
                    next("Identity and nationality of means of transport"),
                    vec![format!(
                        "{} {}-{}",
                        content::pick(&mut p.rng, TRANSPORT),
                        p.r(10..99),
                        p.r(100..9999)
                    )],
                    3.0,
                ),
                field(next("Container"), vec![format!("{}", p.r(0..2))], 0.8),
                field(
                    next("Delivery terms"),
                    vec![["EXW", "FOB", "CIF", "DAP", "DDP", "FCA"][p.r(0..6)].to_string()],
                    1.4,
                ),
                field(
                    next("Currency and total amount invoiced"),
                    vec![format!("{currency} {:.2}", p.r(100.0..90000.0f32))],
                    2.2,
                ),
            ],
        ),
        (
            row_h,
            vec![
                field(
                    next("Mode of transport at border"),
                    vec![format!("{}", p.r(1..9))],
                    1.5,
                ),
                field(
                    next("Inland mode of transport"),
                    vec![format!("{}", p.r(1..9))],
                    1.5,
                ),
                field(
                    next("Office of exit"),
                    vec![format!("{}{:06}", dest.1, p.r(0..999999))],
                    2.0,
                ),
                field(
                    next("Location of goods"),
                    vec![content::pick(&mut p.rng, crate::words::CITIES).to_string()],
                    2.0,
                ),
            ],
        ),
        (
            big_h * 1.2,
            vec![
                field(
                    next("Packages and description of goods"),
                    {
                        let mut v = vec![format!(
                            "Marks & numbers: {}",
                            content::doc_number(&mut p.rng, "PK")
                        )];
                        v.push(format!(
                            "{} x {}",
                            p.r(1..50),
                            ["cartons", "pallets", "crates", "bags", "drums"][p.r(0..5)]
                        ));
                        v.extend(goods.iter().cloned());
                        v
                    },
                    4.0,
                ),
                field(
                    next("Commodity (HS) code"),
                    vec![content::hs_code(&mut p.rng), content::hs_code(&mut p.rng)],
                    1.6,
                ),
                field(next("Country of origin"), vec![origin.1.to_string()], 1.0),
            ],
        ),
        (
            row_h,
            vec![
                field(next("Gross mass (kg)"), vec![format!("{gross:.1}")], 1.5),
                field(
                    next("Net mass (kg)"),
                    vec![format!("{:.1}", gross * p.r(0.7..0.98))],
                    1.5,
                ),
                field(
                    next("Procedure"),
                    vec![format!(
                        "{} {:02}",
                        [1000, 4000, 3151, 1040][p.r(0..4)],
                        p.r(0..99)
                    )],
                    1.2,
                ),
                field(next("Quota"), vec![String::new()], 1.0),
                field(
                    next("Statistical value"),
                    vec![format!("{:.2}", p.r(100.0..90000.0f32))],
                    1.8,
                ),
            ],
        ),
        (
            row_h,
            vec![
                field(
                    next("Previous document"),
                    vec![format!(
                        "{} {}",
                        ["N380", "N325", "Y901", "C100"][p.r(0..4)],
                        content::doc_number(&mut p.rng, "D")
                    )],
                    3.0,
                ),
                field(
                    next("Licence / certificates"),
                    vec![content::doc_number(&mut p.rng, "LIC")],
                    2.0,
                ),
                field(
                    next("Valuation method"),
                    vec![format!("{}", p.r(1..7))],
                    1.2,
                ),
            ],
        ),
    ];
    // Real SAD forms fill the sheet: stretch (or squeeze) the rows to the page, keeping
    // 60..140 pt for the signature/office box at the bottom.
    let sig_h = p.r(70.0..140.0);
    let rows_h: f32 = rows.iter().map(|r| r.0).sum();
    let stretch = ((bottom - y - sig_h) / rows_h).clamp(0.6, 1.8);
    for (h, fields) in &rows {
        let h = h * stretch;
        if y + h > bottom - 60.0 {
            break;
        }
        field_row(p, x0, y, width, h, fields, &look);
        y += h;
    }
    // Declaration, place and date, signature box; office stamp box.
    let h = (bottom - y).clamp(50.0, 160.0);
    let wl = width * p.r(0.5..0.62);
    let place = format!(
        "{}, {}",
        content::pick(&mut p.rng, crate::words::CITIES),
        content::date(&mut p.rng)
    );
    field_row(
        p,
        x0,
        y,
        wl,
        h,
        &[field(
            next("Place and date, signature of declarant"),
            vec![place],
            1.0,
        )],
        &look,
    );
    marks::signature(p, x0 + 10.0, y + h * 0.45, (wl - 20.0).min(150.0), h * 0.4);
    field_row(
        p,
        x0 + wl,
        y,
        width - wl,
        h,
        &[field(
            "C OFFICE OF DEPARTURE / CONTROL".to_string(),
            vec![],
            1.0,
        )],
        &look,
    );
    if p.chance(0.8) {
        let lines = vec![
            "CUSTOMS".to_string(),
            content::pick(&mut p.rng, crate::words::CITIES).to_uppercase(),
            content::date(&mut p.rng),
        ];
        stamp::stamp(p, x0 + wl + (width - wl) / 2.0, y + h * 0.55, &lines);
    }
}

/// CN 23 style declaration for postal items.
fn cn23(p: &mut Painter) {
    let m = Margins::office(p);
    let look = look(p);
    let (x0, x1, width) = (m.left, m.right_x(p), m.width(p));
    let bottom = m.bottom_y(p);
    let mut y = m.top;
    let big = TextStyle::new(look.label.family, p.r(13.0..18.0)).bold();
    p.text("CUSTOMS DECLARATION", x0, y, &big, Align::Left);
    let code = ["CN 23", "CN 22", "CP 72", "FORM C-2"][p.r(0..4)];
    p.text(code, x1, y, &big, Align::Right);
    y += big.size * 1.5;
    let sub = look.label.sized(look.label.size * 1.2);
    let note = p.fit(
        "May be opened officially. See instructions on the back.",
        &sub,
        width * 0.6,
    );
    p.text(&note, x0, y, &sub, Align::Left);
    if p.chance(0.7) {
        barcode::barcode(p, x1 - 150.0, y - 4.0, 150.0, 34.0, true);
    }
    y += 40.0;

    // Sender / addressee boxes side by side (or stacked).
    let bh = p.r(70.0..95.0);
    let from = {
        let n = content::person(&mut p.rng);
        content::address(&mut p.rng, Some(n))
    };
    let to = {
        let n = content::company(&mut p.rng);
        content::address(&mut p.rng, Some(n))
    };
    if p.chance(0.6) {
        field_row(
            p,
            x0,
            y,
            width,
            bh,
            &[
                field("From / Sender".into(), from, 1.0),
                field("To / Addressee".into(), to, 1.0),
            ],
            &look,
        );
        y += bh;
    } else {
        field_row(
            p,
            x0,
            y,
            width,
            bh,
            &[field("1 Sender".into(), from, 1.0)],
            &look,
        );
        y += bh;
        field_row(
            p,
            x0,
            y,
            width,
            bh,
            &[field("2 Addressee".into(), to, 1.0)],
            &look,
        );
        y += bh;
    }

    // Goods table.
    let cols = vec![
        table::Column::new("Detailed description of contents", 3.2, Align::Left),
        table::Column::new("Quantity", 0.9, Align::Right),
        table::Column::new("Net weight (kg)", 1.2, Align::Right),
        table::Column::new("Value", 1.0, Align::Right),
        table::Column::new("HS tariff number", 1.4, Align::Left),
        table::Column::new("Country of origin", 1.2, Align::Center),
    ];
    let mut rows = Vec::new();
    let (mut tw, mut tv) = (0.0f32, 0.0f32);
    for _ in 0..p.r(1..8) {
        let w: f32 = p.r(0.05..20.0);
        let v: f32 = p.r(1.0..2000.0);
        tw += w;
        tv += v;
        rows.push(vec![
            content::pick(&mut p.rng, GOODS_DESCRIPTIONS).to_string(),
            format!("{}", p.r(1..50)),
            format!("{w:.2}"),
            format!("{v:.2}"),
            content::hs_code(&mut p.rng),
            content::country(&mut p.rng).1.to_string(),
        ]);
    }
    rows.push(vec![
        "Total".into(),
        String::new(),
        format!("{tw:.2}"),
        format!("{tv:.2}"),
        String::new(),
        String::new(),
    ]);
    let mut st = table::TableStyle::random(p, look.value);
    st.grid = table::Grid::Full;
    st.header_bold = false;
    y = table::draw_table(p, x0, y + 6.0, width, &cols, &rows, &st, bottom - 150.0) + 10.0;

    // Category checkboxes.
    let cats = [
        "Gift",
        "Documents",
        "Commercial sample",
        "Returned goods",
        "Sale of goods",
        "Other",
    ];
    let per_row = if p.chance(0.5) { 3 } else { 6 };
    let col_w = width / per_row as f32;
    let chosen = p.r(0..cats.len());
    let cat_style = look.label.sized(look.label.size * 1.3);
    for (i, c) in cats.iter().enumerate() {
        let (cx, cy) = (
            x0 + col_w * (i % per_row) as f32,
            y + (i / per_row) as f32 * 16.0,
        );
        marks::checkbox(p, cx, cy, 9.0, if i == chosen { 1.0 } else { 0.0 });
        let s = p.fit(c, &cat_style, col_w - 16.0);
        p.text(&s, cx + 13.0, cy, &cat_style, Align::Left);
    }
    y += (cats.len().div_ceil(per_row)) as f32 * 16.0 + 8.0;

    // Comments, certificate numbers, declaration with signature.
    let h = p.r(36.0..50.0);
    if y + h < bottom - 80.0 {
        let n = p.r(3..8);
        let fields = [
            field(
                "Comments (e.g. goods subject to quarantine)".into(),
                vec![content::sentence(&mut p.rng, n)],
                2.0,
            ),
            field(
                "Licence / certificate No.".into(),
                vec![content::doc_number(&mut p.rng, "C")],
                1.0,
            ),
            field(
                "Invoice No.".into(),
                vec![content::doc_number(&mut p.rng, "INV")],
                1.0,
            ),
        ];
        field_row(p, x0, y, width, h, &fields, &look);
        y += h;
    }
    let h = (bottom - y).clamp(55.0, 110.0);
    let decl = "I certify that the particulars given in this declaration are correct";
    let place = format!(
        "{}, {}",
        content::pick(&mut p.rng, crate::words::CITIES),
        content::date(&mut p.rng)
    );
    let fields = [
        field(decl.into(), vec![place], 2.0),
        field("Signature of sender".into(), vec![], 1.0),
    ];
    field_row(p, x0, y, width, h, &fields, &look);
    let sx = x0 + width * 2.0 / 3.0 + 8.0;
    marks::signature(p, sx, y + h * 0.3, width / 3.0 - 16.0, h * 0.55);
    // The back-of-form instructions often share the sheet with a short declaration.
    let rest = bottom - (y + h);
    if rest > 120.0 && p.chance(0.75) {
        let cols = p.r(2..4);
        small_print(
            p,
            "Instructions",
            x0,
            y + h + 14.0,
            width,
            bottom,
            look.label.family,
            cols,
        );
    }
    if p.chance(0.5) {
        let lines = vec!["POST".to_string(), content::date(&mut p.rng)];
        let (sx, sy) = (
            p.r(x0 + 80.0..x1 - 80.0),
            p.r(m.top + 60.0..(bottom - 60.0).max(m.top + 61.0)),
        );
        stamp::stamp(p, sx, sy, &lines);
    }
}
