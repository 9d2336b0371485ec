//! How well can labels + post-processing + evaluation recover the ground truth when the
//! network is perfect? Uses each page's shrink-map target (at inference scale) as the
//! probability map, then runs `detect_boxes` and the ICDAR 2015 protocol.
//!
//! `cargo run --release -p docmoco-det --example det_oracle -- SPLIT_DIR [LONG_SIDE ...]`

use std::path::PathBuf;

use docmoco_data::icdar::TextLine;
use docmoco_det::inference::inference_size;
use docmoco_det::{
    aggregate, detect_boxes, evaluate_image, make_targets, DetDataset, LabelConfig,
    PostprocessConfig,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(split) = args.first() else {
        return Err("usage: det_oracle SPLIT_DIR [LONG_SIDE ...]".into());
    };
    let sides: Vec<u32> = if args.len() > 1 {
        args[1..]
            .iter()
            .map(|s| s.parse())
            .collect::<Result<_, _>>()?
    } else {
        vec![768, 1024, 1536]
    };
    let ds = DetDataset::load(&PathBuf::from(split), None)?;
    let base = PostprocessConfig::default();
    let configs = [
        ("reference (min_size 3, unclip 1.5)", base),
        (
            "min_size 1, unclip 1.5",
            PostprocessConfig {
                min_size: 1.0,
                ..base
            },
        ),
        (
            "min_size 1, inverse shrink",
            PostprocessConfig {
                min_size: 1.0,
                unclip_from_shrink_ratio: Some(0.4),
                ..base
            },
        ),
        (
            "min_size 0, inverse shrink",
            PostprocessConfig {
                min_size: 0.0,
                unclip_from_shrink_ratio: Some(0.4),
                ..base
            },
        ),
    ];
    let labels = LabelConfig {
        min_text_size: 0.0,
        ..LabelConfig::default()
    };
    for &side in &sides {
        for (name, cfg) in &configs {
            let mut evals = Vec::new();
            for p in ds.pages() {
                let (w, h) = p.image.dimensions();
                let (nw, nh) = inference_size(w, h, side);
                let (sx, sy) = (w as f32 / nw as f32, h as f32 / nh as f32);
                let scaled: Vec<TextLine> = p
                    .lines
                    .iter()
                    .map(|l| TextLine {
                        quad: l.quad.map(|q| [q[0] / sx, q[1] / sy]),
                        ..l.clone()
                    })
                    .collect();
                let t = make_targets(&scaled, nh as usize, nw as usize, &labels);
                let dets = detect_boxes(
                    &t.shrink_map,
                    nh as usize,
                    nw as usize,
                    (sx, sy),
                    (w, h),
                    cfg,
                )?;
                let quads: Vec<[[f32; 2]; 4]> = dets.iter().map(|d| d.quad).collect();
                evals.push(evaluate_image(&p.lines, &quads));
            }
            let m = aggregate(&evals);
            println!(
                "long side {side:5}  {name:38}  P {:.3}  R {:.3}  H {:.3}  ({} / {} GT, {} det)",
                m.precision, m.recall, m.hmean, m.matched, m.n_gt, m.n_det
            );
        }
    }
    Ok(())
}
