//! LSTM, GRU and RNN (opsets 1–22) unrolled over the sequence, whose length import has fixed:
//! one `gemm` projects every step's input at once, then each step of each direction is a `gemm`
//! by the recurrent weights, gate slices, activations and the cell's elementwise update. Each
//! step is then calibrated and quantized like any layer (its own ranges), so the recurrence needs
//! no op, interpreter or kernel of its own. ONNX's gate orders: LSTM i, o, f, c; GRU z, r, h.

use super::attrs;
use crate::diag::Result;
use crate::import::constant::Const;
use crate::import::context::{Importer, Val};
use crate::import::node::OnnxNode;
use crate::ir::{Attr, ElemType, NodeId, OpKind};
use ndarray::{ArrayD, Axis};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Cell {
    Lstm,
    Gru,
    Rnn,
}

impl Cell {
    fn gates(self) -> usize {
        match self {
            Cell::Lstm => 4,
            Cell::Gru => 3,
            Cell::Rnn => 1,
        }
    }
    /// ONNX's default activations, per direction: f, g, h (LSTM), f, g (GRU), f (RNN).
    fn default_activations(self) -> &'static [&'static str] {
        match self {
            Cell::Lstm => &["Sigmoid", "Tanh", "Tanh"],
            Cell::Gru => &["Sigmoid", "Tanh"],
            Cell::Rnn => &["Tanh"],
        }
    }
}

#[derive(Clone, Copy)]
enum Act {
    Sigmoid,
    Tanh,
    Relu,
}

/// One direction's recurrent weights in the graph, made once and shared by every step: `r`
/// [G·H, H] whole (LSTM, RNN), or GRU's z/r rows, h rows and h bias.
struct Recurrent {
    r: NodeId,
    r_h: Option<NodeId>,
    rb_h: Option<NodeId>,
    /// LSTM's peephole vectors for i, o, f.
    peep: Option<[NodeId; 3]>,
}

/// A step's hidden state and (LSTM) cell state; `None` before the first step stands for zero.
type State = (Option<NodeId>, Option<NodeId>);

/// Emits the unrolled cell and binds its outputs.
struct Unroll<'n, 'a> {
    n: &'n OnnxNode<'a>,
    out: String,
    cell: Cell,
    hidden: usize,
    batch: usize,
    clip: Option<f32>,
}

impl Unroll<'_, '_> {
    fn op(
        &self,
        cx: &mut Importer,
        name: &str,
        kind: OpKind,
        a: crate::ir::Attrs,
        operands: &[NodeId],
    ) -> Result<NodeId> {
        cx.emit(self.n, &format!("{}.{name}", self.out), kind, a, operands)
    }

    fn constant(&self, cx: &mut Importer, name: &str, a: ArrayD<f32>) -> Result<NodeId> {
        cx.weight(
            &format!("{}.{name}", self.out),
            &Const::F32(a),
            ElemType::F32,
        )
        .map_err(|m| self.n.fail(m))
    }

    fn slice(
        &self,
        cx: &mut Importer,
        name: &str,
        x: NodeId,
        axis: i64,
        range: (usize, usize),
    ) -> Result<NodeId> {
        let a = attrs([
            ("axes", Attr::Ints(vec![axis])),
            ("starts", Attr::Ints(vec![range.0 as i64])),
            ("ends", Attr::Ints(vec![range.1 as i64])),
            ("steps", Attr::Ints(vec![1])),
        ]);
        self.op(cx, name, OpKind::Slice, a, &[x])
    }

    fn binary(
        &self,
        cx: &mut Importer,
        name: &str,
        kind: OpKind,
        a: NodeId,
        b: NodeId,
    ) -> Result<NodeId> {
        self.op(cx, name, kind, attrs([]), &[a, b])
    }

    /// `x·wᵀ (+ bias)`, the weight and bias already in the graph.
    fn linear(
        &self,
        cx: &mut Importer,
        name: &str,
        x: NodeId,
        w: NodeId,
        bias: Option<NodeId>,
    ) -> Result<NodeId> {
        let mut ops = vec![x, w];
        ops.extend(bias);
        let a = attrs([
            ("alpha", Attr::Float(1.0)),
            ("beta", Attr::Float(1.0)),
            ("trans_a", Attr::Bool(false)),
            ("trans_b", Attr::Bool(true)),
        ]);
        self.op(cx, name, OpKind::Gemm, a, &ops)
    }

    fn act(&self, cx: &mut Importer, name: &str, f: Act, x: NodeId) -> Result<NodeId> {
        match f {
            Act::Sigmoid => self.op(cx, name, OpKind::Sigmoid, attrs([]), &[x]),
            Act::Relu => self.op(cx, name, OpKind::Relu, attrs([]), &[x]),
            Act::Tanh => self.op(
                cx,
                name,
                OpKind::Unary,
                attrs([("fn", Attr::Str("tanh".into()))]),
                &[x],
            ),
        }
    }

    fn clipped(&self, cx: &mut Importer, name: &str, x: NodeId) -> Result<NodeId> {
        match self.clip {
            None => Ok(x),
            Some(c) => {
                let a = attrs([("min", Attr::Float(-c)), ("max", Attr::Float(c))]);
                self.op(cx, name, OpKind::Clip, a, &[x])
            }
        }
    }

    fn reshape(&self, cx: &mut Importer, name: &str, x: NodeId, shape: &[usize]) -> Result<NodeId> {
        let shape = shape.iter().map(|&d| d as i64).collect();
        self.op(
            cx,
            name,
            OpKind::Reshape,
            attrs([("shape", Attr::Ints(shape))]),
            &[x],
        )
    }

    /// `parts` joined along `axis`, or the one part itself.
    fn concat(&self, cx: &mut Importer, name: &str, parts: &[NodeId], axis: i64) -> Result<NodeId> {
        match parts {
            [one] => Ok(*one),
            _ => self.op(
                cx,
                name,
                OpKind::Concat,
                attrs([("axis", Attr::Int(axis))]),
                parts,
            ),
        }
    }

    /// `1 − z`, written `(−1·z) + 1` (the same f32 result) so that both halves are a scalar
    /// factor and a scalar term, which lower to one lookup table.
    fn one_minus(&self, cx: &mut Importer, name: &str, z: NodeId) -> Result<NodeId> {
        let minus = self.constant(cx, "minus_one", ArrayD::from_elem(vec![], -1.0))?;
        let one = self.constant(cx, "one", ArrayD::from_elem(vec![], 1.0))?;
        let neg = self.binary(cx, &format!("{name}_neg"), OpKind::Mul, z, minus)?;
        self.binary(cx, name, OpKind::Add, neg, one)
    }

    /// `x + h·Rᵀ` (just `x` before the first step, where `h` is zero), clipped when the cell
    /// clips; `names` are the gemm's, the sum's and the clip's.
    fn with_recurrence(
        &self,
        cx: &mut Importer,
        x: NodeId,
        h_prev: Option<NodeId>,
        r: NodeId,
        names: [String; 3],
    ) -> Result<NodeId> {
        let [rec, sum, clip] = names;
        let pre = match h_prev {
            Some(hp) => {
                let rec = self.linear(cx, &rec, hp, r, None)?;
                self.binary(cx, &sum, OpKind::Add, x, rec)?
            }
            None => x,
        };
        self.clipped(cx, &clip, pre)
    }

    /// One step of one direction: the new hidden state and (LSTM) cell state.
    fn step(
        &self,
        cx: &mut Importer,
        tag: &str,
        xw: NodeId,
        wt: &Recurrent,
        acts: &[Act],
        (h_prev, c_prev): State,
    ) -> Result<(NodeId, Option<NodeId>)> {
        let h = self.hidden;
        match self.cell {
            Cell::Lstm => {
                let names = ["rec", "gates", "clip"].map(|n| format!("{tag}.{n}"));
                let pre = self.with_recurrence(cx, xw, h_prev, wt.r, names)?;
                // Gate g's pre-activation, plus its peephole term p ⊙ c when there is one.
                let gate = |cx: &mut Importer,
                            g: usize,
                            name: &str,
                            f: Act,
                            peep: Option<(NodeId, NodeId)>| {
                    let mut x = self.slice(
                        cx,
                        &format!("{tag}.{name}_in"),
                        pre,
                        1,
                        (g * h, (g + 1) * h),
                    )?;
                    if let Some((p, c)) = peep {
                        let pc =
                            self.binary(cx, &format!("{tag}.{name}_peep"), OpKind::Mul, c, p)?;
                        x = self.binary(cx, &format!("{tag}.{name}_pre"), OpKind::Add, x, pc)?;
                    }
                    self.act(cx, &format!("{tag}.{name}"), f, x)
                };
                let on_prev = |k: usize| Some((wt.peep?[k], c_prev?));
                let i = gate(cx, 0, "i", acts[0], on_prev(0))?;
                let f = gate(cx, 2, "f", acts[0], on_prev(2))?;
                let cand = gate(cx, 3, "c_cand", acts[1], None)?;
                let new = self.binary(cx, &format!("{tag}.i_c"), OpKind::Mul, i, cand)?;
                let c = match c_prev {
                    Some(cp) => {
                        let kept = self.binary(cx, &format!("{tag}.f_c"), OpKind::Mul, f, cp)?;
                        self.binary(cx, &format!("{tag}.c"), OpKind::Add, kept, new)?
                    }
                    None => new,
                };
                let o = gate(cx, 1, "o", acts[0], wt.peep.map(|p| (p[1], c)))?;
                let hc = self.act(cx, &format!("{tag}.c_act"), acts[2], c)?;
                let hn = self.binary(cx, &format!("{tag}.h"), OpKind::Mul, o, hc)?;
                Ok((hn, Some(c)))
            }
            Cell::Gru => {
                let zr_in = self.slice(cx, &format!("{tag}.zr_x"), xw, 1, (0, 2 * h))?;
                let names = ["zr_rec", "zr_pre", "zr_clip"].map(|n| format!("{tag}.{n}"));
                let zr = self.with_recurrence(cx, zr_in, h_prev, wt.r, names)?;
                let z_in = self.slice(cx, &format!("{tag}.z_in"), zr, 1, (0, h))?;
                let z = self.act(cx, &format!("{tag}.z"), acts[0], z_in)?;
                let r_in = self.slice(cx, &format!("{tag}.r_in"), zr, 1, (h, 2 * h))?;
                let r = self.act(cx, &format!("{tag}.r"), acts[0], r_in)?;
                let xh = self.slice(cx, &format!("{tag}.h_x"), xw, 1, (2 * h, 3 * h))?;
                let r_h = wt.r_h.expect("GRU weights");
                let rec = match (h_prev, wt.rb_h) {
                    (Some(hp), None) => {
                        let rh = self.binary(cx, &format!("{tag}.r_h"), OpKind::Mul, r, hp)?;
                        Some(self.linear(cx, &format!("{tag}.h_rec"), rh, r_h, None)?)
                    }
                    (Some(hp), Some(b)) => {
                        let lin = self.linear(cx, &format!("{tag}.h_rec"), hp, r_h, Some(b))?;
                        Some(self.binary(cx, &format!("{tag}.r_rec"), OpKind::Mul, r, lin)?)
                    }
                    (None, Some(b)) => {
                        Some(self.binary(cx, &format!("{tag}.r_rec"), OpKind::Mul, r, b)?)
                    }
                    (None, None) => None,
                };
                let pre = match rec {
                    Some(rec) => self.binary(cx, &format!("{tag}.h_pre"), OpKind::Add, xh, rec)?,
                    None => xh,
                };
                let pre = self.clipped(cx, &format!("{tag}.h_clip"), pre)?;
                let cand = self.act(cx, &format!("{tag}.h_cand"), acts[1], pre)?;
                let keep = self.one_minus(cx, &format!("{tag}.one_minus_z"), z)?;
                let new = self.binary(cx, &format!("{tag}.z_cand"), OpKind::Mul, keep, cand)?;
                let hn = match h_prev {
                    Some(hp) => {
                        let old = self.binary(cx, &format!("{tag}.z_h"), OpKind::Mul, z, hp)?;
                        self.binary(cx, &format!("{tag}.h"), OpKind::Add, new, old)?
                    }
                    None => new,
                };
                Ok((hn, None))
            }
            Cell::Rnn => {
                let names = ["rec", "pre", "clip"].map(|n| format!("{tag}.{n}"));
                let pre = self.with_recurrence(cx, xw, h_prev, wt.r, names)?;
                Ok((self.act(cx, &format!("{tag}.h"), acts[0], pre)?, None))
            }
        }
    }
}

fn activation(n: &OnnxNode, name: &str) -> Result<Act> {
    match name.to_ascii_lowercase().as_str() {
        "sigmoid" => Ok(Act::Sigmoid),
        "tanh" => Ok(Act::Tanh),
        "relu" => Ok(Act::Relu),
        _ => Err(n.fail(format!(
            "uses the activation `{name}`; qcc unrolls recurrent cells with Sigmoid, Tanh and Relu"
        ))),
    }
}

/// A weight as import holds it: a constant (sliced and added here, so the graph gets folded
/// weights) or a graph value (sliced and added by ops).
#[derive(Clone)]
enum Part {
    Const(ArrayD<f32>),
    Node(NodeId),
}

impl Part {
    /// Input `i` of shape `want`: absent is `None`.
    fn input(
        cx: &mut Importer,
        n: &OnnxNode,
        i: usize,
        what: &str,
        want: &[usize],
    ) -> Result<Option<Part>> {
        let part = match cx.input(n, i)? {
            None => return Ok(None),
            Some(Val::Const(c)) => match c.as_ref() {
                Const::F32(a) => Part::Const(a.clone()),
                other => {
                    return Err(n.fail(format!("has {what} of type {}, not f32", other.ty().name())))
                }
            },
            Some(_) => Part::Node(cx.operand(n, i, what)?),
        };
        let shape = match &part {
            Part::Const(a) => a.shape().to_vec(),
            Part::Node(id) => cx.ty(*id).shape.clone(),
        };
        if shape != want {
            return Err(n.fail(format!("has {what} of shape {shape:?}; expected {want:?}")));
        }
        Ok(Some(part))
    }

    /// Rows `range` of axis `axis`, then reshaped to `shape`.
    fn take(
        &self,
        cx: &mut Importer,
        u: &Unroll,
        name: &str,
        axis: usize,
        range: (usize, usize),
        shape: &[usize],
    ) -> Result<Part> {
        Ok(match self {
            Part::Const(a) => Part::Const(
                a.slice_axis(Axis(axis), (range.0..range.1).into())
                    .to_owned()
                    .into_shape_with_order(shape.to_vec())
                    .expect("the slice has the shape's elements"),
            ),
            Part::Node(id) => {
                let sl = u.slice(cx, &format!("{name}_rows"), *id, axis as i64, range)?;
                Part::Node(u.reshape(cx, name, sl, shape)?)
            }
        })
    }

    fn add(&self, cx: &mut Importer, u: &Unroll, name: &str, other: &Part) -> Result<Part> {
        Ok(match (self, other) {
            (Part::Const(a), Part::Const(b)) => Part::Const(a + b),
            _ => {
                let (a, b) = (
                    self.node(cx, u, &format!("{name}_a"))?,
                    other.node(cx, u, &format!("{name}_b"))?,
                );
                Part::Node(u.binary(cx, name, OpKind::Add, a, b)?)
            }
        })
    }

    fn concat(cx: &mut Importer, u: &Unroll, name: &str, parts: &[Part]) -> Result<Part> {
        if let Some(arrays) = parts
            .iter()
            .map(|p| match p {
                Part::Const(a) => Some(a.view()),
                Part::Node(_) => None,
            })
            .collect::<Option<Vec<_>>>()
        {
            return Ok(Part::Const(
                ndarray::concatenate(Axis(0), &arrays).expect("same trailing shape"),
            ));
        }
        let nodes = parts
            .iter()
            .enumerate()
            .map(|(i, p)| p.node(cx, u, &format!("{name}_{i}")))
            .collect::<Result<Vec<_>>>()?;
        Ok(Part::Node(u.concat(cx, name, &nodes, 0)?))
    }

    /// The value in the graph: a constant becomes a weight named `name`.
    fn node(&self, cx: &mut Importer, u: &Unroll, name: &str) -> Result<NodeId> {
        match self {
            Part::Const(a) => u.constant(cx, name, a.clone()),
            Part::Node(id) => Ok(*id),
        }
    }

    fn is_zero(&self) -> bool {
        matches!(self, Part::Const(a) if a.iter().all(|&v| v == 0.0))
    }
}

/// An initial state (`[dirs, B, H]`, or `[B, dirs, H]` with layout 1) per direction as `[B, H]`;
/// `None` where it is absent or a constant zero (the step then skips the recurrent terms).
fn initial(
    cx: &mut Importer,
    u: &Unroll,
    i: usize,
    what: &str,
    dirs: usize,
    layout: usize,
) -> Result<Vec<Option<NodeId>>> {
    let v = match cx.input(u.n, i)? {
        None => return Ok(vec![None; dirs]),
        Some(Val::Const(c)) if c.floats().iter().all(|&v| v == 0.0) => return Ok(vec![None; dirs]),
        Some(_) => cx.operand(u.n, i, what)?,
    };
    let want = if layout == 0 {
        vec![dirs, u.batch, u.hidden]
    } else {
        vec![u.batch, dirs, u.hidden]
    };
    if cx.ty(v).shape != want {
        return Err(u.n.fail(format!(
            "has {what} of shape {:?}; expected {want:?}",
            cx.ty(v).shape
        )));
    }
    (0..dirs)
        .map(|d| {
            let part = u.slice(cx, &format!("{what}{d}"), v, layout as i64, (d, d + 1))?;
            Ok(Some(u.reshape(
                cx,
                &format!("{what}{d}_2d"),
                part,
                &[u.batch, u.hidden],
            )?))
        })
        .collect()
}

fn unroll(cx: &mut Importer, n: &OnnxNode, cell: Cell) -> Result<()> {
    // LSTM-1's `output_sequence` only said whether Y is produced, which its output list says too.
    n.no_effect(&["output_sequence"]);
    let x = cx.operand(n, 0, "X")?;
    let layout = n.int_or("layout", 0)?;
    if !(layout == 0 || layout == 1) {
        return Err(n.fail(format!("has layout = {layout}; ONNX defines 0 and 1")));
    }
    let layout = layout as usize;
    let xs = cx.ty(x).shape.clone();
    if xs.len() != 3 {
        return Err(n.fail(format!(
            "has an input X of shape {xs:?}; ONNX's recurrent cells take rank 3"
        )));
    }
    let (steps, batch, width) = if layout == 0 {
        (xs[0], xs[1], xs[2])
    } else {
        (xs[1], xs[0], xs[2])
    };
    if steps == 0 || batch == 0 {
        return Err(n.fail(format!("runs over an empty input X of shape {xs:?}")));
    }
    let dirs = match n.string("direction")?.as_deref().unwrap_or("forward") {
        "forward" => vec![false],
        "reverse" => vec![true],
        "bidirectional" => vec![false, true],
        other => {
            return Err(n.fail(format!(
                "has direction `{other}`; ONNX defines forward, reverse and bidirectional"
            )))
        }
    };
    let nd = dirs.len();
    let g = cell.gates();
    let r_shape = match cx.input(n, 2)? {
        Some(v) => cx.shape(&v).unwrap_or_default(),
        None => vec![],
    };
    let hidden = match n.int("hidden_size")? {
        Some(h) if h > 0 => h as usize,
        Some(h) => return Err(n.fail(format!("has hidden_size = {h}"))),
        None if r_shape.len() == 3 => r_shape[2],
        None => return Err(n.fail("has no hidden_size and no R to read it from")),
    };
    if cell == Cell::Lstm && n.int_or("input_forget", 0)? != 0 {
        return Err(n.fail(
            "couples the input and forget gates (input_forget = 1), which qcc does not unroll",
        ));
    }
    let linear_before_reset = cell == Cell::Gru && n.int_or("linear_before_reset", 0)? != 0;
    let clip = match n.float("clip")? {
        Some(c) if c > 0.0 => Some(c),
        Some(c) => return Err(n.fail(format!("has clip = {c}; it must be positive"))),
        None => None,
    };
    let names: Vec<String> = match n.strings("activations")? {
        Some(a) => a,
        None => cell
            .default_activations()
            .iter()
            .map(|s| s.to_string())
            .collect(),
    };
    let per = cell.default_activations().len();
    if names.len() != per && names.len() != per * nd {
        return Err(n.fail(format!(
            "lists {} activations; this cell takes {per} per direction",
            names.len()
        )));
    }
    let acts: Vec<Act> = names
        .iter()
        .map(|a| activation(n, a))
        .collect::<Result<_>>()?;
    // Sigmoid, Tanh and Relu take no parameters.
    n.no_effect(&["activation_alpha", "activation_beta"]);
    if let Some(v) = cx.input(n, 4)? {
        let full = match &v {
            Val::Const(c) => c.floats().iter().all(|&l| l as usize == steps),
            _ => false,
        };
        if !full {
            return Err(n.fail(
                "gives sequence_lens other than the full length of every sequence; qcc unrolls whole sequences only",
            ));
        }
    }
    if cell == Cell::Lstm {
        if let Some(p) = cx.input(n, 7)? {
            match p {
                Val::Const(c) if c.floats().iter().all(|&v| v == 0.0) => {}
                _ => return Err(n.fail("has peephole weights P, which qcc does not unroll")),
            }
        }
    }
    let gh = g * hidden;
    let w = Part::input(cx, n, 1, "W", &[nd, gh, width])?
        .ok_or_else(|| n.fail("has no input weights W (input 1)"))?;
    let r = Part::input(cx, n, 2, "R", &[nd, gh, hidden])?
        .ok_or_else(|| n.fail("has no recurrent weights R (input 2)"))?;
    let b = Part::input(cx, n, 3, "B", &[nd, 2 * gh])?;
    let p = match cell {
        Cell::Lstm => Part::input(cx, n, 7, "P", &[nd, 3 * hidden])?.filter(|p| !p.is_zero()),
        _ => None,
    };
    let out = n
        .output_name(0)
        .or(n.output_name(1))
        .or(n.output_name(2))
        .ok_or_else(|| n.fail("has no output"))?
        .to_string();
    let u = Unroll {
        n,
        out,
        cell,
        hidden,
        batch,
        clip,
    };
    let h0 = initial(cx, &u, 5, "initial_h", nd, layout)?;
    let c0 = if cell == Cell::Lstm {
        initial(cx, &u, 6, "initial_c", nd, layout)?
    } else {
        vec![None; nd]
    };
    // Time-major rows: [T·B, I].
    let xt = if layout == 1 {
        u.op(
            cx,
            "x_time_major",
            OpKind::Transpose,
            attrs([("perm", Attr::Ints(vec![1, 0, 2]))]),
            &[x],
        )?
    } else {
        x
    };
    let rows = u.reshape(cx, "x_rows", xt, &[steps * batch, width])?;
    let (mut ys, mut hs, mut cs) = (vec![], vec![], vec![]);
    for (d, &reverse) in dirs.iter().enumerate() {
        let w_d = w.take(cx, &u, &format!("d{d}.w"), 0, (d, d + 1), &[gh, width])?;
        let w_node = w_d.node(cx, &u, &format!("d{d}.w"))?;
        let r_d = r.take(cx, &u, &format!("d{d}.r_all"), 0, (d, d + 1), &[gh, hidden])?;
        // Biases fold into the input projection, except GRU's recurrent h bias when it is
        // applied before the reset gate.
        let (bias, rb_h) = match &b {
            None => (None, None),
            Some(b) => {
                let wb = b.take(cx, &u, &format!("d{d}.wb"), 0, (d, d + 1), &[2 * gh])?;
                let bias_of =
                    |cx: &mut Importer, lo: usize, hi: usize, tag: &str| -> Result<Part> {
                        let wb_ =
                            wb.take(cx, &u, &format!("d{d}.wb_{tag}"), 0, (lo, hi), &[hi - lo])?;
                        let rb_ = wb.take(
                            cx,
                            &u,
                            &format!("d{d}.rb_{tag}"),
                            0,
                            (gh + lo, gh + hi),
                            &[hi - lo],
                        )?;
                        wb_.add(cx, &u, &format!("d{d}.bias_{tag}"), &rb_)
                    };
                if linear_before_reset {
                    let zr = bias_of(cx, 0, 2 * hidden, "zr")?;
                    let wh = wb.take(
                        cx,
                        &u,
                        &format!("d{d}.wb_h"),
                        0,
                        (2 * hidden, gh),
                        &[hidden],
                    )?;
                    let rh = wb.take(
                        cx,
                        &u,
                        &format!("d{d}.rb_h"),
                        0,
                        (gh + 2 * hidden, 2 * gh),
                        &[hidden],
                    )?;
                    let both = Part::concat(cx, &u, &format!("d{d}.bias"), &[zr, wh])?;
                    (Some(both), Some(rh))
                } else {
                    (Some(bias_of(cx, 0, gh, "all")?), None)
                }
            }
        };
        let b_node = match bias.filter(|b| !b.is_zero()) {
            Some(b) => Some(b.node(cx, &u, &format!("d{d}.b"))?),
            None => None,
        };
        let xw = u.linear(cx, &format!("d{d}.x_proj"), rows, w_node, b_node)?;
        let wt = if cell == Cell::Gru {
            let zr = r_d.take(
                cx,
                &u,
                &format!("d{d}.r_zr"),
                0,
                (0, 2 * hidden),
                &[2 * hidden, hidden],
            )?;
            let hr = r_d.take(
                cx,
                &u,
                &format!("d{d}.r_h"),
                0,
                (2 * hidden, gh),
                &[hidden, hidden],
            )?;
            let rb_h = match rb_h {
                Some(rb) => Some(rb.node(cx, &u, &format!("d{d}.rb_h"))?),
                // Linear before reset with no bias: r ⊙ (H·Rhᵀ + 0).
                None if linear_before_reset => {
                    Some(u.constant(cx, &format!("d{d}.rb_h"), ArrayD::zeros(vec![hidden]))?)
                }
                None => None,
            };
            Recurrent {
                r: zr.node(cx, &u, &format!("d{d}.r_zr"))?,
                r_h: Some(hr.node(cx, &u, &format!("d{d}.r_h"))?),
                rb_h,
                peep: None,
            }
        } else {
            let peep = match &p {
                None => None,
                Some(p) => {
                    let p_d = p.take(cx, &u, &format!("d{d}.p"), 0, (d, d + 1), &[3 * hidden])?;
                    let mut v = vec![];
                    for (k, tag) in ["i", "o", "f"].iter().enumerate() {
                        let name = format!("d{d}.p_{tag}");
                        let part =
                            p_d.take(cx, &u, &name, 0, (k * hidden, (k + 1) * hidden), &[hidden])?;
                        v.push(part.node(cx, &u, &name)?);
                    }
                    Some([v[0], v[1], v[2]])
                }
            };
            Recurrent {
                r: r_d.node(cx, &u, &format!("d{d}.r"))?,
                r_h: None,
                rb_h: None,
                peep,
            }
        };
        let acts = if acts.len() == per {
            &acts[..]
        } else {
            &acts[d * per..(d + 1) * per]
        };
        let (mut h, mut c) = (h0[d], c0[d]);
        let mut by_time = vec![None; steps];
        let order: Vec<usize> = if reverse {
            (0..steps).rev().collect()
        } else {
            (0..steps).collect()
        };
        for &t in &order {
            let tag = format!("d{d}.t{t}");
            let x_t = u.slice(cx, &format!("{tag}.x"), xw, 0, (t * batch, (t + 1) * batch))?;
            let (hn, cn) = u.step(cx, &tag, x_t, &wt, acts, (h, c))?;
            h = Some(hn);
            c = cn;
            by_time[t] = Some(hn);
        }
        let by_time: Vec<NodeId> = by_time
            .into_iter()
            .map(|v| v.expect("every step ran"))
            .collect();
        if n.output_name(0).is_some() {
            let joined = u.concat(cx, &format!("d{d}.y_rows"), &by_time, 0)?;
            ys.push(u.reshape(cx, &format!("d{d}.y"), joined, &[steps, 1, batch, hidden])?);
        }
        let last = h.expect("at least one step");
        hs.push(u.reshape(cx, &format!("d{d}.y_h"), last, &[1, batch, hidden])?);
        if let Some(c) = c {
            cs.push(u.reshape(cx, &format!("d{d}.y_c"), c, &[1, batch, hidden])?);
        }
    }
    let state_out = |cx: &mut Importer, parts: &[NodeId], name: &str| -> Result<NodeId> {
        let s = u.concat(cx, name, parts, 0)?;
        if layout == 1 {
            u.op(
                cx,
                &format!("{name}_batch_major"),
                OpKind::Transpose,
                attrs([("perm", Attr::Ints(vec![1, 0, 2]))]),
                &[s],
            )
        } else {
            Ok(s)
        }
    };
    if let Some(name) = n.output_name(0) {
        let y = u.concat(cx, "y_dirs", &ys, 1)?;
        let y = if layout == 1 {
            u.op(
                cx,
                "y_batch_major",
                OpKind::Transpose,
                attrs([("perm", Attr::Ints(vec![2, 0, 1, 3]))]),
                &[y],
            )?
        } else {
            y
        };
        cx.define(name, Val::Node(y));
    }
    if let Some(name) = n.output_name(1) {
        let y = state_out(cx, &hs, "y_h_dirs")?;
        cx.define(name, Val::Node(y));
    }
    if let Some(name) = n.output_name(2) {
        if cell != Cell::Lstm {
            return Err(n.fail("has a third output, which only LSTM defines"));
        }
        let y = state_out(cx, &cs, "y_c_dirs")?;
        cx.define(name, Val::Node(y));
    }
    Ok(())
}

pub fn lstm(cx: &mut Importer, n: &OnnxNode) -> Result<()> {
    unroll(cx, n, Cell::Lstm)
}

pub fn gru(cx: &mut Importer, n: &OnnxNode) -> Result<()> {
    unroll(cx, n, Cell::Gru)
}

pub fn rnn(cx: &mut Importer, n: &OnnxNode) -> Result<()> {
    unroll(cx, n, Cell::Rnn)
}
