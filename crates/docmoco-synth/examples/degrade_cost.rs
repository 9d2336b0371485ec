//! Times each degradation alone on a 724x1024 page (development aid).

use std::time::Instant;

use docmoco_synth::degrade::{apply, Degradation};
use rand::SeedableRng;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (w, h) = (724, 1024);
    let ink = vec![0.0f32; w * h];
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let base = Degradation::none();
    let cases: Vec<(&str, Degradation)> = vec![
        ("none", base),
        (
            "texture",
            Degradation {
                texture: 5.0,
                ..base
            },
        ),
        (
            "rotate",
            Degradation {
                angle: 0.02,
                ..base
            },
        ),
        ("blur1.3", Degradation { blur: 1.3, ..base }),
        (
            "shadow",
            Degradation {
                shadow: [(0.3, 0.03); 4],
                ..base
            },
        ),
        (
            "contrast",
            Degradation {
                contrast: 1.1,
                ..base
            },
        ),
        ("noise", Degradation { noise: 5.0, ..base }),
        (
            "speckle",
            Degradation {
                speckle: 300.0,
                ..base
            },
        ),
        (
            "jpeg",
            Degradation {
                jpeg_quality: Some(60),
                ..base
            },
        ),
    ];
    for (name, d) in cases {
        let t = Instant::now();
        for _ in 0..5 {
            apply(&ink, w, h, &[], &d, &mut rng)?;
        }
        println!("{name}: {:.1} ms", t.elapsed().as_secs_f64() * 200.0);
    }
    Ok(())
}
