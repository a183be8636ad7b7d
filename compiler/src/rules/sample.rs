//! Random instances of a rule's pattern for `qcc rules check`: a small model whose output is the
//! pattern's root, with operand shapes, attributes and constants sampled so that every op is
//! well-typed (channel counts that groups divide, windows that fit, …).

use crate::ir::attr::{Attr, Attrs};
use crate::ir::model::{Model, NodeId, WeightData};
use crate::ir::op::{Op, OpKind};
use crate::ir::types::{ElemType, QuantType, TensorType};
use crate::rules::sample_int;
pub use crate::rules::values::Rng;
use dsl::ast::{AttrPatternValue, Clause, Expr, ExprKind, LiteralKind, OpPattern, Pattern, Rule};
use ndarray::{ArrayD, IxDyn};
use runtime::{DType, Tensor};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// Names the pattern declares constant in a top-level `const(…)` guard.
pub fn const_names(rule: &Rule) -> HashSet<String> {
    fn walk(e: &Expr, out: &mut HashSet<String>) {
        match &e.kind {
            ExprKind::Call { func, args } if func.name == "const" => {
                for a in args {
                    if let ExprKind::Var(v) = &a.kind {
                        out.insert(v.clone());
                    }
                }
            }
            ExprKind::Binary {
                op: dsl::ast::BinaryOp::And,
                lhs,
                rhs,
            } => {
                walk(lhs, out);
                walk(rhs, out);
            }
            _ => {}
        }
    }
    let mut out = HashSet::new();
    for c in &rule.clauses {
        if let Clause::Where { guards, .. } = c {
            for g in guards {
                walk(g, &mut out);
            }
        }
    }
    out
}

/// Builds one instance; `Err` says why this pattern cannot be instantiated.
pub struct Sampler<'a> {
    pub rng: &'a mut Rng,
    pub consts: &'a HashSet<String>,
    /// The numbers the rule mentions (`values::mentioned`): constants are sometimes filled
    /// with one of them, so guards such as `all(c == 3.0)` get to hold.
    pub mentioned: &'a [f32],
    /// Constants a guard pins to one number (`values::pinned`).
    pub pinned: &'a [(String, f32)],
    pub model: Model,
    /// Leaves created so far, by pattern name (a name is bound once, but may be read in guards).
    pub leaves: HashMap<String, NodeId>,
    counter: usize,
    /// The op whose operands are being built, its attributes, and the quantized types behind the
    /// operands built so far (a dequantize's input): weights and biases of a quantized layer
    /// are sampled to fit them (i8 per output channel; i32 bias with scale S_x·S_w).
    ctx: Vec<(OpKind, Attrs, Vec<Option<QuantType>>)>,
    /// The length of the axis the next `indices` constant picks along (a gather's), so that
    /// its values are valid indices.
    index_bound: usize,
    /// 1/N when the next constant multiplies a sum of N elements: a mean as exporters write it
    /// (`Σx · (1/N)`, jax2tf), which a rule's guard asks for.
    mean_factor: Option<f32>,
}

const SCALES: &[f32] = &[0.5, 0.25, 0.125, 0.05];

/// The binary element-wise ops whose second operand broadcasts against the first.
fn broadcasting(kind: OpKind) -> bool {
    matches!(
        kind,
        OpKind::Add | OpKind::Sub | OpKind::Mul | OpKind::Div | OpKind::Max | OpKind::Min
    )
}
const ZPS_U8: &[i32] = &[0, 3, 128];
const ZPS_I8: &[i32] = &[0, -5, 7];
const ZPS_I16: &[i32] = &[0, -105, 3000];

impl<'a> Sampler<'a> {
    pub fn new(
        rng: &'a mut Rng,
        consts: &'a HashSet<String>,
        mentioned: &'a [f32],
        pinned: &'a [(String, f32)],
    ) -> Sampler<'a> {
        Sampler {
            rng,
            consts,
            mentioned,
            pinned,
            model: Model::new("instance"),
            leaves: HashMap::new(),
            counter: 0,
            ctx: vec![],
            index_bound: 1,
            mean_factor: None,
        }
    }

    fn fresh(&mut self, base: &str) -> String {
        self.counter += 1;
        format!("{base}{}", self.counter)
    }

    /// A quantized element type from a small pool, so that rules comparing parameters see both
    /// equal and different ones.
    fn quant_elem(&mut self) -> ElemType {
        let storage = if self.rng.coin() {
            DType::U8
        } else {
            DType::I8
        };
        let zp = self
            .rng
            .pick(if storage == DType::U8 { ZPS_U8 } else { ZPS_I8 });
        ElemType::Quant(QuantType {
            storage,
            scales: vec![self.rng.pick(SCALES)],
            zero_points: vec![zp],
            axis: None,
        })
    }

    /// Whether the value being typed is a convolution's input: the conv's first operand, typed
    /// by the conv itself or as the leaf under its first dequantize.
    fn conv_input(&self) -> bool {
        let first_of_conv = |i: usize| self.ctx[i].0 == OpKind::Conv2d && self.ctx[i].2.is_empty();
        match self.ctx.len() {
            0 => false,
            n if self.ctx[n - 1].0 == OpKind::Dequantize => n >= 2 && first_of_conv(n - 2),
            n => first_of_conv(n - 1),
        }
    }

    /// The quantized type a dequantize operand should have where it stands: the weight or bias
    /// of a linear layer, or an activation.
    fn role_quant(&mut self, shape: &[usize]) -> ElemType {
        let Some((parent, attrs, quants)) = self.ctx.last().cloned() else {
            return self.quant_elem();
        };
        let slot = quants.len();
        let trans_b = attrs
            .get("trans_b")
            .and_then(|a| a.as_bool())
            .unwrap_or(false);
        let weight_axis = match parent {
            OpKind::Conv2d | OpKind::Gemm if trans_b || parent == OpKind::Conv2d => Some(0),
            OpKind::Gemm => Some(1),
            // A [K, N] weight, one scale per output column.
            OpKind::ConvTranspose2d => Some(1),
            // The same, or half the time a second activation (attention's Q·Kᵀ).
            OpKind::MatMul if self.rng.coin() => Some(1),
            _ => None,
        };
        match (slot, weight_axis) {
            (1, Some(axis)) => {
                let n = shape[axis];
                let scales = (0..n).map(|_| self.rng.pick(SCALES)).collect();
                ElemType::Quant(QuantType {
                    storage: DType::I8,
                    scales,
                    zero_points: vec![0; n],
                    axis: Some(axis),
                })
            }
            (2, Some(_)) => {
                let (Some(x), Some(w)) = (quants[0].clone(), quants[1].clone()) else {
                    return self.quant_elem();
                };
                let scales: Vec<f32> = w.scales.iter().map(|s| s * x.scales[0]).collect();
                let n = scales.len();
                ElemType::Quant(QuantType {
                    storage: DType::I32,
                    scales,
                    zero_points: vec![0; n],
                    axis: Some(0),
                })
            }
            // A convolution's input: one in four holds the i16 codes of a tensor given 16
            // bits (`--activation-bits-for`), which only convolutions read.
            _ if self.conv_input() && !self.rng.coin() && !self.rng.coin() => {
                ElemType::Quant(QuantType {
                    storage: DType::I16,
                    scales: vec![self.rng.pick(SCALES)],
                    zero_points: vec![self.rng.pick(ZPS_I16)],
                    axis: None,
                })
            }
            _ => {
                // Activations of quantized layers are u8.
                let zp = self.rng.pick(ZPS_U8);
                ElemType::Quant(QuantType {
                    storage: DType::U8,
                    scales: vec![self.rng.pick(SCALES)],
                    zero_points: vec![zp],
                    axis: None,
                })
            }
        }
    }

    /// Random data for a constant of this type; `role` tunes it (variances are positive; a
    /// quarter of plain constants are all ones or all zeros so identity rules get to fire).
    fn data(&mut self, ty: &TensorType, role: &str) -> Tensor {
        let n = ty.numel();
        let shape = IxDyn(&ty.shape);
        match ty.elem.storage() {
            DType::F32 => {
                let special = self.rng.range(0, 7);
                let positive = role == "var" || (role == "gamma" && self.rng.coin());
                let fill = if self.mentioned.is_empty() {
                    1.0
                } else {
                    self.rng.pick(self.mentioned)
                };
                let v: Vec<f32> = (0..n)
                    .map(|_| match special {
                        0 if !positive => 1.0,
                        1 if !positive && role != "gamma" => 0.0,
                        2 if !positive => fill,
                        _ if role == "var" => crate::rules::values::draw_positive(self.rng),
                        _ => {
                            let u = self.rng.unit() * 2.0;
                            if positive {
                                u.abs() + 0.1
                            } else {
                                u
                            }
                        }
                    })
                    .collect();
                Tensor::F32(ArrayD::from_shape_vec(shape, v).expect("n elements"))
            }
            DType::U8 => Tensor::U8(
                ArrayD::from_shape_vec(
                    shape,
                    (0..n).map(|_| self.rng.range(0, 255) as u8).collect(),
                )
                .expect("n"),
            ),
            DType::I8 => Tensor::I8(
                ArrayD::from_shape_vec(
                    shape,
                    (0..n)
                        .map(|_| self.rng.range(0, 254) as i32 as i8)
                        .map(|v| v.wrapping_sub(127))
                        .collect(),
                )
                .expect("n"),
            ),
            // A gather's indices: either sign, every one inside the axis.
            DType::I32 if role == "indices" => {
                let len = self.index_bound.max(1) as i64;
                let v: Vec<i32> = (0..n)
                    .map(|_| (self.rng.range(0, 2 * len as usize - 1) as i64 - len) as i32)
                    .collect();
                Tensor::I32(ArrayD::from_shape_vec(shape, v).expect("n"))
            }
            DType::I32 => Tensor::I32(
                ArrayD::from_shape_vec(
                    shape,
                    (0..n)
                        .map(|_| self.rng.range(0, 2000) as i32 - 1000)
                        .collect(),
                )
                .expect("n"),
            ),
            // No rule's pattern has operands of the other types; zeros keep the sampler total.
            other => Tensor::zeros(other, &ty.shape),
        }
    }

    fn leaf(&mut self, name: Option<&str>, ty: TensorType, role: &str) -> NodeId {
        let is_const = name.is_some_and(|n| self.consts.contains(n));
        let pin = name.and_then(|n| self.pinned.iter().find(|(p, _)| p == n).map(|p| p.1));
        let id = if is_const {
            let mean = self.mean_factor.take().filter(|_| self.rng.range(0, 4) > 0);
            let f32 = ty.elem.storage() == DType::F32;
            let fill = |v: f32| Tensor::F32(ArrayD::from_elem(IxDyn(&ty.shape), v));
            let t = match (pin, mean) {
                (None, Some(v)) if f32 => fill(v),
                // Mostly the pinned number; now and then not, so the guard is seen to fail.
                (Some(v), _) if f32 && self.rng.range(0, 7) > 0 => fill(v),
                _ => self.data(&ty, role),
            };
            let wname = self.fresh("w");
            self.model
                .add_weight(wname, ty, WeightData::Loaded(Arc::new(t)))
        } else {
            let iname = self.fresh("x");
            self.model.add_input(iname, ty)
        };
        if let Some(n) = name {
            self.leaves.insert(n.to_string(), id);
        }
        id
    }

    /// A data tensor suited to be operand 0 of `kind`.
    fn data_type(&mut self, kind: OpKind) -> TensorType {
        let c = self.rng.pick(&[1, 2, 3, 4, 6]);
        let h = self.rng.range(4, 9);
        let w = self.rng.range(4, 9);
        if sample_int::is_int(kind) {
            return sample_int::activation(self.rng, kind, c, h, w);
        }
        match kind {
            OpKind::Family(f) => f.def().sample_operand(c, h, w),
            // A softmax's input is also an image, normalized along any axis (a detector's
            // distribution head normalizes its channels).
            OpKind::Softmax if self.rng.coin() => TensorType::f32(vec![1, c, h, w]),
            OpKind::Gemm | OpKind::Softmax => {
                TensorType::f32(vec![self.rng.range(1, 4), self.rng.range(1, 6)])
            }
            // A matrix, or a batch of them (a transformer's [B, T, K] activations).
            OpKind::MatMul => {
                let mut shape = if self.rng.coin() {
                    vec![self.rng.range(1, 3)]
                } else {
                    vec![]
                };
                shape.extend([self.rng.range(1, 4), self.rng.range(1, 6)]);
                TensorType::f32(shape)
            }
            OpKind::Dequantize => {
                // A dequantize feeding a gemm or matmul carries a matrix.
                let grandparent = self.ctx.len().checked_sub(2).map(|i| self.ctx[i].0);
                let shape = match grandparent {
                    Some(OpKind::Gemm) => vec![self.rng.range(1, 4), self.rng.range(1, 6)],
                    // A matmul's activation may carry up to two batch axes in front.
                    Some(OpKind::MatMul) => {
                        let batch = self.rng.range(0, 3);
                        let mut shape: Vec<usize> =
                            (0..batch).map(|_| self.rng.range(1, 3)).collect();
                        shape.extend([self.rng.range(1, 4), self.rng.range(1, 6)]);
                        shape
                    }
                    _ => vec![1, c, h, w],
                };
                let elem = self.role_quant(&shape);
                TensorType::new(shape, elem)
            }
            OpKind::Flatten
            | OpKind::Reshape
            | OpKind::Squeeze
            | OpKind::Unsqueeze
            | OpKind::Transpose => {
                let dims = [1, c, h, w];
                TensorType::f32(dims[self.rng.range(0, 2)..].to_vec())
            }
            _ => TensorType::f32(vec![1, c, h, w]),
        }
    }

    /// Builds the pattern's operand `p` (slot `slot` of `parent`); `want` is the type it must
    /// have when the parent decided it already.
    fn operand(
        &mut self,
        p: &Pattern,
        parent: OpKind,
        slot: usize,
        want: Option<TensorType>,
    ) -> Result<NodeId, String> {
        let role = parent
            .schema()
            .operands
            .names
            .get(slot)
            .copied()
            .unwrap_or("x");
        match p {
            Pattern::Op(o) => self.op(o, want),
            Pattern::Var(v) if self.leaves.contains_key(&v.name) => {
                // A repeated variable is the value built for its first occurrence.
                let id = self.leaves[&v.name];
                match want {
                    Some(t) if self.model.node(id).ty != t => Err(format!(
                        "`{}` is needed as {t} here but was built as {}",
                        v.name,
                        self.model.node(id).ty
                    )),
                    _ => Ok(id),
                }
            }
            Pattern::Var(v) => {
                let ty = match want {
                    Some(t) => t,
                    None => self.data_type(parent),
                };
                Ok(self.leaf(Some(&v.name), ty, role))
            }
            Pattern::Wildcard(_) => {
                let ty = match want {
                    Some(t) => t,
                    None => self.data_type(parent),
                };
                Ok(self.leaf(None, ty, role))
            }
        }
    }

    fn literal(l: &LiteralKind) -> Option<Attr> {
        match l {
            LiteralKind::Int(i) => Some(Attr::Int(*i)),
            LiteralKind::Float(f) => Some(Attr::Float(*f as f32)),
            LiteralKind::Bool(b) => Some(Attr::Bool(*b)),
            LiteralKind::Str(s) => Some(Attr::Str(s.clone())),
            LiteralKind::List(items) => {
                if items.iter().all(|i| matches!(i.kind, LiteralKind::Int(_))) {
                    Some(Attr::Ints(
                        items
                            .iter()
                            .filter_map(|i| {
                                if let LiteralKind::Int(v) = i.kind {
                                    Some(v)
                                } else {
                                    None
                                }
                            })
                            .collect(),
                    ))
                } else {
                    Some(Attr::Floats(
                        items
                            .iter()
                            .filter_map(|i| match i.kind {
                                LiteralKind::Int(v) => Some(v as f32),
                                LiteralKind::Float(v) => Some(v as f32),
                                _ => None,
                            })
                            .collect(),
                    ))
                }
            }
        }
    }

    /// Attributes for `kind` given operand 0's type, honouring the pattern's literals.
    fn attrs(&mut self, o: &OpPattern, kind: OpKind, x: &TensorType) -> Attrs {
        let mut a = Attrs::new();
        let r = &mut *self.rng;
        let ints = |v: Vec<i64>| Attr::Ints(v);
        let c = x.shape.get(1).copied().unwrap_or(1) as i64;
        // An integer op's geometry is its float analog's.
        let geometry = match kind {
            OpKind::QConv2d | OpKind::QConvTranspose2d | OpKind::QAvgPool => {
                kind.float_analog().unwrap_or(kind)
            }
            k => k,
        };
        match geometry {
            OpKind::QGemm => {
                a.insert("trans_b".into(), Attr::Bool(r.coin()));
            }
            OpKind::Conv2d | OpKind::ConvTranspose2d => {
                let mut divs: Vec<i64> = (1..=c).filter(|g| c % g == 0).collect();
                divs.push(1);
                a.insert("groups".into(), Attr::Int(r.pick(&divs)));
                a.insert(
                    "strides".into(),
                    ints(vec![r.range(1, 2) as i64, r.range(1, 2) as i64]),
                );
                a.insert(
                    "dilations".into(),
                    ints(vec![r.range(1, 2) as i64, r.range(1, 2) as i64]),
                );
                let pads = if r.coin() {
                    vec![0; 4]
                } else {
                    (0..4).map(|_| r.range(0, 1) as i64).collect()
                };
                a.insert("pads".into(), ints(pads));
                if geometry == OpKind::ConvTranspose2d {
                    a.insert("output_padding".into(), ints(vec![0, 0]));
                }
            }
            OpKind::MaxPool | OpKind::AvgPool => {
                let k = r.range(1, 3) as i64;
                a.insert("kernel_shape".into(), ints(vec![k, k]));
                a.insert("strides".into(), ints(vec![r.range(1, 2) as i64; 2]));
                a.insert(
                    "pads".into(),
                    ints(
                        (0..4)
                            .map(|_| r.range(0, (k - 1) as usize) as i64)
                            .collect(),
                    ),
                );
                a.insert("ceil_mode".into(), Attr::Bool(r.coin()));
                if geometry == OpKind::AvgPool {
                    a.insert("count_include_pad".into(), Attr::Bool(r.coin()));
                }
            }
            OpKind::Resize => {
                let mode = r.pick(runtime::ops::ResizeMode::NAMES);
                let coord = r.pick(runtime::ops::CoordMode::NAMES);
                let nearest = r.pick(runtime::ops::NearestMode::NAMES);
                let scales = [0.5f32, 1.0, 1.5, 2.0, 3.0];
                let s = [r.pick(&scales), r.pick(&scales)];
                let size = [0, 1].map(|i| {
                    let len = x.shape.get(2 + i).copied().unwrap_or(1) as f32;
                    ((len * s[i]).floor() as i64).max(1)
                });
                a.insert("mode".into(), Attr::Str(mode.into()));
                a.insert(
                    "coordinate_transformation_mode".into(),
                    Attr::Str(coord.into()),
                );
                a.insert("nearest_mode".into(), Attr::Str(nearest.into()));
                a.insert("scales".into(), Attr::Floats(s.to_vec()));
                a.insert("size".into(), ints(size.to_vec()));
            }
            OpKind::BatchNorm => {
                a.insert("epsilon".into(), Attr::Float(r.pick(&[1e-5, 1e-3, 0.1])));
            }
            OpKind::Clip => {
                a.insert("min".into(), Attr::Float(r.pick(&[0.0, -1.0])));
                a.insert("max".into(), Attr::Float(r.pick(&[6.0, 1.0])));
            }
            OpKind::LeakyRelu => {
                a.insert("alpha".into(), Attr::Float(r.pick(&[0.0, 0.1])));
            }
            OpKind::Unary => {
                let fns = runtime::ops::UNARY_FNS;
                let d = &fns[r.range(0, fns.len() - 1)];
                a.insert("fn".into(), Attr::Str(d.name.into()));
                a.insert(
                    "params".into(),
                    Attr::Floats(d.params.iter().map(|p| p.1).collect()),
                );
            }
            OpKind::Reshape => {
                let n = x.numel() as i64;
                a.insert(
                    "shape".into(),
                    ints(if r.coin() {
                        x.shape.iter().map(|&d| d as i64).collect()
                    } else {
                        vec![1, n]
                    }),
                );
            }
            OpKind::Flatten => {
                a.insert("axis".into(), Attr::Int(r.range(0, x.rank()) as i64));
            }
            OpKind::Squeeze => {
                let ones: Vec<i64> = (0..x.rank())
                    .filter(|&i| x.shape[i] == 1)
                    .map(|i| i as i64)
                    .collect();
                let axes = if ones.is_empty() || r.coin() {
                    ones
                } else {
                    vec![r.pick(&ones)]
                };
                a.insert("axes".into(), ints(axes));
            }
            OpKind::Unsqueeze => {
                a.insert(
                    "axes".into(),
                    ints(vec![if r.coin() { 0 } else { x.rank() as i64 }]),
                );
            }
            OpKind::Transpose => {
                let mut p: Vec<i64> = (0..x.rank() as i64).collect();
                if r.coin() {
                    for i in (1..p.len()).rev() {
                        let j = r.range(0, i);
                        p.swap(i, j);
                    }
                }
                a.insert("perm".into(), ints(p));
            }
            OpKind::Slice => {
                // Every axis, with a random start and a step of either sign that keeps at least
                // one element (the end clamps to -1 as import normalizes it).
                let (mut starts, mut ends, mut steps) = (vec![], vec![], vec![]);
                for &d in &x.shape {
                    let step = r.pick(&[-2i64, -1, 1, 2, 3]);
                    let start = r.range(0, d - 1) as i64;
                    let n = r.range(1, d) as i64;
                    starts.push(start);
                    ends.push((start + step * n).clamp(-1, d as i64));
                    steps.push(step);
                }
                a.insert("axes".into(), ints((0..x.rank() as i64).collect()));
                a.insert("starts".into(), ints(starts));
                a.insert("ends".into(), ints(ends));
                a.insert("steps".into(), ints(steps));
            }
            OpKind::Concat => {
                a.insert("axis".into(), Attr::Int((x.rank() as i64 - 1).max(0)));
            }
            OpKind::Gather => {
                a.insert(
                    "axis".into(),
                    Attr::Int(r.range(0, x.rank().max(1) - 1) as i64),
                );
            }
            OpKind::Softmax => {
                let axis = r.range(0, x.rank().saturating_sub(1)) as i64;
                a.insert("axis".into(), Attr::Int(axis));
            }
            OpKind::Pad => {
                let rank = x.rank();
                let mut p = vec![0i64; 2 * rank];
                for d in rank.saturating_sub(2)..rank {
                    p[d] = r.range(0, 2) as i64;
                    p[d + rank] = r.range(0, 2) as i64;
                }
                a.insert("pads".into(), ints(p));
                a.insert(
                    "value".into(),
                    Attr::Float(if r.range(0, 2) > 0 { 0.0 } else { 0.5 }),
                );
                if rank >= 2 && r.range(0, 2) == 0 {
                    let c = x.shape[1];
                    a.insert(
                        "channel_values".into(),
                        Attr::Floats((0..c).map(|_| r.unit()).collect()),
                    );
                }
            }
            OpKind::ReduceMean | OpKind::Reduce => {
                a.insert("axes".into(), ints(vec![(x.rank() as i64 - 1).max(0)]));
            }
            OpKind::Gemm => {
                a.insert("trans_b".into(), Attr::Bool(r.coin()));
                a.insert("alpha".into(), Attr::Float(r.pick(&[1.0, 1.0, 0.5])));
                a.insert("beta".into(), Attr::Float(r.pick(&[1.0, 1.0, 0.5])));
            }
            _ => {}
        }
        if let Some(ap) = &o.attrs {
            for e in &ap.entries {
                match &e.value {
                    AttrPatternValue::Literal(l) => {
                        if let Some(v) = Self::literal(&l.kind) {
                            let kind = kind.schema().attr(&e.name.name).map(|s| s.kind);
                            let v = match kind {
                                Some(k) => v.coerce(k).unwrap_or_else(|v| v),
                                None => v,
                            };
                            a.insert(e.name.name.clone(), v);
                        }
                    }
                    AttrPatternValue::Absent(_) => {
                        a.remove(&e.name.name);
                    }
                    // An integer op's quantization attributes come with its result type.
                    _ if !a.contains_key(&e.name.name) && !sample_int::is_int(kind) => {
                        // A bound optional attribute (bn_gamma, …) must exist: one value per channel.
                        if let Some(spec) = kind.schema().attr(&e.name.name) {
                            let v = match spec.kind {
                                crate::ir::attr::AttrKind::Floats => {
                                    Attr::Floats((0..c).map(|_| self.rng.unit()).collect())
                                }
                                crate::ir::attr::AttrKind::Float => Attr::Float(self.rng.unit()),
                                crate::ir::attr::AttrKind::Int => Attr::Int(1),
                                crate::ir::attr::AttrKind::Bool => Attr::Bool(false),
                                _ => continue,
                            };
                            a.insert(e.name.name.clone(), v);
                        }
                    }
                    _ => {}
                }
            }
            // A function the pattern names takes its own default parameters, unless the
            // pattern gives them (the sampled function's would not fit it).
            let given = |n: &str| ap.entries.iter().any(|e| e.name.name == n);
            if kind == OpKind::Unary && given("fn") && !given("params") {
                let named = a
                    .get("fn")
                    .and_then(|f| f.as_str())
                    .and_then(|f| runtime::ops::UNARY_FNS.iter().find(|d| d.name == f));
                if let Some(d) = named {
                    a.insert(
                        "params".into(),
                        Attr::Floats(d.params.iter().map(|p| p.1).collect()),
                    );
                }
            }
        }
        a
    }

    /// The type of operand `slot` of `kind`, given operand 0 and the attributes.
    fn slot_type(
        &mut self,
        kind: OpKind,
        slot: usize,
        x: &TensorType,
        attrs: &Attrs,
        prev: &[TensorType],
    ) -> Result<TensorType, String> {
        if sample_int::is_int(kind) {
            return sample_int::slot_type(self.rng, kind, slot, x, attrs, prev)
                .ok_or_else(|| format!("cannot sample operand {slot} of {}", kind.name()));
        }
        let int = |n: &str| attrs.get(n).and_then(|a| a.as_int()).unwrap_or(1) as usize;
        let c = x.shape.get(1).copied().unwrap_or(1);
        let k = self.rng.pick(&[1, 3]);
        Ok(match (kind, slot) {
            (OpKind::Conv2d, 1) => {
                let g = int("groups");
                TensorType::f32(vec![g * self.rng.range(1, 3), c / g.max(1), k, k])
            }
            (OpKind::Conv2d, 2) => TensorType::f32(vec![prev[1].shape[0]]),
            (OpKind::ConvTranspose2d, 1) => TensorType::f32(vec![c, self.rng.range(1, 3), k, k]),
            (OpKind::ConvTranspose2d, 2) => TensorType::f32(vec![prev[1].shape[1] * int("groups")]),
            (OpKind::BatchNorm, _) => TensorType::f32(vec![c]),
            (OpKind::Gemm, 1) => {
                let trans_a = attrs
                    .get("trans_a")
                    .and_then(|a| a.as_bool())
                    .unwrap_or(false);
                let kk = x.shape[usize::from(!trans_a)];
                let n = self.rng.range(1, 5);
                let tb = attrs
                    .get("trans_b")
                    .and_then(|a| a.as_bool())
                    .unwrap_or(false);
                TensorType::f32(if tb { vec![n, kk] } else { vec![kk, n] })
            }
            (OpKind::Gemm, 2) => {
                let tb = attrs
                    .get("trans_b")
                    .and_then(|a| a.as_bool())
                    .unwrap_or(false);
                TensorType::f32(vec![if tb {
                    prev[1].shape[0]
                } else {
                    prev[1].shape[1]
                }])
            }
            // [K, N], or with a's batch axes in front (a batch of matrices, as attention's).
            (OpKind::MatMul, 1) => {
                let r = x.rank();
                let mut shape = if r > 2 && self.rng.coin() {
                    x.shape[..r - 2].to_vec()
                } else {
                    vec![]
                };
                shape.extend([*x.shape.last().unwrap_or(&1), self.rng.range(1, 5)]);
                TensorType::f32(shape)
            }
            (k, 1) if broadcasting(k) => {
                // Same shape, per channel as [1, C, 1, 1] or as exporters store it, [C, 1, 1],
                // one value per element of the last axis, one per row (the last axis kept as a
                // 1), or a scalar.
                match self.rng.range(0, 5) {
                    0 => TensorType::f32(x.shape.clone()),
                    // One value per element of the last axis (a LayerNorm's scale and offset).
                    4 if x.rank() >= 1 => TensorType::f32(vec![*x.shape.last().expect("rank ≥ 1")]),
                    // One value per row: a statistic over the last axis kept as a 1 (a
                    // decomposed normalization's mean and deviation).
                    3 if x.rank() >= 1 => {
                        let mut shape = x.shape.clone();
                        *shape.last_mut().expect("rank ≥ 1") = 1;
                        TensorType::f32(shape)
                    }
                    1 if x.rank() == 4 => TensorType::f32(vec![1, c, 1, 1]),
                    2 if x.rank() == 4 => TensorType::f32(vec![c, 1, 1]),
                    // A row of one value per column (a linear layer's bias after a matmul).
                    1 if x.rank() == 2 || x.rank() == 3 => {
                        TensorType::f32(vec![*x.shape.last().expect("rank ≥ 2")])
                    }
                    _ => TensorType::f32(vec![]),
                }
            }
            (OpKind::Concat, _) => x.clone(),
            // Up to a few more indices than the axis holds (repeats, as Pad's modes make).
            (OpKind::Gather, 1) => {
                let len = x.shape.get(int("axis")).copied().unwrap_or(1);
                self.index_bound = len;
                TensorType::new(vec![self.rng.range(1, len + 3)], ElemType::I32)
            }
            _ => return Err(format!("cannot sample operand {slot} of {}", kind.name())),
        })
    }

    /// The quantized type behind a built operand: its own, or its dequantize input's.
    fn quant_behind(&self, id: NodeId) -> Option<QuantType> {
        let n = self.model.node(id);
        if let Some(q) = n.ty.elem.quant() {
            return Some(q.clone());
        }
        match n.op().map(|o| o.kind) {
            Some(OpKind::Dequantize) => self
                .model
                .operands(id)
                .first()
                .and_then(|&i| self.model.node(i).ty.elem.quant().cloned()),
            _ => None,
        }
    }

    /// Builds every operand of `o` (operand 0 first, then the attributes, then the rest).
    fn operands_of(
        &mut self,
        o: &OpPattern,
        kind: OpKind,
        want0: Option<TensorType>,
    ) -> Result<(Vec<NodeId>, Vec<TensorType>, Attrs), String> {
        // A commutative op written constant-first, `add(t, conv(…))`: the op operand decides
        // the shapes, so it is built first and the leaf gets a type its result allows (the
        // other order would ask the conv for a result of the leaf's shape, which it cannot be).
        if matches!(kind, OpKind::Add | OpKind::Mul | OpKind::Max | OpKind::Min)
            && o.operands.len() == 2
            && !matches!(o.operands[0], Pattern::Op(_))
            && matches!(o.operands[1], Pattern::Op(_))
        {
            let y_id = self.operand(&o.operands[1], kind, 0, want0)?;
            let y_ty = self.model.node(y_id).ty.clone();
            let attrs = self.attrs(o, kind, &y_ty);
            // A variable the op already read (x · f(x)) is that value, whatever its shape.
            let t_want = if self.reads_built(&o.operands[0]) {
                None
            } else {
                Some(self.slot_type(kind, 1, &y_ty, &attrs, std::slice::from_ref(&y_ty))?)
            };
            let t_id = self.operand(&o.operands[0], kind, 1, t_want)?;
            let t_ty = self.model.node(t_id).ty.clone();
            let (qt, qy) = (self.quant_behind(t_id), self.quant_behind(y_id));
            if let Some(c) = self.ctx.last_mut() {
                c.1 = attrs.clone();
                c.2.extend([qt, qy]);
            }
            return Ok((vec![t_id, y_id], vec![t_ty, y_ty], attrs));
        }
        let x_id = self.operand(&o.operands[0], kind, 0, want0)?;
        let x_ty = self.model.node(x_id).ty.clone();
        let attrs = self.attrs(o, kind, &x_ty);
        let q = self.quant_behind(x_id);
        if let Some(c) = self.ctx.last_mut() {
            c.1 = attrs.clone();
            c.2.push(q);
        }
        let mut ids = vec![x_id];
        let mut tys = vec![x_ty.clone()];
        for (slot, p) in o.operands.iter().enumerate().skip(1) {
            // An element-wise op's operand that is a value already built, or an op over one
            // (x · x, x · f(x), x − mean(x)), takes the shape that value gives it: a sampled
            // broadcast shape would ask the repeated value for another shape than its own.
            let own = broadcasting(kind) && self.reads_built(p);
            let want = if own {
                None
            } else {
                Some(self.slot_type(kind, slot, &x_ty, &attrs, &tys)?)
            };
            self.mean_factor = (kind == OpKind::Mul && matches!(p, Pattern::Var(_)))
                .then(|| self.summed_count(x_id))
                .flatten()
                .map(|n| 1.0 / n as f32);
            let id = self.operand(p, kind, slot, want);
            self.mean_factor = None;
            let id = id?;
            tys.push(self.model.node(id).ty.clone());
            let q = self.quant_behind(id);
            if let Some(c) = self.ctx.last_mut() {
                c.2.push(q);
            }
            ids.push(id);
        }
        Ok((ids, tys, attrs))
    }

    /// How many elements each result of `id` sums, when `id` is a `reduce` by sum.
    fn summed_count(&self, id: NodeId) -> Option<usize> {
        let op = self.model.node(id).op()?;
        if op.kind != OpKind::Reduce || op.attrs.get("fn").and_then(|a| a.as_str()) != Some("sum") {
            return None;
        }
        let input = &self.model.node(self.model.operands(id)[0]).ty.shape;
        let axes = op.attrs.get("axes")?.as_ints()?;
        Some(
            axes.iter()
                .map(|&a| input.get(a as usize).copied().unwrap_or(1))
                .product(),
        )
    }

    /// Whether the pattern reads a variable built already (a non-linear pattern's repeat).
    fn reads_built(&self, p: &Pattern) -> bool {
        match p {
            Pattern::Var(v) => self.leaves.contains_key(&v.name),
            Pattern::Op(o) => o.operands.iter().any(|q| self.reads_built(q)),
            Pattern::Wildcard(_) => false,
        }
    }

    /// The shape a reshape of `id` gets when `id` is (through element-wise ops) a reduction
    /// that dropped its axes: those axes put back as 1s, as exporters restore a statistic's
    /// rank before broadcasting it (jax2tf's LayerNorm).
    fn kept_dims(&self, id: NodeId) -> Option<Vec<i64>> {
        let mut at = id;
        // A statistic is a few element-wise steps from its reduction (jax2tf's variance is
        // four); a longer walk finds nothing a pattern would ask for.
        for _ in 0..6 {
            let node = self.model.node(at);
            let op = node.op()?;
            match op.kind {
                OpKind::Reduce | OpKind::ReduceMean => {
                    if op.attrs.get("keepdims").and_then(|a| a.as_bool()) != Some(false) {
                        return None;
                    }
                    let axes = op.attrs.get("axes")?.as_ints()?.to_vec();
                    let input = &self.model.node(self.model.operands(at)[0]).ty.shape;
                    return Some(
                        (0..input.len())
                            .map(|d| {
                                if axes.contains(&(d as i64)) {
                                    1
                                } else {
                                    input[d] as i64
                                }
                            })
                            .collect(),
                    );
                }
                k if broadcasting(k) || k == OpKind::Unary => {
                    // The operand of the result's shape that is not a constant leaf.
                    let shape = &node.ty.shape;
                    at = *self.model.operands(at).iter().find(|&&i| {
                        self.model.node(i).op().is_some() && &self.model.node(i).ty.shape == shape
                    })?;
                }
                _ => return None,
            }
        }
        None
    }

    /// Builds an op of the pattern and returns its node.
    pub fn op(&mut self, o: &OpPattern, want: Option<TensorType>) -> Result<NodeId, String> {
        let kind =
            OpKind::from_name(&o.op.name).ok_or_else(|| format!("unknown op `{}`", o.op.name))?;
        // Shape-preserving ops pass a wanted type down to their data operand.
        let passes = matches!(
            kind,
            OpKind::Relu
                | OpKind::Clip
                | OpKind::LeakyRelu
                | OpKind::Sigmoid
                | OpKind::HardSigmoid
                | OpKind::HardSwish
                | OpKind::Unary
                | OpKind::BatchNorm
                | OpKind::Add
                | OpKind::Sub
                | OpKind::Mul
                | OpKind::Div
        );
        if o.name
            .as_ref()
            .is_some_and(|n| self.leaves.contains_key(&n.name))
        {
            return Err(format!(
                "`{}` names an op after it was used as an operand: write the op first",
                o.name.as_ref().map(|n| n.name.as_str()).unwrap_or("")
            ));
        }
        let want0 = match (&want, kind) {
            (Some(t), _) if passes => Some(t.clone()),
            (Some(t), OpKind::Quantize) => Some(TensorType::f32(t.shape.clone())),
            (Some(t), OpKind::Dequantize) => {
                Some(TensorType::new(t.shape.clone(), self.role_quant(&t.shape)))
            }
            // A mean over the last axis, kept as a 1: the operand is as wide as a value bound
            // earlier with the same leading axes (the x a decomposed normalization centres,
            // which the pattern repeats), or a fresh input's width.
            (Some(t), OpKind::ReduceMean) if t.shape.last() == Some(&1) => {
                let lead = &t.shape[..t.rank() - 1];
                // The latest such value (the leaves are a hash map: the id orders them).
                let bound = self
                    .leaves
                    .values()
                    .filter(|&&id| {
                        let s = &self.model.node(id).ty.shape;
                        s.len() == t.rank() && &s[..s.len() - 1] == lead
                    })
                    .max()
                    .map(|&id| *self.model.node(id).ty.shape.last().expect("rank ≥ 1"));
                let mut shape = t.shape.clone();
                *shape.last_mut().expect("rank ≥ 1") =
                    bound.unwrap_or_else(|| self.rng.range(4, 9));
                Some(TensorType::f32(shape))
            }
            (Some(t), OpKind::Requantize | OpKind::Lut) => {
                let storage = if self.rng.coin() {
                    DType::U8
                } else {
                    DType::I8
                };
                Some(TensorType::new(
                    t.shape.clone(),
                    sample_int::per_tensor(self.rng, storage),
                ))
            }
            (Some(t), _) => {
                return Err(format!("cannot make {} produce a wanted {t}", kind.name()))
            }
            (None, _) => None,
        };
        let first = o.operands.first().ok_or("an op pattern without operands")?;
        self.ctx.push((kind, Attrs::new(), vec![]));
        let built = self.operands_of(o, kind, want0);
        self.ctx.pop();
        let (ids, tys, mut attrs) = built?;
        if kind == OpKind::Reshape && want.is_none() && self.rng.range(0, 4) > 0 {
            if let Some(shape) = self.kept_dims(ids[0]) {
                attrs.insert("shape".into(), Attr::Ints(shape));
            }
        }
        let _ = first;
        let x_ty = tys[0].clone();
        let declared = if sample_int::is_int(kind) {
            let wanted = want.as_ref().map(|t| t.elem.clone());
            Some(sample_int::result(
                self.rng, kind, &mut attrs, &tys, wanted,
            )?)
        } else {
            None
        };
        let op = Op::new(kind, attrs);
        let ty = match (declared, kind) {
            (Some(t), _) => t,
            (None, OpKind::Quantize) => TensorType::new(x_ty.shape.clone(), self.quant_elem()),
            (None, OpKind::Dequantize) => TensorType::f32(x_ty.shape.clone()),
            (None, _) => {
                let refs: Vec<&TensorType> = tys.iter().collect();
                crate::ir::infer::infer(&op, &refs)?
            }
        };
        let name = match &o.name {
            Some(n) => n.name.clone(),
            None => self.fresh(kind.name()),
        };
        let id = self.model.add_op(name.clone(), op, &ids, ty);
        if let Some(n) = &o.name {
            self.leaves.insert(n.name.clone(), id);
        }
        Ok(id)
    }
}
