//! The quantized model simulated in float beside the float model, node by node over a set of
//! samples: what `layerwise` calibration and learned rounding measure errors on.
//!
//! The *reference* is the float model as calibrated; the *simulation* reads the QDQ model's
//! dequantized weights and biases and replaces every activation the QDQ model quantizes by its
//! `dequantize(quantize(x))` image (the runtime's rounding and clamping,
//! [`Params::fake_quantize`]). Which activations those are comes from the QDQ model, by name:
//! `%X` is quantized when the QDQ model holds `%X.q = quantize(%X)`. Walking the model one node
//! at a time, over every sample at once, lets a caller change the simulation between two nodes
//! (a range chosen, a layer's weights rounded anew) with everything before it already in the
//! data.

use crate::batch::{count_batches, model_inputs, Layout};
use crate::diag::{Error, Result};
use crate::interp::{eval_op_in, quant_params, FloatMode};
use crate::ir::model::{Model, NodeId, NodeKind};
use crate::quant::params::Params;
use crate::quant::ranges::observed_tensors;
use runtime::Tensor;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// How the simulation treats one activation.
#[derive(Clone, Debug)]
pub(crate) enum Treat {
    /// Quantized with parameters from its own range: one of these candidates.
    Choose(Vec<(&'static str, (f32, f32))>),
    /// Quantized with parameters the quantizer derived from other ranges.
    Fixed(Params),
    /// Quantized with its operand's parameters (a pass-through op): on that grid already.
    Keep,
}

/// The per-tensor parameters of a quantized node of `model`.
pub(crate) fn per_tensor(model: &Model, id: NodeId) -> Option<Params> {
    let q = model.node(id).ty.elem.quant()?;
    if q.axis.is_some() {
        return None;
    }
    Some(Params::per_tensor(q.storage, q.scales[0], q.zero_points[0]))
}

/// `%name.q` in the QDQ model, when it quantizes `%name`.
pub(crate) fn quantized_image(qdq: &Model, name: &str) -> Option<NodeId> {
    let q = qdq.find(&format!("{name}.q"))?;
    let op = qdq.node(q).op()?;
    let operand = *qdq.operands(q).first()?;
    (op.kind == crate::ir::op::OpKind::Quantize && qdq.node(operand).name == name).then_some(q)
}

/// Every tensor the QDQ model quantizes per tensor, simulated on the grid it is quantized to.
pub(crate) fn fixed_treatments(float: &Model, qdq: &Model) -> HashMap<NodeId, Treat> {
    observed_tensors(float)
        .into_iter()
        .filter_map(|id| {
            let q = quantized_image(qdq, &float.node(id).name)?;
            Some((id, Treat::Fixed(per_tensor(qdq, q)?)))
        })
        .collect()
}

/// The simulation's weights: each weight `@W` whose QDQ image `@W.q` is a quantized constant of
/// the same shape, dequantized.
pub(crate) fn simulated_weights(float: &Model, qdq: &Model) -> HashMap<NodeId, Arc<Tensor>> {
    let mut out = HashMap::new();
    for w in float.weights() {
        let node = float.node(w);
        let Some(q) = qdq.find(&format!("{}.q", node.name)) else {
            continue;
        };
        let (Some(data), Some(p)) = (qdq.node(q).weight(), quant_params(&qdq.node(q).ty)) else {
            continue;
        };
        if data.shape() == node.ty.shape.as_slice() {
            out.insert(w, Arc::new(Tensor::F32(runtime::ops::dequantize(data, &p))));
        }
    }
    out
}

/// One sample's live values.
#[derive(Default)]
pub(crate) struct Sample {
    /// Which calibration sample this is.
    pub index: usize,
    pub inputs: Vec<Tensor>,
    pub reference: HashMap<NodeId, Arc<Tensor>>,
    pub simulated: HashMap<NodeId, Arc<Tensor>>,
    /// Reference values computed ahead of their turn while judging a tensor's consumers.
    pub ahead: HashMap<NodeId, Arc<Tensor>>,
    /// The float model's outputs on this sample.
    pub outputs: Vec<Tensor>,
}

/// The float model, its simulated weights and treatments: what every sample's step reads.
pub(crate) struct Sim<'a> {
    pub model: &'a Model,
    pub weights: HashMap<NodeId, Arc<Tensor>>,
    pub treat: HashMap<NodeId, Treat>,
    pub outputs: HashSet<NodeId>,
}

/// `(Σ reference², Σ (reference − value)²)` over two f32 tensors.
pub(crate) fn energy_and_error(reference: &Tensor, value: &Tensor) -> (f64, f64) {
    match (reference.as_f32(), value.as_f32()) {
        (Some(r), Some(v)) => r.iter().zip(v).fold((0.0, 0.0), |(e, d), (&a, &b)| {
            let (a, b) = (a as f64, b as f64);
            (e + a * a, d + (a - b) * (a - b))
        }),
        _ => (0.0, 0.0),
    }
}

/// `dequantize(quantize(t))` on `p`'s grid.
pub(crate) fn fake(p: &Params, t: &Tensor) -> Tensor {
    match t.as_f32() {
        Some(a) => Tensor::F32(p.fake_quantize(a)),
        None => t.clone(),
    }
}

impl Sim<'_> {
    pub fn eval(&self, id: NodeId, args: &[&Tensor]) -> Result<Tensor> {
        let node = self.model.node(id);
        let op = node.op().expect("an op node");
        eval_op_in(op, args, &node.ty, FloatMode::Fast).map_err(|e| match e {
            Error::Msg(m) => Error::msg(format!("at %{}: {m}", node.name)),
            e => e,
        })
    }

    /// An operand's reference value, if computed (weights always are).
    pub fn reference<'s>(&'s self, s: &'s Sample, o: NodeId) -> Option<&'s Tensor> {
        match &self.model.node(o).kind {
            NodeKind::Weight(data) => data.tensor().map(|t| t.as_ref()),
            _ => s.reference.get(&o).map(|t| t.as_ref()),
        }
    }

    /// An operand's simulated value, if computed.
    pub fn simulated<'s>(&'s self, s: &'s Sample, o: NodeId) -> Option<&'s Tensor> {
        match &self.model.node(o).kind {
            NodeKind::Weight(data) => self
                .weights
                .get(&o)
                .or_else(|| data.tensor())
                .map(|t| t.as_ref()),
            _ => s.simulated.get(&o).map(|t| t.as_ref()),
        }
    }

    /// Computes `id` on one sample: its reference value and its simulated one, on its grid
    /// when it is a quantized tensor of fixed parameters.
    pub fn compute(&self, s: &mut Sample, id: NodeId) -> Result<()> {
        self.evaluate(s, id)?;
        self.to_grid(s, id);
        Ok(())
    }

    /// [`Sim::compute`] short of putting the simulated value on its grid, so that a caller can
    /// change it first ([`Sim::to_grid`] then).
    pub fn evaluate(&self, s: &mut Sample, id: NodeId) -> Result<()> {
        let m = self.model;
        match &m.node(id).kind {
            NodeKind::Weight(_) => return Ok(()),
            NodeKind::Input => {
                let i = m.inputs.iter().position(|&x| x == id).expect("an input");
                let t = Arc::new(s.inputs[i].clone());
                s.reference.insert(id, t.clone());
                s.simulated.insert(id, t);
            }
            NodeKind::Op(_) => {
                let operands = m.operands(id);
                let reference = match s.ahead.remove(&id) {
                    Some(t) => t,
                    None => {
                        let args: Vec<&Tensor> = operands
                            .iter()
                            .map(|&o| self.reference(s, o).expect("computed before its users"))
                            .collect();
                        Arc::new(self.eval(id, &args)?)
                    }
                };
                let args: Vec<&Tensor> = operands
                    .iter()
                    .map(|&o| self.simulated(s, o).expect("computed before its users"))
                    .collect();
                let simulated = Arc::new(self.eval(id, &args)?);
                s.reference.insert(id, reference);
                s.simulated.insert(id, simulated);
            }
        }
        Ok(())
    }

    /// Puts the simulated value of `id` on its grid, when it is a quantized tensor of fixed
    /// parameters.
    pub fn to_grid(&self, s: &mut Sample, id: NodeId) {
        if let Some(Treat::Fixed(p)) = self.treat.get(&id) {
            let t = fake(p, &s.simulated[&id]);
            s.simulated.insert(id, Arc::new(t));
        }
    }

    /// Continues the simulation of a chosen tensor with the winner's parameters.
    pub fn settle(&self, s: &mut Sample, id: NodeId, p: &Params) {
        let t = fake(p, &s.simulated[&id]);
        s.simulated.insert(id, Arc::new(t));
    }

    /// Drops the values no op still needs.
    pub fn release(&self, s: &mut Sample, dead: &[NodeId]) {
        for d in dead {
            s.reference.remove(d);
            s.simulated.remove(d);
        }
    }
}

/// How many samples calibration reads from `samples`, and how they are laid out.
pub(crate) fn batches(float: &Model, samples: &[Tensor]) -> Result<(usize, Layout)> {
    match float.inputs.first().zip(samples.first()) {
        Some((&id, a)) => count_batches(&float.node(id).name, &float.node(id).ty.shape, a.shape()),
        None => Ok((1, Layout::Stacked)),
    }
}

/// `k` of the `count` samples, spread evenly over the set, each with its inputs and nothing
/// computed yet.
pub(crate) fn spread(
    float: &Model,
    samples: &[Tensor],
    (count, layout): (usize, Layout),
    k: usize,
) -> Vec<Sample> {
    (0..k)
        .map(|i| Sample {
            index: i * count / k,
            inputs: model_inputs(float, samples, layout, i * count / k),
            ..Sample::default()
        })
        .collect()
}

/// How many ops have yet to read each value: the walk drops a value from every sample after its
/// last reader.
pub(crate) struct Remaining(HashMap<NodeId, usize>);

impl Remaining {
    pub fn new(model: &Model, order: &[NodeId]) -> Remaining {
        Remaining(order.iter().map(|&n| (n, model.use_count(n))).collect())
    }

    /// Once `id` has been computed on every sample: drops the operands no later op reads.
    pub fn after(&mut self, sim: &Sim, states: &mut [Sample], id: NodeId) {
        let mut dead = vec![];
        for o in sim.model.operands(id) {
            if let Some(r) = self.0.get_mut(&o) {
                *r = r.saturating_sub(1);
                if *r == 0 {
                    dead.push(o);
                }
            }
        }
        for s in states {
            sim.release(s, &dead);
        }
    }
}

/// Runs `f` on every sample, spread over `cores` threads, and returns the results in sample
/// order.
pub(crate) fn each<T: Send>(
    samples: &mut [Sample],
    cores: usize,
    f: impl Fn(&mut Sample) -> Result<T> + Sync,
) -> Result<Vec<T>> {
    let per = samples.len().div_ceil(cores.max(1)).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = samples
            .chunks_mut(per)
            .map(|chunk| {
                let f = &f;
                scope.spawn(move || chunk.iter_mut().map(f).collect::<Result<Vec<T>>>())
            })
            .collect();
        let mut out = vec![];
        for h in handles {
            out.extend(h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))?);
        }
        Ok(out)
    })
}
