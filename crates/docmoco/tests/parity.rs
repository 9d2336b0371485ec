//! docmoco against the PyTorch reference: every number defined by `moco/builder.py`,
//! `torch.optim.SGD`, torchvision's ResNet and the MoCo demo's SplitBatchNorm is reproduced
//! from the fixtures written by `tools/make_fixtures.py`.

mod common;

use burn::module::{Module, Param, RunningState};
use burn::optim::GradientsParams;
use burn::tensor::Device;
use common::{assert_close, fixture_path, load, to_vec};
use docmoco::model::heads::HeadSpec;
use docmoco::model::weights::load_torchvision;
use docmoco::model::{ResNetArch, ResNetConfig, SplitBatchNorm, SplitBatchNormConfig};
use docmoco::optim::{LrSchedule, ScheduleConfig, Sgd, SgdParams};
use docmoco::ssl::info_nce::{info_nce_loss, moco_logits};
use docmoco::ssl::momentum::momentum_update;
use docmoco::ssl::shuffle_bn::Shuffle;
use docmoco::ssl::KeyQueue;

const RTOL: f32 = 1e-5;

fn device() -> Device {
    Device::flex()
}

fn tiny(arch: ResNetArch) -> ResNetConfig {
    // Stage widths [4, 8, 16, 32], torchvision stem, 10 classes: the fixtures' networks.
    ResNetConfig::new(arch)
        .with_width_mult(4.0 / 64.0)
        .with_num_classes(Some(10))
}

/// `train_rtol`: train-mode outputs pass through every BN's batch statistics; float32
/// summation order differs between backends and the error grows with depth (measured: R18
/// within 2e-5 relative, R50 within 4e-4; eval mode stays within 1e-5).
fn check_resnet(arch: ResNetArch, file: &str, feat_dim: usize, train_rtol: f32) {
    let dev = device();
    let fx = load(file);
    let model = tiny(arch).init(&dev);
    let (model, report) = load_torchvision(model, &fixture_path(file), "model.").unwrap();
    assert!(report.applied > 0);
    let x = fx.tensor::<4>("x", &dev);

    let eval = model.valid();
    let out = to_vec(eval.forward(x.clone()));
    assert_close("out_eval", &out, &fx.vec("out_eval"), RTOL, 1e-5);
    let feat = to_vec(eval.forward_features(x.clone()));
    assert_eq!(feat.len(), 4 * feat_dim);
    assert_close("feat_eval", &feat, &fx.vec("feat_eval"), RTOL, 1e-5);

    // Train mode: batch statistics, and the running statistics it updates.
    let out = to_vec(model.forward(x));
    if fx.tensors.contains_key("bn1_running_mean_after") {
        let rm = to_vec(model.bn1.running_mean.value_sync());
        let rv = to_vec(model.bn1.running_var.value_sync());
        assert_close(
            "bn1 running_mean",
            &rm,
            &fx.vec("bn1_running_mean_after"),
            RTOL,
            1e-6,
        );
        assert_close(
            "bn1 running_var",
            &rv,
            &fx.vec("bn1_running_var_after"),
            RTOL,
            1e-6,
        );
    }
    assert_close(
        "out_train",
        &out,
        &fx.vec("out_train"),
        train_rtol,
        train_rtol / 10.0,
    );
}

#[test]
fn resnet18_matches_torchvision_in_eval_and_train_mode() {
    check_resnet(ResNetArch::Resnet18, "resnet18_tiny.safetensors", 32, 1e-4);
}

#[test]
fn resnet50_bottleneck_matches_torchvision() {
    check_resnet(ResNetArch::Resnet50, "resnet50_tiny.safetensors", 128, 1e-3);
}

#[test]
fn torchvision_pth_loads_like_safetensors() {
    let dev = device();
    let fx = load("resnet18_tiny.safetensors");
    let model = tiny(ResNetArch::Resnet18).init(&dev);
    let (model, _) = load_torchvision(model, &fixture_path("resnet18_tiny.pth"), "").unwrap();
    let out = to_vec(model.valid().forward(fx.tensor::<4>("x", &dev)));
    assert_close("pth out_eval", &out, &fx.vec("out_eval"), RTOL, 1e-5);
}

#[test]
fn mismatched_weights_are_a_clear_error() {
    let dev = device();
    // A ResNet-50 cannot take ResNet-18 weights: the error names the file and missing tensors.
    let model = tiny(ResNetArch::Resnet50).init(&dev);
    let err = load_torchvision(model, &fixture_path("resnet18_tiny.safetensors"), "model.")
        .unwrap_err()
        .to_string();
    assert!(err.contains("resnet18_tiny.safetensors"), "{err}");
    assert!(err.contains("conv3") || err.contains("shape"), "{err}");
}

#[test]
fn moco_logits_loss_and_gradient_match() {
    let dev = device().autodiff();
    let fx = load("moco_loss.safetensors");
    for (t, logits_name, loss_name, grad_name) in [
        ("t", "logits", "loss", "grad_q"),
        ("t02", "logits_t02", "loss_t02", "grad_q_t02"),
    ] {
        let q = fx.tensor::<2>("q", &dev).require_grad();
        let k = fx.tensor::<2>("k", &dev);
        let queue = fx.tensor::<2>("queue", &dev);
        let logits = moco_logits(q.clone(), k, queue, fx.scalar(t));
        assert_close(
            logits_name,
            &to_vec(logits.clone()),
            &fx.vec(logits_name),
            RTOL,
            1e-5,
        );
        let loss = info_nce_loss(logits);
        assert_close(
            loss_name,
            &to_vec(loss.clone()),
            &fx.vec(loss_name),
            RTOL,
            1e-6,
        );
        let grads = loss.backward();
        let g = q.grad(&grads).expect("q has a gradient");
        assert_close(grad_name, &to_vec(g), &fx.vec(grad_name), 1e-4, 1e-6);
    }
}

#[test]
fn momentum_update_matches() {
    let dev = device();
    let fx = load("ema.safetensors");
    let q = Param::from_tensor(fx.tensor::<2>("param_q", &dev));
    let k = Param::from_tensor(fx.tensor::<2>("param_k", &dev));
    let new = momentum_update(k.clone(), &q, fx.scalar("m"));
    assert_close(
        "param_k_new",
        &to_vec(new.val()),
        &fx.vec("param_k_new"),
        RTOL,
        1e-6,
    );
    // m = 1 leaves the key encoder unchanged.
    let same = momentum_update(k.clone(), &q, 1.0);
    assert_eq!(to_vec(same.val()), to_vec(k.val()));
}

#[test]
fn enqueue_wraps_around() {
    let dev = device();
    let fx = load("enqueue.safetensors");
    let mut queue = KeyQueue::from_parts(
        fx.tensor::<2>("queue", &dev),
        fx.int("ptr")[0] as usize,
        None,
    );
    queue.enqueue(fx.tensor::<2>("keys", &dev));
    assert_eq!(queue.ptr as i64, fx.int("ptr_new")[0]);
    assert_eq!(to_vec(queue.keys), fx.vec("queue_new"));
}

#[test]
fn sgd_momentum_weight_decay_matches_torch() {
    let dev = device().autodiff();
    let fx = load("sgd.safetensors");
    let mut sgd = Sgd::new(SgdParams {
        momentum: fx.scalar("momentum"),
        weight_decay: fx.scalar("weight_decay"),
    });
    let lr = fx.scalar("lr");
    let mut p = Param::from_tensor(fx.tensor::<2>("p0", &dev));
    for (g, expected) in [("g1", "p1"), ("g2", "p2")] {
        let mut grads = GradientsParams::new();
        grads.register(p.id, fx.tensor::<2>(g, &dev));
        p = sgd.step(p, grads, lr);
        assert_close(expected, &to_vec(p.val()), &fx.vec(expected), RTOL, 1e-7);
        assert!(
            p.val().is_require_grad(),
            "updated parameters stay trainable"
        );
    }
}

#[test]
fn lr_schedules_match_reference() {
    let fx = load("lr_schedule.safetensors");
    let cosine = ScheduleConfig {
        base_lr: 0.03,
        schedule: LrSchedule::Cosine,
        warmup_epochs: 0.0,
    };
    let multistep = ScheduleConfig {
        base_lr: 0.03,
        schedule: LrSchedule::Multistep {
            milestones: vec![120, 160],
            gamma: 0.1,
        },
        warmup_epochs: 0.0,
    };
    let cos: Vec<f32> = (0..200)
        .map(|e| cosine.lr_at(e, 0, 10, 200) as f32)
        .collect();
    let ms: Vec<f32> = (0..200)
        .map(|e| multistep.lr_at(e, 5, 10, 200) as f32)
        .collect();
    assert_close("cosine", &cos, &fx.vec("cosine"), RTOL, 1e-9);
    assert_close("cosine_torch", &cos, &fx.vec("cosine_torch"), RTOL, 1e-9);
    assert_close("multistep", &ms, &fx.vec("multistep"), RTOL, 1e-9);
}

fn split_bn_from(fx: &common::Fixture, splits: usize, dev: &Device) -> SplitBatchNorm {
    let c = fx.vec("weight").len();
    let mut bn = SplitBatchNormConfig::new(c).with_splits(splits).init(dev);
    bn.weight = Param::from_tensor(fx.tensor::<1>("weight", dev));
    bn.bias = Param::from_tensor(fx.tensor::<1>("bias", dev));
    bn.running_mean = RunningState::new(fx.tensor::<1>("running_mean", dev));
    bn.running_var = RunningState::new(fx.tensor::<1>("running_var", dev));
    bn
}

#[test]
fn split_batch_norm_matches_moco_demo() {
    let dev = device();
    let fx = load("split_bn.safetensors");
    let splits = fx.int("num_splits")[0] as usize;
    let x = fx.tensor::<4>("x", &dev);

    let bn = split_bn_from(&fx, splits, &dev);
    let out = to_vec(bn.forward(x.clone()));
    assert_close("out_train", &out, &fx.vec("out_train"), RTOL, 1e-5);
    let rm = to_vec(bn.running_mean.value_sync());
    let rv = to_vec(bn.running_var.value_sync());
    assert_close(
        "running_mean_after",
        &rm,
        &fx.vec("running_mean_after"),
        RTOL,
        1e-6,
    );
    assert_close(
        "running_var_after",
        &rv,
        &fx.vec("running_var_after"),
        RTOL,
        1e-6,
    );

    let eval = split_bn_from(&fx, splits, &dev).valid();
    let out = to_vec(eval.forward(x.clone()));
    assert_close("out_eval", &out, &fx.vec("out_eval"), RTOL, 1e-5);

    let plain = split_bn_from(&fx, 1, &dev);
    let out = to_vec(plain.forward(x));
    assert_close("out_plain_bn", &out, &fx.vec("out_plain_bn"), RTOL, 1e-5);
}

#[test]
fn shuffle_bn_matches() {
    let dev = device();
    let fx = load("shuffle_bn.safetensors");
    let splits = fx.int("num_splits")[0] as usize;
    let perm: Vec<usize> = fx.int("perm").iter().map(|&p| p as usize).collect();
    let shuffle = Shuffle::from_perm(perm);
    let bn = split_bn_from(&fx, splits, &dev);
    let out = shuffle.unshuffle(bn.forward(shuffle.shuffle(fx.tensor::<4>("x", &dev))));
    assert_close("shuffle_bn out", &to_vec(out), &fx.vec("out"), RTOL, 1e-5);
    let rm = to_vec(bn.running_mean.value_sync());
    assert_close(
        "running_mean_after",
        &rm,
        &fx.vec("running_mean_after"),
        RTOL,
        1e-6,
    );
}

#[test]
fn mlp_head_matches() {
    let dev = device();
    let fx = load("mlp_head.safetensors");
    let mut head = HeadSpec::mlp(64, 64, 16).init(1, &dev);
    for (i, name) in [(0usize, "fc.0"), (1, "fc.2")] {
        // PyTorch stores Linear weights as [out, in]; burn as [in, out].
        let w = fx.tensor::<2>(&format!("{name}.weight"), &dev).transpose();
        head.layers[i].linear.weight = Param::from_tensor(w);
        head.layers[i].linear.bias = Some(Param::from_tensor(
            fx.tensor::<1>(&format!("{name}.bias"), &dev),
        ));
    }
    let out = head.forward(fx.tensor::<2>("x", &dev));
    assert_close("mlp out", &to_vec(out.clone()), &fx.vec("out"), RTOL, 1e-5);
    let norm = docmoco::ssl::info_nce::l2_normalize(out);
    assert_close(
        "mlp out_norm",
        &to_vec(norm),
        &fx.vec("out_norm"),
        RTOL,
        1e-6,
    );
}
