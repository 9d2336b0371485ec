//! Generic documents (reports, articles, memos): title block, numbered headings, justified
//! or ragged paragraphs in one or two columns, bullet lists, figures and tables with
//! captions, running header and page number.

use crate::content;
use crate::elements::{figure, table};
use crate::layout::common::{body_family, footer, page_number, Margins};
use crate::painter::Painter;
use crate::text::{Align, ParAlign, TextStyle};
use crate::words::HEADINGS;

/// Column flow: where the next block goes.
struct Flow {
    cols: Vec<(f32, f32)>,
    col: usize,
    y: f32,
    top: f32,
    bottom: f32,
}

impl Flow {
    fn x(&self) -> f32 {
        self.cols[self.col].0
    }
    fn w(&self) -> f32 {
        self.cols[self.col].1
    }
    /// Makes room for `h` points, moving to the next column if needed; false when the
    /// page is full.
    fn room(&mut self, h: f32) -> bool {
        if self.y + h <= self.bottom {
            return true;
        }
        if self.col + 1 < self.cols.len() {
            self.col += 1;
            self.y = self.top;
            return self.y + h <= self.bottom;
        }
        false
    }
}

pub fn draw(p: &mut Painter) {
    let m = Margins::office(p);
    let fam = body_family(p);
    let head_fam = if p.chance(0.6) { fam } else { body_family(p) };
    let base = p.r(8.5..11.5);
    let body = TextStyle::new(fam, base);
    let leading = p.r(1.15..1.45);
    let justify = if p.chance(0.6) {
        ParAlign::Justify
    } else {
        ParAlign::Left
    };
    let numbered = p.chance(0.6);
    let (x0, x1, width) = (m.left, m.right_x(p), m.width(p));
    let doc_title = content::title(&mut p.rng);

    let mut y = m.top;
    // Running header.
    if p.chance(0.5) {
        let hs = body.sized(base * 0.8);
        p.text(&doc_title, x0, y, &hs, Align::Left);
        let d = content::date(&mut p.rng);
        p.text(&d, x1, y, &hs, Align::Right);
        y += hs.size * 1.4;
        p.c.hline(x0, x1, y, 0.5, 0.8);
        y += base * 1.5;
    }
    let bottom = if p.chance(0.7) {
        let fs = body.sized(base * 0.8);
        let pn = page_number(p);
        footer(p, &m, &fs, &[pn])
    } else {
        m.bottom_y(p)
    };

    // Title block on "first pages".
    if p.chance(0.5) {
        let ts = TextStyle::new(head_fam, p.r(16.0..24.0)).bold();
        let centred = p.chance(0.6);
        let (tx, al) = if centred {
            (p.w() / 2.0, Align::Center)
        } else {
            (x0, Align::Left)
        };
        let t = p.fit(&doc_title, &ts, width);
        p.text(&t, tx, y, &ts, al);
        y += ts.size * 1.5;
        let authors: Vec<String> = (0..p.r(1..4))
            .map(|_| content::person(&mut p.rng))
            .collect();
        let a = p.fit(&authors.join(", "), &body, width);
        p.text(&a, tx, y, &body, al);
        y += base * 1.4;
        let org = format!(
            "{} · {}",
            content::company(&mut p.rng),
            content::date(&mut p.rng)
        );
        let o = p.fit(&org, &body.sized(base * 0.9), width);
        p.text(&o, tx, y, &body.sized(base * 0.9), al);
        y += base * 2.4;
        if p.chance(0.5) {
            let ind = width * 0.08;
            let abs_style = body.sized(base * 0.9);
            p.text("Abstract", p.w() / 2.0, y, &abs_style.bold(), Align::Center);
            y += base * 1.4;
            let words = {
                let n = p.r(3..6);
                content::paragraph_words(&mut p.rng, n)
            };
            y = p.paragraph(
                &words,
                x0 + ind,
                y,
                width - 2.0 * ind,
                leading,
                &abs_style,
                ParAlign::Justify,
                bottom,
            );
            y += base * 1.2;
        }
    }

    let two_cols = p.chance(0.35);
    let gutter = p.r(14.0..28.0);
    let cols = if two_cols {
        let cw = (width - gutter) / 2.0;
        vec![(x0, cw), (x0 + cw + gutter, cw)]
    } else {
        vec![(x0, width)]
    };
    let mut f = Flow {
        cols,
        col: 0,
        y,
        top: y,
        bottom,
    };
    let mut sec = p.r(1..6);
    let mut fig_no = p.r(1..5);
    let mut table_no = p.r(1..5);
    let mut heading_next = true;
    let head_style = TextStyle::new(head_fam, base * p.r(1.15..1.5)).bold();
    loop {
        let kind = if heading_next { 0 } else { p.r(1..10) };
        heading_next = false;
        let ok = match kind {
            0 => {
                let h = content::pick(&mut p.rng, HEADINGS);
                let text = if numbered {
                    format!("{sec} {h}")
                } else {
                    h.to_string()
                };
                sec += 1;
                if !f.room(head_style.size * 3.0) {
                    false
                } else {
                    f.y += base * 0.6;
                    let t = p.fit(&text, &head_style, f.w());
                    p.text(&t, f.x(), f.y, &head_style, Align::Left);
                    f.y += head_style.size * 1.5;
                    true
                }
            }
            1..=5 => {
                let words = {
                    let n = p.r(2..6);
                    content::paragraph_words(&mut p.rng, n)
                };
                let r = flow_paragraph(p, &mut f, &words, &body, leading, justify);
                f.y += base * p.r(0.4..0.9);
                heading_next = p.chance(0.3);
                r
            }
            6 => bullets(p, &mut f, &body, leading),
            7 => {
                let h = f.w() * p.r(0.35..0.6);
                if f.room(h + base * 3.0) {
                    let fw = f.w() * p.r(0.7..1.0);
                    let fx = f.x() + (f.w() - fw) / 2.0;
                    figure::figure(p, fx, f.y + base * 0.5, fw, h, fam);
                    f.y += h + base;
                    let cap = format!("Figure {fig_no}: {}", {
                        let n = p.r(3..9);
                        content::sentence(&mut p.rng, n)
                    });
                    fig_no += 1;
                    let cs = body.sized(base * 0.85);
                    f.y = p.paragraph(
                        &[cap],
                        f.x(),
                        f.y,
                        f.w(),
                        1.2,
                        &cs,
                        ParAlign::Center,
                        f.bottom,
                    ) + base;
                    true
                } else {
                    false
                }
            }
            _ => {
                table_no += 1;
                data_table(p, &mut f, &body, table_no - 1)
            }
        };
        if !ok {
            break;
        }
    }
}

/// Flows a paragraph through the columns, line by line; false when the page is full.
fn flow_paragraph(
    p: &mut Painter,
    f: &mut Flow,
    words: &[String],
    style: &TextStyle,
    leading: f32,
    align: ParAlign,
) -> bool {
    let lh = style.size * leading;
    let mut rest: Vec<String> = words.to_vec();
    while !rest.is_empty() {
        if !f.room(lh) {
            return false;
        }
        let lines = p.ts.wrap(&rest, style, f.w());
        let Some(first) = lines.first() else { break };
        let n = first.len();
        let last = n >= rest.len();
        let line: Vec<String> = rest.drain(..n).collect();
        let a = if last && align == ParAlign::Justify {
            ParAlign::Left
        } else {
            align
        };
        // A single-line paragraph() call draws exactly this line with this alignment;
        // justified lines need the "not last" treatment, so pass a sentinel word list.
        draw_line(p, &line, f.x(), f.y, f.w(), style, a);
        f.y += lh;
    }
    true
}

fn draw_line(
    p: &mut Painter,
    line: &[String],
    x: f32,
    y: f32,
    w: f32,
    style: &TextStyle,
    align: ParAlign,
) {
    if align == ParAlign::Justify && line.len() > 1 {
        let widths: Vec<f32> = line.iter().map(|s| p.measure(s, style)).collect();
        let gap = (w - widths.iter().sum::<f32>()) / (line.len() - 1) as f32;
        let mut xx = x;
        let mut runs = Vec::with_capacity(line.len());
        for (s, ww) in line.iter().zip(&widths) {
            runs.push((s.as_str(), xx));
            xx += ww + gap;
        }
        p.ts.draw_runs(&mut p.c, &runs, y, style, crate::text::Gt::Line);
    } else {
        p.text(&line.join(" "), x, y, style, Align::Left);
    }
}

fn bullets(p: &mut Painter, f: &mut Flow, body: &TextStyle, leading: f32) -> bool {
    let n = p.r(2..6);
    let numbered = p.chance(0.35);
    let indent = body.size * p.r(1.2..2.5);
    let lh = body.size * leading;
    for i in 0..n {
        let words = {
            let n = p.r(3..16);
            content::words(&mut p.rng, n)
        };
        let lines = p.ts.wrap(&words, body, f.w() - indent - body.size);
        if !f.room(lh * lines.len() as f32) {
            return false;
        }
        let tx = f.x() + indent;
        if numbered {
            let label = format!("{}.", i + 1);
            p.text(&label, tx - body.size * 0.4, f.y, body, Align::Right);
        } else {
            let r = body.size * 0.17;
            p.c.disc(
                tx - body.size * 0.8,
                f.y + p.ts.ascent(body) - body.size * 0.33,
                r,
                1.0,
            );
        }
        for l in &lines {
            p.text(&l.join(" "), tx, f.y, body, Align::Left);
            f.y += lh;
        }
    }
    f.y += body.size * 0.6;
    true
}

fn data_table(p: &mut Painter, f: &mut Flow, body: &TextStyle, no: usize) -> bool {
    let ncols = p.r(3..6);
    let nrows = p.r(2..8);
    let ts = body.sized(body.size * p.r(0.8..0.95));
    let row_h = p.line_height(&ts) + ts.size;
    let need = row_h * (nrows + 1) as f32 + body.size * 3.0;
    if !f.room(need) {
        return false;
    }
    let mut cols = vec![table::Column::new(
        content::pick(
            &mut p.rng,
            &["Item", "Region", "Category", "Metric", "Group"],
        ),
        2.0,
        Align::Left,
    )];
    let heads = [
        "2021", "2022", "2023", "Mean", "Std", "Total", "Share", "Change",
    ];
    for i in 1..ncols {
        cols.push(table::Column::new(
            heads[(i + no) % heads.len()],
            1.0,
            Align::Right,
        ));
    }
    let rows: Vec<Vec<String>> = (0..nrows)
        .map(|_| {
            let mut r = vec![content::capitalise(content::pick(
                &mut p.rng,
                crate::words::PROSE,
            ))];
            for _ in 1..ncols {
                r.push(format!("{:.1}", p.r(0.0..999.0f32)));
            }
            r
        })
        .collect();
    let cap = format!("Table {no}: {}", {
        let n = p.r(3..8);
        content::sentence(&mut p.rng, n)
    });
    let cs = body.sized(body.size * 0.85);
    let cap = p.fit(&cap, &cs, f.w());
    p.text(&cap, f.x() + f.w() / 2.0, f.y, &cs, Align::Center);
    f.y += cs.size * 1.6;
    let mut st = table::TableStyle::random(p, ts);
    st.pad = ts.size * 0.4;
    f.y = table::draw_table(p, f.x(), f.y, f.w(), &cols, &rows, &st, f.bottom) + body.size;
    true
}
