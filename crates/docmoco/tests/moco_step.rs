//! A few real MoCo steps on a tiny network: the loss behaves as the method predicts, the
//! key encoder follows the query encoder by EMA only, and checkpoints round-trip exactly.

use burn::module::Module;
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor, TensorData};
use docmoco::model::params::named_tensors;
use docmoco::optim::{Sgd, SgdParams};
use docmoco::ssl::moco::key_encoder_from;
use docmoco::ssl::Moco;
use docmoco::train::checkpoint::{self, Checkpoint, CheckpointMeta, TrainPosition};
use docmoco::train::PretrainConfig;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

fn tiny_config(k: usize, m: f64) -> PretrainConfig {
    let mut cfg = PretrainConfig::preset("moco-v2-tiny").unwrap();
    cfg.model.width_mult = 1.0 / 16.0;
    cfg.moco.queue_size = k;
    cfg.moco.momentum = m;
    cfg.moco.bn_splits = 2;
    cfg.moco.dim = 16;
    cfg
}

fn tiny_moco(k: usize, m: f64) -> (Moco, Device, Device) {
    let cfg = tiny_config(k, m);
    let plain = Device::flex();
    let train = plain.clone().autodiff();
    let moco = Moco::new(&cfg.encoder_config(), cfg.moco.clone(), 0, &train, &plain);
    (moco, plain, train)
}

fn images(n: usize, device: &Device, seed: u64) -> Tensor<4> {
    use rand_distr::{Distribution, StandardNormal};
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let v: Vec<f32> = (0..n * 3 * 32 * 32)
        .map(|_| StandardNormal.sample(&mut rng))
        .collect();
    Tensor::from_data(TensorData::new(v, [n, 3, 32, 32]), device)
}

#[test]
fn loss_starts_low_then_sits_near_ln_k_plus_1_with_real_keys() {
    let k = 64;
    let (mut moco, plain, train) = tiny_moco(k, 0.99);
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    // Step 1: the queue holds its random initialisation, nearly orthogonal to real keys, while
    // q and k come from the same images: the loss is far below ln(K+1).
    let x = images(8, &plain, 1);
    let out = moco.forward(x.clone().to_device(&train), x, &mut rng);
    let first: f32 = out.loss.inner().into_scalar();
    let ln_k1 = ((k + 1) as f32).ln();
    assert!(
        first.is_finite() && first < ln_k1 - 1.0,
        "first loss {first} vs ln(K+1) {ln_k1}"
    );
    // Fill the queue with real keys of other images (K / batch steps, no learning): an
    // untrained model now faces real negatives and scores close to ln(K+1).
    let mut last = 0.0;
    for s in 0..(k / 8 + 1) {
        let xq = images(8, &plain, 100 + s as u64);
        let xk = images(8, &plain, 200 + s as u64);
        let out = moco.forward(xq.to_device(&train), xk, &mut rng);
        last = out.loss.inner().into_scalar();
    }
    assert!(
        (last - ln_k1).abs() < 1.0,
        "loss {last} with real keys, ln(K+1) = {ln_k1}"
    );
}

#[test]
fn key_encoder_is_an_ema_of_the_query_encoder_and_gets_no_gradient() {
    let (mut moco, plain, train) = tiny_moco(16, 1.0);
    let before: Vec<_> = named_tensors(&moco.encoder_k)
        .into_iter()
        .filter(|(p, _)| p.ends_with("weight"))
        .map(|(p, t)| (p, t.into_data()))
        .collect();
    let mut sgd = Sgd::new(SgdParams::default());
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    for s in 0..2 {
        let x = images(8, &plain, s);
        let out = moco.forward(x.clone().to_device(&train), x, &mut rng);
        let grads = GradientsParams::from_grads(out.loss.backward(), &moco.encoder_q);
        moco.encoder_q = sgd.step(moco.encoder_q.clone(), grads, 0.1);
    }
    // m = 1: the key encoder's parameters have not moved although the query encoder has.
    let after = named_tensors(&moco.encoder_k);
    for (path, data) in &before {
        let now = after
            .iter()
            .find(|(p, _)| p == path)
            .unwrap()
            .1
            .clone()
            .into_data();
        assert_eq!(&now, data, "{path} changed with m = 1");
    }
    assert!(!sgd.buffers.is_empty(), "the query encoder was optimised");
    assert!(!moco.encoder_k.devices().iter().any(|d| d.is_autodiff()));
}

#[test]
fn checkpoint_round_trip_is_exact() {
    let (mut moco, plain, train) = tiny_moco(16, 0.9);
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let mut sgd = Sgd::new(SgdParams::default());
    let x = images(8, &plain, 3);
    let out = moco.forward(x.clone().to_device(&train), x.clone(), &mut rng);
    let grads = GradientsParams::from_grads(out.loss.backward(), &moco.encoder_q);
    moco.encoder_q = sgd.step(moco.encoder_q.clone(), grads, 0.1);

    let dir = tempfile::tempdir().unwrap();
    let ck = Checkpoint {
        encoder_q: moco.encoder_q.clone(),
        encoder_k: moco.encoder_k.clone(),
        queue: moco.queue.keys.clone(),
        sgd_buffers: sgd.buffers.clone(),
        meta: CheckpointMeta {
            position: TrainPosition {
                step: 1,
                epoch: 0,
                step_in_epoch: 1,
            },
            queue_ptr: moco.queue.ptr,
            config_toml: String::new(),
            best_knn: None,
            queue_ids: Some(moco.queue.ids.clone()),
        },
    };
    checkpoint::save(dir.path(), &ck, 2).unwrap();
    let path = checkpoint::latest(dir.path()).unwrap();
    let (fresh, _, _) = tiny_moco(16, 0.9);
    let template_k = key_encoder_from(
        &fresh.encoder_q,
        &tiny_config(16, 0.9).encoder_config(),
        &plain,
    );
    let loaded = checkpoint::load(&path, fresh.encoder_q, template_k, &plain).unwrap();
    assert_eq!(loaded.meta.queue_ptr, moco.queue.ptr);
    assert!(
        loaded
            .encoder_q
            .backbone
            .conv1
            .weight
            .val()
            .is_require_grad(),
        "a resumed query encoder must stay trainable"
    );
    assert!(loaded.encoder_q.backbone.bn1.is_training());
    assert!(
        loaded.encoder_k.backbone.bn1.is_training(),
        "key encoder keeps train-mode BN"
    );
    assert_eq!(
        loaded.queue.into_data(),
        moco.queue.keys.clone().into_data()
    );
    assert_eq!(loaded.sgd_buffers.len(), sgd.buffers.len());
    let saved = named_tensors(&moco.encoder_q);
    let restored = named_tensors(&loaded.encoder_q);
    assert_eq!(saved.len(), restored.len());
    for ((p, a), (q, b)) in saved.iter().zip(&restored) {
        assert_eq!(p, q);
        assert_eq!(a.clone().into_data(), b.clone().into_data(), "{p}");
    }
    // Same outputs in eval mode and the same running statistics.
    let a = moco.encoder_q.valid().forward(x.clone()).into_data();
    let b = loaded.encoder_q.valid().forward(x).into_data();
    assert_eq!(a, b);
}

#[test]
fn every_parameter_of_a_fresh_query_encoder_is_trained() {
    let (mut moco, plain, train) = tiny_moco(16, 0.99);
    let n_params = named_tensors(&moco.encoder_q)
        .iter()
        .filter(|(p, _)| !docmoco::model::params::is_running_stat(p))
        .count();
    let mut sgd = Sgd::new(SgdParams::default());
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let x = images(8, &plain, 5);
    let out = moco.forward(x.clone().to_device(&train), x, &mut rng);
    let grads = GradientsParams::from_grads(out.loss.backward(), &moco.encoder_q);
    moco.encoder_q = sgd.step(moco.encoder_q.clone(), grads, 0.1);
    assert_eq!(
        sgd.buffers.len(),
        n_params,
        "parameters without a gradient: {:?}",
        {
            let have: Vec<&String> = sgd.buffers.keys().collect();
            named_tensors(&moco.encoder_q)
                .into_iter()
                .map(|(p, _)| p)
                .filter(|p| !docmoco::model::params::is_running_stat(p) && !have.contains(&p))
                .collect::<Vec<_>>()
        }
    );
}

#[test]
fn key_encoder_has_batch_norm_statistics_of_its_own() {
    let (moco, plain, _) = tiny_moco(16, 0.99);
    let before = moco
        .encoder_q
        .backbone
        .bn1
        .running_mean
        .value_sync()
        .into_data();
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    // A key-encoder forward (train-mode BN) updates the key encoder's statistics only.
    let _ = moco.keys(images(8, &plain, 9), &mut rng);
    let after_q = moco
        .encoder_q
        .backbone
        .bn1
        .running_mean
        .value_sync()
        .into_data();
    let after_k = moco
        .encoder_k
        .backbone
        .bn1
        .running_mean
        .value_sync()
        .into_data();
    assert_eq!(before, after_q, "the query encoder's BN statistics moved");
    assert_ne!(
        before, after_k,
        "the key encoder's BN statistics did not move"
    );
}
