//! DBNet head and loss against PyTorch (`tools/make_dbnet_fixtures.py`): the FPN neck, both
//! heads and the differentiable binarisation in train and eval mode, each loss term, and the
//! gradient that hard-negative mining lets through.

mod common;

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use common::{assert_close, fixture_path, load, to_vec};
use docmoco::model::weights::load_state_dict;
use docmoco::tasks::detect::export::reference_to_docmoco;
use docmoco::tasks::detect::loss::{balanced_bce, dice_loss, masked_l1};
use docmoco::tasks::detect::model::{step_function, DbHeadConfig};

const FILE: &str = "dbnet.safetensors";

#[test]
fn head_matches_the_reference_in_train_and_eval_mode() {
    let dev = Device::flex();
    let fx = load(FILE);
    let head = DbHeadConfig::new([8, 16, 32, 64])
        .with_inner_channels(16)
        .init(&dev);
    let remap = reference_to_docmoco().add_pattern(r"^head\.", "").unwrap();
    let (head, report) = load_state_dict(head, &fixture_path(FILE), remap).unwrap();
    // in2..in5, out2..out5, and per map head: conv, 2 BNs x 4 tensors, 2 deconvs x 2.
    assert_eq!(report.applied, 4 + 4 + 2 * 13, "every head tensor loaded");
    let unused_weights: Vec<_> = report
        .unused
        .iter()
        .filter(|n| n.starts_with("decoder.") || n.starts_with("head."))
        .collect();
    assert!(unused_weights.is_empty(), "{unused_weights:?}");
    let stages = ["c2", "c3", "c4", "c5"].map(|n| fx.tensor::<4>(n, &dev));

    let out = head.forward(stages.clone());
    assert_close("prob", &to_vec(out.prob), &fx.vec("prob_train"), 1e-4, 1e-5);
    assert_close(
        "thresh",
        &to_vec(out.thresh),
        &fx.vec("thresh_train"),
        1e-4,
        1e-5,
    );
    // k = 50 amplifies P - T: compare with a looser absolute tolerance.
    assert_close(
        "binary",
        &to_vec(out.binary),
        &fx.vec("binary_train"),
        1e-3,
        1e-4,
    );
    let eval = head.valid();
    let prob = eval.forward_prob(stages);
    assert_close("prob_eval", &to_vec(prob), &fx.vec("prob_eval"), 1e-4, 1e-5);
}

fn squeeze(t: Tensor<4>) -> Tensor<3> {
    let [n, _, h, w] = t.dims();
    t.reshape([n, h, w])
}

#[test]
fn loss_terms_and_gradient_match_the_reference() {
    let plain = Device::flex();
    let dev = plain.clone().autodiff();
    let fx = load(FILE);
    let pred = fx.tensor::<4>("pred", &dev).require_grad();
    let thresh = fx.tensor::<4>("thresh", &dev);
    let gt = fx.tensor::<3>("gt", &dev);
    let mask = fx.tensor::<3>("mask", &dev);
    let binary = step_function(pred.clone(), thresh.clone(), 50.0);
    assert_close(
        "binary",
        &to_vec(binary.clone()),
        &fx.vec("binary"),
        1e-5,
        1e-6,
    );
    let bce = balanced_bce(squeeze(pred.clone()), gt.clone(), mask.clone(), 3.0);
    let dice = dice_loss(squeeze(binary), gt, mask);
    let l1 = masked_l1(
        squeeze(thresh),
        fx.tensor::<3>("thresh_map", &dev),
        fx.tensor::<3>("thresh_mask", &dev),
    );
    for (name, t) in [("bce", &bce), ("dice", &dice), ("l1", &l1)] {
        assert_close(name, &to_vec(t.clone()), &fx.vec(name), 1e-5, 1e-7);
    }
    let total = bce.mul_scalar(5.0) + dice + l1.mul_scalar(10.0);
    assert_close(
        "total",
        &to_vec(total.clone()),
        &fx.vec("total"),
        1e-5,
        1e-7,
    );
    let grads = total.backward();
    let g = pred.grad(&grads).expect("pred has a gradient");
    assert_close("grad_pred", &to_vec(g), &fx.vec("grad_pred"), 1e-4, 1e-6);
}

#[test]
fn head_gradients_match_the_reference() {
    let dev = Device::flex().autodiff();
    let fx = load(FILE);
    let head = DbHeadConfig::new([8, 16, 32, 64])
        .with_inner_channels(16)
        .init(&dev);
    let remap = reference_to_docmoco().add_pattern(r"^head\.", "").unwrap();
    let (head, _) = load_state_dict(head, &fixture_path(FILE), remap).unwrap();
    let c2 = fx.tensor::<4>("c2", &dev).require_grad();
    let stages = [
        c2.clone(),
        fx.tensor::<4>("c3", &dev),
        fx.tensor::<4>("c4", &dev),
        fx.tensor::<4>("c5", &dev),
    ];
    let out = head.forward(stages);
    let objective = (out.prob * fx.tensor::<4>("grad_w_prob", &dev)).sum()
        + (out.thresh * fx.tensor::<4>("grad_w_thresh", &dev)).sum()
        + (out.binary * fx.tensor::<4>("grad_w_binary", &dev)).sum();
    let grads = objective.backward();
    let g4 = |t: Tensor<4>| to_vec(t.grad(&grads).expect("gradient"));
    let g1 = |t: Tensor<1>| to_vec(t.grad(&grads).expect("gradient"));
    // (`binarize.3.bias` is left out: a bias right before a train-mode BN has a zero
    // gradient in exact arithmetic, so both sides hold only rounding noise.)
    let checks: Vec<(&str, Vec<f32>)> = vec![
        ("in5.weight", g4(head.in5.weight.val())),
        ("in2.weight", g4(head.in2.weight.val())),
        ("out5.0.weight", g4(head.out5.weight.val())),
        ("out2.weight", g4(head.out2.weight.val())),
        ("binarize.0.weight", g4(head.binarize.conv.weight.val())),
        ("binarize.1.weight", g1(head.binarize.bn1.weight.val())),
        ("binarize.3.weight", g4(head.binarize.deconv1.weight.val())),
        ("binarize.6.weight", g4(head.binarize.deconv2.weight.val())),
        (
            "binarize.6.bias",
            g1(head.binarize.deconv2.bias.as_ref().unwrap().val()),
        ),
        ("thresh.0.weight", g4(head.thresh.conv.weight.val())),
        ("thresh.4.bias", g1(head.thresh.bn2.bias.val())),
    ];
    for (name, got) in checks {
        assert_close(name, &got, &fx.vec(&format!("grad.{name}")), 1e-3, 1e-4);
    }
    assert_close("c2", &g4(c2), &fx.vec("grad.c2"), 1e-3, 1e-4);
}
