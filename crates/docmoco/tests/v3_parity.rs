//! MoCo v3 against PyTorch: every number defined by moco-v3's builder.py (loss), main_moco.py
//! (momentum and lr schedules), optimizer.py (LARS), `torch.optim.AdamW` and the ViT of
//! vits.py is reproduced from the fixtures written by `tools/make_v3_fixtures.py`.

mod common;

use burn::module::{Module, Param};
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor};
use common::{assert_close, fixture_path, load, to_vec};
use docmoco::optim::schedule::step_cosine;
use docmoco::optim::{AdamW, AdamWParams, Lars, LarsParams};
use docmoco::ssl::moco_v3::{momentum_at, symmetric_loss};

const RTOL: f32 = 1e-5;

fn device() -> Device {
    Device::flex()
}

/// float64 vectors (the schedule fixtures), which `common::load` does not read.
fn f64s(file: &str, name: &str) -> Vec<f64> {
    let bytes = std::fs::read(fixture_path(file)).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let v = st.tensor(name).unwrap();
    assert_eq!(v.dtype(), safetensors::Dtype::F64);
    v.data()
        .chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

#[test]
fn symmetric_loss_and_gradient_match_torch() {
    let dev = device().autodiff();
    let fx = load("v3_loss.safetensors");
    let q1 = fx.tensor::<2>("q1", &dev).require_grad();
    let q2 = fx.tensor::<2>("q2", &dev).require_grad();
    let loss = symmetric_loss(
        q1.clone(),
        q2.clone(),
        fx.tensor::<2>("k1", &dev),
        fx.tensor::<2>("k2", &dev),
        fx.scalar("t"),
    );
    assert_close("loss", &to_vec(loss.clone()), &fx.vec("loss"), RTOL, 1e-6);
    let grads = loss.backward();
    let g1 = q1.grad(&grads).unwrap();
    let g2 = q2.grad(&grads).unwrap();
    assert_close("grad_q1", &to_vec(g1), &fx.vec("grad_q1"), RTOL, 1e-7);
    assert_close("grad_q2", &to_vec(g2), &fx.vec("grad_q2"), RTOL, 1e-7);
}

#[test]
fn momentum_and_lr_schedules_match_reference() {
    let file = "v3_momentum.safetensors";
    let epochs = f64s(file, "epoch");
    for ((e, m), lr) in epochs.iter().zip(f64s(file, "m")).zip(f64s(file, "lr")) {
        let ours = momentum_at(0.99, *e, 10);
        assert!((ours - m).abs() < 1e-12, "m at epoch {e}: {ours} vs {m}");
        let ours = step_cosine(0.6, *e, 2.0, 10);
        assert!((ours - lr).abs() < 1e-12, "lr at epoch {e}: {ours} vs {lr}");
    }
}

/// A weight matrix and a bias: LARS treats them differently (rank > 1 vs rank 1).
#[derive(Module, Debug)]
struct Wb {
    w: Param<Tensor<2>>,
    b: Param<Tensor<1>>,
}

fn two_steps(file: &str, mut step: impl FnMut(Wb, GradientsParams) -> Wb) {
    let dev = device().autodiff();
    let fx = load(file);
    let mut m = Wb {
        w: Param::from_tensor(fx.tensor::<2>("w0", &dev)),
        b: Param::from_tensor(fx.tensor::<1>("b0", &dev)),
    };
    for i in 1..=2 {
        let mut grads = GradientsParams::new();
        grads.register(m.w.id, fx.tensor::<2>(&format!("gw{i}"), &dev));
        grads.register(m.b.id, fx.tensor::<1>(&format!("gb{i}"), &dev));
        m = step(m, grads);
        let (w, b) = (format!("w{i}"), format!("b{i}"));
        assert_close(&w, &to_vec(m.w.val()), &fx.vec(&w), RTOL, 1e-7);
        assert_close(&b, &to_vec(m.b.val()), &fx.vec(&b), RTOL, 1e-7);
    }
}

#[test]
fn lars_two_steps_match_reference() {
    let mut lars = Lars::new(LarsParams {
        weight_decay: 0.01,
        momentum: 0.9,
        trust_coefficient: 0.001,
    });
    two_steps("v3_lars.safetensors", |m, g| lars.step(m, g, 0.5));
}

#[test]
fn adamw_two_steps_match_torch() {
    let mut adamw = AdamW::new(AdamWParams {
        weight_decay: 0.1,
        ..Default::default()
    });
    two_steps("v3_adamw.safetensors", |m, g| adamw.step(m, g, 0.01));
}

/// The fixture's ViT: image 32, patch 8, depth 2, dim 48, 4 heads, weights from PyTorch.
fn fixture_vit(dev: &Device) -> (docmoco::model::Vit, common::Fixture) {
    use docmoco::model::params::map_named;
    use docmoco::model::VitConfig;
    let fx = load("v3_vit.safetensors");
    let vit = VitConfig::new(48, 2, 4)
        .with_image_size(32)
        .with_patch_size(8)
        .init(dev);
    let mut loaded = 0;
    let vit = map_named(vit, None, |p| {
        let key = format!(
            "model.{}",
            p.path
                .replace(".gamma", ".weight")
                .replace(".beta", ".bias")
        );
        let (data, shape) = fx.tensors.get(&key).unwrap_or_else(|| panic!("{key}"));
        loaded += 1;
        let t = Tensor::<1>::from_floats(data.as_slice(), &p.value.device());
        // torch Linear weights are [out, in]; burn's are [in, out].
        Some(if p.rank == 2 {
            t.reshape([shape[0], shape[1]])
                .transpose()
                .reshape([data.len()])
        } else {
            t
        })
    });
    assert_eq!(
        loaded,
        fx.tensors
            .keys()
            .filter(|k| k.starts_with("model."))
            .count()
    );
    (vit, fx)
}

#[test]
fn vit_forward_matches_torch() {
    let dev = device();
    let (vit, fx) = fixture_vit(&dev);
    // The fixed position embedding is ours (not loaded over): compare it too.
    let ours = docmoco::model::vit::sincos_position_embedding(4, 4, 48, 10000.0);
    assert_close("pos_embed", &ours, &fx.vec("model.pos_embed"), RTOL, 1e-6);
    let x = fx.tensor::<4>("x", &dev);
    let tokens = to_vec(vit.forward_tokens(x.clone()));
    assert_close("tokens", &tokens, &fx.vec("tokens"), RTOL, 1e-6);
    let feat = to_vec(vit.forward_features(x));
    assert_close("feat", &feat, &fx.vec("feat"), RTOL, 1e-6);
}

#[test]
fn vit_gradients_match_torch() {
    let dev = device().autodiff();
    let (vit, fx) = fixture_vit(&dev);
    let feat = vit.forward_features(fx.tensor::<4>("x", &dev));
    let grads = (feat * fx.tensor::<2>("r", &dev)).sum().backward();
    let qkv = vit.blocks[0].attn.qkv.weight.val().grad(&grads).unwrap();
    assert_close(
        "grad_qkv0",
        &to_vec(qkv.transpose()),
        &fx.vec("grad_qkv0"),
        RTOL,
        1e-6,
    );
    let patch = vit.patch_embed.proj.weight.val().grad(&grads).unwrap();
    assert_close(
        "grad_patch",
        &to_vec(patch),
        &fx.vec("grad_patch"),
        RTOL,
        1e-6,
    );
    let cls = vit.cls_token.val().grad(&grads).unwrap();
    assert_close("grad_cls", &to_vec(cls), &fx.vec("grad_cls"), RTOL, 1e-6);
}

/// burn's own AdamW, given PyTorch's hyper-parameters (its defaults differ: ε = 1e-5 and
/// wd = 1e-4 against 1e-8 and 1e-2), computes the same update: docmoco's `AdamW` exists for
/// its path-keyed, checkpointable state, not for different numbers.
#[test]
fn burn_adamw_with_torch_hyper_parameters_matches_too() {
    use burn::optim::AdamWConfig;
    let mut adamw = AdamWConfig::new()
        .with_epsilon(1e-8)
        .with_weight_decay(0.1)
        .init();
    two_steps("v3_adamw.safetensors", |m, g| adamw.step(0.01, m, g));
}

/// The PyTorch fixture loads through docmoco's generic state-dict loader (timm names,
/// `[out, in]` Linear weights, LayerNorm `weight`/`bias`), and the ViT a v3 run exports as
/// `backbone.safetensors` is written in that same layout: it reads back into a fresh ViT with
/// identical outputs.
#[test]
fn vit_weights_load_from_pytorch_and_export_round_trips() {
    use burn::store::KeyRemapper;
    use docmoco::model::weights::{load_state_dict, save_state_dict};
    use docmoco::model::VitConfig;
    let dev = device();
    let fx = load("v3_vit.safetensors");
    let cfg = VitConfig::new(48, 2, 4)
        .with_image_size(32)
        .with_patch_size(8);
    let strip = KeyRemapper::from_patterns(vec![(r"^model\.(.*)$", "$1")]).unwrap();
    let (vit, report) =
        load_state_dict(cfg.init(&dev), &fixture_path("v3_vit.safetensors"), strip).unwrap();
    assert_eq!(report.applied, 30, "every ViT tensor: {report:?}");
    let x = fx.tensor::<4>("x", &dev);
    let feat = to_vec(vit.forward_features(x.clone()));
    assert_close("feat (loaded)", &feat, &fx.vec("feat"), RTOL, 1e-6);

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("backbone.safetensors");
    save_state_dict(&vit, &path, KeyRemapper::default()).unwrap();
    let (back, _) = load_state_dict(cfg.init(&dev), &path, KeyRemapper::default()).unwrap();
    assert_eq!(to_vec(back.forward_features(x)), feat);
}
