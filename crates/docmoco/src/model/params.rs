//! Walk a module's float tensors by their dotted path (`layer1.0.conv1.weight`).
//!
//! burn identifies parameters by `ParamId`, which is not stable across runs; MoCo's momentum
//! update, the optimiser's state and checkpoints need a name that is. Tensors are handed to the
//! callbacks flattened to rank 1 so one non-generic closure serves every rank.

use std::collections::HashMap;

use burn::backend::DispatchDevice;
use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor};

/// Whether a path names a BatchNorm running statistic rather than a learnable parameter.
pub fn is_running_stat(path: &str) -> bool {
    path.ends_with("running_mean") || path.ends_with("running_var")
}

struct Collector {
    path: Vec<String>,
    out: Vec<(String, Tensor<1>)>,
}

impl ModuleVisitor for Collector {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }
    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let t = param.val();
        let n = t.shape().num_elements();
        self.out.push((self.path.join("."), t.reshape([n])));
    }
}

/// Every float tensor of `module` (parameters and running statistics) with its path, flattened.
pub fn named_tensors<M: Module>(module: &M) -> Vec<(String, Tensor<1>)> {
    let mut c = Collector {
        path: Vec::new(),
        out: Vec::new(),
    };
    module.visit(&mut c);
    c.out
}

/// What a [`map_named`] callback sees for one tensor.
pub struct NamedParam<'a> {
    pub path: &'a str,
    pub id: ParamId,
    /// The tensor's rank before flattening (LARS treats 1-D parameters differently).
    pub rank: usize,
    /// The value, flattened, detached from autodiff.
    pub value: Tensor<1>,
    /// The gradient, flattened, when gradients were supplied and this tensor has one.
    pub grad: Option<Tensor<1>>,
}

struct Mapper<'g, F> {
    path: Vec<String>,
    grads: Option<&'g mut GradientsParams>,
    f: F,
}

impl<F: FnMut(NamedParam<'_>) -> Option<Tensor<1>>> ModuleMapper for Mapper<'_, F> {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }
    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let (id, tensor, mapper) = param.consume();
        let dims: [usize; D] = tensor.dims();
        let n = tensor.shape().num_elements();
        let grad = self
            .grads
            .as_deref_mut()
            .and_then(|g| g.remove::<D>(id))
            .map(|g| g.inner().reshape([n]));
        let require_grad = tensor.is_require_grad();
        let was_autodiff = tensor.is_autodiff();
        let path = self.path.join(".");
        let named = NamedParam {
            path: &path,
            id,
            rank: D,
            value: tensor.clone().inner().reshape([n]),
            grad,
        };
        let tensor = match (self.f)(named) {
            Some(new) => {
                let mut t: Tensor<D> = new.reshape(dims);
                if was_autodiff {
                    t = Tensor::from_inner(t);
                    if require_grad {
                        t = t.require_grad();
                    }
                }
                t
            }
            None => tensor,
        };
        Param::from_mapped_value(id, tensor, mapper)
    }
}

/// Rebuilds `module`, replacing each float tensor for which `f` returns `Some`.
///
/// With `grads`, the callback also receives each parameter's gradient. Autodiff state
/// (`require_grad`) is restored on replaced tensors, as burn's own optimisers do.
pub fn map_named<M, F>(module: M, grads: Option<&mut GradientsParams>, f: F) -> M
where
    M: Module,
    F: FnMut(NamedParam<'_>) -> Option<Tensor<1>>,
{
    let mut mapper = Mapper {
        path: Vec::new(),
        grads,
        f,
    };
    module.map(&mut mapper)
}

struct Detacher;

impl ModuleMapper for Detacher {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let (id, tensor, mapper) = param.consume();
        Param::from_mapped_value(id, tensor.inner(), mapper)
    }
}

/// `module` with every tensor moved off autodiff (same values, no graph, no gradients), but
/// flags such as BatchNorm's training mode untouched — unlike `Module::valid`.
pub fn without_autodiff<M: Module>(module: M) -> M {
    module.map(&mut Detacher)
}

struct Initializer;

impl ModuleMapper for Initializer {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let (id, tensor, mapper) = param.consume();
        Param::from_mapped_value(id, tensor, mapper)
    }
}

/// Forces burn's lazily initialised parameters to take their values now.
///
/// burn 0.22 creates parameters lazily. A lazy parameter that is cloned before its first use
/// (MoCo clones the query encoder into the key encoder) is initialised separately in each
/// copy, and the training copy's gradients were then not matched to it: measured, 24 of 64
/// ResNet-18 parameters (every convolution and linear weight) received no update. Calling this
/// right after `init` gives every parameter one concrete, tracked value.
pub fn initialize<M: Module>(module: M) -> M {
    module.map(&mut Initializer)
}

/// `init(device)` with concrete weights (see [`initialize`]) drawn from the CPU backend's
/// generator seeded with `seed`, whatever `device` is.
///
/// Why: every burn backend has its own generator, so the same seed drew other initial weights
/// on a GPU, and a GPU run could not be checked against the CPU's (`tools/gpu/check.sh`
/// compares their losses step by step). On the CPU this is exactly `device.seed(seed);
/// initialize(init(device))`, so runs recorded before replay unchanged.
pub fn seeded_init<M: Module>(seed: u64, device: &Device, init: impl Fn(&Device) -> M) -> M {
    if is_cpu(device) {
        device.seed(seed);
        return initialize(init(device));
    }
    init_on_host(seed, device, init)
}

/// Whether `device` is burn's CPU backend, with or without autodiff.
fn is_cpu(device: &Device) -> bool {
    matches!(
        device.clone().inner().as_dispatch(),
        DispatchDevice::Flex(_)
    )
}

/// [`seeded_init`]'s path for a device other than the CPU: draw on the CPU, copy over.
fn init_on_host<M: Module>(seed: u64, device: &Device, init: impl Fn(&Device) -> M) -> M {
    let host = Device::flex();
    host.seed(seed);
    let weights = initialize(init(&host));
    copy_tensors(initialize(init(device)), &weights)
}

/// `target` with every tensor (parameters *and* BatchNorm running statistics) replaced by the
/// tensor at the same path in `source`, moved to `target`'s device.
///
/// This is how to copy a module in burn 0.22 without sharing state: `Clone` shares each
/// `RunningState` (it is reference-counted), so a cloned MoCo key encoder would update the query
/// encoder's BN statistics with its own forwards. Build `target` fresh, then copy.
pub fn copy_tensors<M: Module>(target: M, source: &M) -> M {
    let src: HashMap<String, Tensor<1>> = named_tensors(source).into_iter().collect();
    map_named(target, None, |p| {
        src.get(p.path)
            .map(|t| t.clone().inner().to_device(&p.value.device()))
    })
}

#[cfg(test)]
mod tests {
    use burn::nn::conv::Conv2dConfig;

    use super::*;

    /// A GPU run starts from the CPU's weights: the host path (taken for every device but the
    /// CPU) gives an autodiff CPU device the very tensors that seeding it directly gives, still
    /// tracked for gradients.
    #[test]
    fn host_drawn_weights_are_the_cpu_devices_own() {
        let device = Device::flex().autodiff();
        assert!(is_cpu(&device) && is_cpu(&Device::flex()));
        let init = |d: &Device| Conv2dConfig::new([3, 8], [3, 3]).init(d);
        let direct = seeded_init(7, &device, init);
        let hosted = init_on_host(7, &device, init);
        let other_seed = seeded_init(8, &device, init);
        let a = named_tensors(&direct);
        let b = named_tensors(&hosted);
        assert_eq!(a.len(), b.len());
        for ((pa, ta), (pb, tb)) in a.iter().zip(&b) {
            assert_eq!(pa, pb);
            assert_eq!(ta.to_data(), tb.to_data(), "{pa}");
        }
        assert!(hosted.weight.val().is_require_grad());
        assert_ne!(
            direct.weight.val().to_data(),
            other_seed.weight.val().to_data()
        );
    }
}
