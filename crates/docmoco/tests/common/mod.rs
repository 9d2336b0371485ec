//! Reading the PyTorch fixtures of `tools/make_fixtures.py`.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::PathBuf;

use burn::tensor::{Device, Tensor, TensorData};

pub struct Fixture {
    pub tensors: HashMap<String, (Vec<f32>, Vec<usize>)>,
    pub ints: HashMap<String, Vec<i64>>,
}

pub fn fixture_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

pub fn load(name: &str) -> Fixture {
    let bytes = std::fs::read(fixture_path(name)).expect("fixture present");
    let st = safetensors::SafeTensors::deserialize(&bytes).expect("valid safetensors");
    let mut tensors = HashMap::new();
    let mut ints = HashMap::new();
    for (k, v) in st.tensors() {
        let shape = v.shape().to_vec();
        match v.dtype() {
            safetensors::Dtype::F32 => {
                let data = v
                    .data()
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect();
                tensors.insert(k.to_string(), (data, shape));
            }
            safetensors::Dtype::I64 => {
                let data = v
                    .data()
                    .chunks_exact(8)
                    .map(|c| i64::from_le_bytes(c.try_into().unwrap()))
                    .collect();
                ints.insert(k.to_string(), data);
            }
            _ => {}
        }
    }
    Fixture { tensors, ints }
}

impl Fixture {
    pub fn vec(&self, name: &str) -> Vec<f32> {
        self.tensors
            .get(name)
            .unwrap_or_else(|| panic!("fixture tensor {name}"))
            .0
            .clone()
    }
    pub fn scalar(&self, name: &str) -> f64 {
        self.vec(name)[0] as f64
    }
    pub fn int(&self, name: &str) -> Vec<i64> {
        self.ints
            .get(name)
            .unwrap_or_else(|| panic!("fixture int tensor {name}"))
            .clone()
    }
    pub fn tensor<const D: usize>(&self, name: &str, device: &Device) -> Tensor<D> {
        let (data, shape) = self
            .tensors
            .get(name)
            .unwrap_or_else(|| panic!("fixture tensor {name}"));
        Tensor::from_data(TensorData::new(data.clone(), shape.clone()), device)
    }
}

pub fn to_vec<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()
}

/// Asserts |a - b| <= atol + rtol * |b| elementwise, reporting the worst element.
pub fn assert_close(name: &str, actual: &[f32], expected: &[f32], rtol: f32, atol: f32) {
    assert_eq!(actual.len(), expected.len(), "{name}: length");
    let mut worst = (0usize, 0f32);
    for (i, (a, b)) in actual.iter().zip(expected).enumerate() {
        let err = (a - b).abs() - (atol + rtol * b.abs());
        if err > worst.1 || !a.is_finite() {
            worst = (i, err.max(f32::MIN_POSITIVE));
        }
    }
    assert!(
        worst.1 <= 0.0,
        "{name}: element {} is {} but PyTorch gives {} (rtol {rtol}, atol {atol})",
        worst.0,
        actual[worst.0],
        expected[worst.0]
    );
}
