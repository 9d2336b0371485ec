//! Text-line extraction from a born-digital PDF built in the test.

use std::fs;

use docmoco_synth::gt::bounds;
use docmoco_synth::pdf::{render_page_gray, text_pdf_bytes};
use docmoco_synth::{pdf_text_lines, pdf_to_det};

const LINES: &[(f32, f32, f32, &str)] = &[
    (72.0, 90.0, 18.0, "Invoice 2024-0042"),
    (72.0, 140.0, 11.0, "Total due: 1,234.56 EUR"),
    (72.0, 200.0, 10.0, "Left column"),
    (350.0, 200.0, 10.0, "Right column"),
    (
        72.0,
        260.0,
        9.0,
        "(parentheses) and a long line of small text",
    ),
];

#[test]
fn lines_are_found_with_their_text_and_boxes_on_ink() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pdf = dir.path().join("doc.pdf");
    fs::write(&pdf, text_pdf_bytes(612.0, 792.0, LINES)).expect("write pdf");
    let long = 1000;
    let lines = pdf_text_lines(&pdf, 0, long).expect("extract");
    let texts: Vec<&str> = lines.iter().map(|l| l.text.as_str()).collect();
    assert_eq!(texts, LINES.iter().map(|l| l.3).collect::<Vec<_>>());

    let img = render_page_gray(&pdf, 0, long).expect("render");
    assert_eq!(img.height(), long);
    let s = long as f32 / 792.0;
    for (l, (x, y, size, _)) in lines.iter().zip(LINES) {
        assert!(!l.dont_care);
        let [x0, y0, x1, y1] = bounds(l);
        // Where the text was placed: left edge near x, baseline at y, cap height ~0.7 em.
        assert!((x0 - x * s).abs() < 0.15 * size * s, "{l:?}");
        assert!(y1 > y * s - 1.0 && y1 < (y + 0.3 * size) * s, "{l:?}");
        assert!(y0 > (y - size) * s && y0 < (y - 0.55 * size) * s, "{l:?}");
        // On ink and tight: every border row/column of the box touches dark pixels.
        let (x0, y0, x1, y1) = (x0 as u32, y0 as u32, x1 as u32, y1 as u32);
        let dark = |x: u32, y: u32| img.get_pixel(x, y)[0] < 160;
        assert!(
            (x0..x1).any(|x| dark(x, y0)) && (x0..x1).any(|x| dark(x, y1 - 1)),
            "{l:?}"
        );
        assert!(
            (y0..y1).any(|y| dark(x0, y)) && (y0..y1).any(|y| dark(x1 - 1, y)),
            "{l:?}"
        );
        let n = (x0..x1)
            .flat_map(|x| (y0..y1).map(move |y| (x, y)))
            .filter(|&(x, y)| dark(x, y))
            .count();
        assert!(n as f32 > 0.1 * ((x1 - x0) * (y1 - y0)) as f32, "{l:?}");
    }
}

#[test]
fn pdf_folder_becomes_an_icdar_set() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("pdfs");
    fs::create_dir_all(src.join("sub")).expect("mkdir");
    fs::write(src.join("a.pdf"), text_pdf_bytes(300.0, 400.0, &LINES[..2])).expect("write");
    fs::write(
        src.join("sub/b.pdf"),
        text_pdf_bytes(400.0, 300.0, &LINES[2..4]),
    )
    .expect("write");
    fs::write(src.join("broken.pdf"), b"%PDF-1.4 not really").expect("write");
    let out = dir.path().join("det");
    let summary = pdf_to_det(&src, &out, 500).expect("convert");
    assert_eq!(summary.pdfs, 3);
    assert_eq!(summary.pages, 2);
    assert_eq!(summary.lines, 4);
    assert_eq!(summary.failures.len(), 1, "{:?}", summary.failures);
    assert!(out.join("images/a_p000.png").exists());
    assert!(out.join("images/sub_b_p000.png").exists());
    let gt = docmoco_data::icdar::parse_gt_file(&out.join("gt/gt_sub_b_p000.txt")).expect("gt");
    assert_eq!(gt.len(), 2);
    assert_eq!(gt[1].text, "Right column");
}

#[test]
fn missing_page_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pdf = dir.path().join("doc.pdf");
    fs::write(&pdf, text_pdf_bytes(200.0, 200.0, &LINES[..1])).expect("write");
    assert!(pdf_text_lines(&pdf, 3, 300).is_err());
}
