//! Page-level invariants: determinism, ground-truth validity, class differences.

use docmoco_synth::{generate_page, render_page, DocClass, PageSpec, SynthPage, TextLine};
use image::GrayImage;

fn clean(class: DocClass, seed: u64, size: u32) -> SynthPage {
    render_page(&PageSpec {
        class,
        seed,
        size,
        degrade: false,
    })
    .expect("page renders")
}

#[test]
fn same_seed_same_page_other_seed_other_page() {
    for class in DocClass::ALL {
        let a = generate_page(class, 7, 256).expect("page");
        let b = generate_page(class, 7, 256).expect("page");
        assert_eq!(a.image.as_raw(), b.image.as_raw(), "{class}");
        assert_eq!(a.lines, b.lines, "{class}");
        let c = generate_page(class, 8, 256).expect("page");
        assert_ne!(a.image.as_raw(), c.image.as_raw(), "{class}");
    }
}

#[test]
fn layout_does_not_depend_on_size_or_degradation() {
    for class in DocClass::ALL {
        let small = clean(class, 3, 400);
        let big = clean(class, 3, 800);
        let texts = |p: &SynthPage| p.lines.iter().map(|l| l.text.clone()).collect::<Vec<_>>();
        // Tiny glyphs at 400 px can drop below the ink threshold, so compare as sets.
        let (ts, tb) = (texts(&small), texts(&big));
        let common = ts.iter().filter(|t| tb.contains(t)).count();
        assert!(
            common as f32 >= 0.95 * ts.len() as f32,
            "{class}: {common} of {}",
            ts.len()
        );
        let degraded = render_page(&PageSpec {
            class,
            seed: 3,
            size: 800,
            degrade: true,
        })
        .expect("page");
        assert_eq!(texts(&degraded), tb, "{class}");
    }
}

fn inside(l: &TextLine, w: u32, h: u32) -> bool {
    l.quad
        .iter()
        .all(|p| p[0] >= 0.0 && p[1] >= 0.0 && p[0] <= w as f32 && p[1] <= h as f32)
}

/// Checks a clean page: every box is inside the page, carries text, holds real ink and
/// is tight (each of its border rows/columns touches ink).
fn check_clean_gt(page: &SynthPage) {
    let img = &page.image;
    let (w, h) = img.dimensions();
    assert!(
        page.lines.len() >= 10,
        "{}: only {} lines",
        page.class,
        page.lines.len()
    );
    for l in &page.lines {
        assert!(
            inside(l, w, h),
            "{}: {:?} outside {w}x{h}",
            page.class,
            l.quad
        );
        assert!(!l.text.trim().is_empty());
        if l.dont_care {
            continue;
        }
        // Unrotated: the quad is an axis-aligned rectangle.
        let [x0, y0, x1, y1] = docmoco_synth::gt::bounds(l).map(|v| v as u32);
        assert!(x1 > x0 && y1 > y0);
        let px = |x: u32, y: u32| img.get_pixel(x, y)[0];
        let mut dark = 0;
        let mut min = 255;
        for y in y0..y1 {
            for x in x0..x1 {
                let v = px(x, y);
                min = min.min(v);
                if v < 200 {
                    dark += 1;
                }
            }
        }
        let frac = dark as f32 / ((x1 - x0) * (y1 - y0)) as f32;
        assert!(
            min < 140,
            "{}: no real ink in {:?} {:?}",
            page.class,
            l.text,
            l.quad
        );
        assert!(
            frac > 0.08,
            "{}: box of {:?} is mostly paper ({frac})",
            page.class,
            l.text
        );
        let row_ink = |y: u32| (x0..x1).any(|x| px(x, y) < 235);
        let col_ink = |x: u32| (y0..y1).any(|y| px(x, y) < 235);
        assert!(
            row_ink(y0) && row_ink(y1 - 1) && col_ink(x0) && col_ink(x1 - 1),
            "{}: loose box for {:?}",
            page.class,
            l.text
        );
    }
}

#[test]
fn clean_ground_truth_is_inside_on_ink_and_tight() {
    for class in DocClass::ALL {
        for seed in 0..4 {
            check_clean_gt(&clean(class, seed, 900));
        }
    }
}

/// The 10th percentile of the pixels inside a convex quad (its ink) and the median of
/// a 4-pixel margin around it (its local paper), so that page-level effects (shadows,
/// photos, contrast) do not decide the test.
fn ink_and_paper(img: &GrayImage, q: &[[f32; 2]; 4]) -> Option<(u8, u8)> {
    let xs = q.map(|p| p[0]);
    let ys = q.map(|p| p[1]);
    let lo = |v: [f32; 4]| v.into_iter().fold(f32::INFINITY, f32::min);
    let hi = |v: [f32; 4]| v.into_iter().fold(f32::NEG_INFINITY, f32::max);
    let m = 4.0;
    let (x0, y0) = ((lo(xs) - m).max(0.0) as u32, (lo(ys) - m).max(0.0) as u32);
    let (x1, y1) = (
        ((hi(xs) + m).ceil() as u32).min(img.width()),
        ((hi(ys) + m).ceil() as u32).min(img.height()),
    );
    let (mut ink, mut paper) = (Vec::new(), Vec::new());
    for y in y0..y1 {
        for x in x0..x1 {
            let c = [x as f32 + 0.5, y as f32 + 0.5];
            let inside = (0..4).all(|i| {
                let (a, b) = (q[i], q[(i + 1) % 4]);
                (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]) >= 0.0
            });
            let v = img.get_pixel(x, y)[0];
            if inside {
                ink.push(v);
            } else {
                paper.push(v);
            }
        }
    }
    if ink.is_empty() || paper.is_empty() {
        return None;
    }
    ink.sort_unstable();
    paper.sort_unstable();
    Some((ink[ink.len() / 10], paper[paper.len() / 2]))
}

#[test]
fn degraded_ground_truth_follows_the_skew() {
    for class in DocClass::ALL {
        for seed in 0..4 {
            let page = generate_page(class, seed, 800).expect("page");
            let (w, h) = page.image.dimensions();
            let mut ok = 0;
            let lines: Vec<&TextLine> = page.lines.iter().filter(|l| !l.dont_care).collect();
            for l in &lines {
                assert!(inside(l, w, h), "{class}: {:?} outside", l.quad);
                if ink_and_paper(&page.image, &l.quad)
                    .is_some_and(|(i, p)| (i as i32) < p as i32 - 25)
                {
                    ok += 1;
                }
            }
            assert!(
                ok as f32 >= 0.95 * lines.len() as f32,
                "{class}/{seed}: only {ok} of {} boxes on ink",
                lines.len()
            );
        }
    }
}

#[test]
fn classes_differ_in_layout_and_content() {
    let has = |p: &SynthPage, pat: &[&str]| {
        p.lines
            .iter()
            .any(|l| pat.iter().any(|s| l.text.contains(s)))
    };
    for seed in 0..6 {
        let inv = clean(DocClass::Invoice, seed, 400);
        assert!(
            has(&inv, &["Total", "TOTAL", "Amount due", "Grand total"]),
            "invoice {seed}"
        );
        let cus = clean(DocClass::CustomsDeclaration, seed, 400);
        assert!(has(&cus, &["DECLARATION", "DOCUMENT"]), "customs {seed}");
        let rec = clean(DocClass::Receipt, seed, 400);
        // Receipts are a narrow column of text, whether the page is the slip or a
        // scanner bed with the slip on it.
        let x0 = rec
            .lines
            .iter()
            .map(|l| docmoco_synth::gt::bounds(l)[0])
            .fold(f32::INFINITY, f32::min);
        let x1 = rec
            .lines
            .iter()
            .map(|l| docmoco_synth::gt::bounds(l)[2])
            .fold(0.0, f32::max);
        let (w, h) = rec.image.dimensions();
        assert!(
            (x1 - x0) / (w.max(h) as f32) < 0.46,
            "receipt {seed}: text column too wide"
        );
        assert!(has(&rec, &["TOTAL"]), "receipt {seed}");
        let let_ = clean(DocClass::Letter, seed, 400);
        assert!(has(&let_, &["Dear "]), "letter {seed}");
        let form = clean(DocClass::Form, seed, 400);
        assert!(has(&form, &["1. "]), "form {seed}");
        let gen = clean(DocClass::GenericDocument, seed, 400);
        // Reports are mostly prose: many long lines.
        let long = gen
            .lines
            .iter()
            .filter(|l| l.text.split(' ').count() >= 6)
            .count();
        assert!(long >= 5, "generic {seed}: {long} prose lines");
        for other in [&inv, &cus, &let_, &form] {
            assert_ne!(gen.image.as_raw(), other.image.as_raw());
        }
    }
}

#[test]
fn rejects_bad_sizes() {
    assert!(generate_page(DocClass::Letter, 0, 8).is_err());
    assert!(generate_page(DocClass::Letter, 0, 100_000).is_err());
}
