//! The ICDAR 2015 protocol against an independent Python/shapely computation
//! (`tools/make_det_fixtures.py` writes the fixture).

use docmoco_data::icdar::{TextLine, DONT_CARE};
use docmoco_det::{aggregate, evaluate_image};
use serde_json::Value;

fn quad(v: &Value) -> [[f32; 2]; 4] {
    let pts = v.as_array().expect("quad is an array");
    std::array::from_fn(|k| {
        let p = pts[k].as_array().expect("point is an array");
        [
            p[0].as_f64().expect("x") as f32,
            p[1].as_f64().expect("y") as f32,
        ]
    })
}

#[test]
fn matches_the_shapely_reference_on_random_cases() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/icdar15_protocol.json"
    );
    let fixture: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("json");
    let cases = fixture["cases"].as_array().expect("cases");
    assert!(cases.len() >= 20);
    let (mut images_seen, mut matches_seen) = (0, 0);
    for (c, case) in cases.iter().enumerate() {
        let mut evals = Vec::new();
        for (i, img) in case["images"]
            .as_array()
            .expect("images")
            .iter()
            .enumerate()
        {
            let gt: Vec<TextLine> = img["gt"]
                .as_array()
                .expect("gt")
                .iter()
                .map(|g| {
                    let text = if g["dont_care"].as_bool().expect("flag") {
                        DONT_CARE
                    } else {
                        "t"
                    };
                    TextLine::new(quad(&g["quad"]), text)
                })
                .collect();
            let det: Vec<[[f32; 2]; 4]> = img["det"]
                .as_array()
                .expect("det")
                .iter()
                .map(quad)
                .collect();
            let e = evaluate_image(&gt, &det);
            let want = |k: &str| img[k].as_u64().expect("count") as usize;
            assert_eq!(
                (e.matched(), e.n_gt_care, e.n_det_care),
                (want("matched"), want("n_gt_care"), want("n_det_care")),
                "case {c} image {i}"
            );
            images_seen += 1;
            matches_seen += e.matched();
            evals.push(e);
        }
        let m = aggregate(&evals);
        for (k, got) in [
            ("precision", m.precision),
            ("recall", m.recall),
            ("hmean", m.hmean),
        ] {
            let want = case[k].as_f64().expect("ratio");
            assert!((got - want).abs() < 1e-9, "case {c} {k}: {got} vs {want}");
        }
    }
    // The fixture exercises matching, not only empty images.
    assert!(
        images_seen >= 40 && matches_seen >= 20,
        "{images_seen} images, {matches_seen} matches"
    );
}
