//! The backend: an integer IR model → one object file of native code (Cranelift), computing
//! exactly what the integer interpreter computes, plus the interface the C ABI describes.
//!
//! Before: the model verifies, every op is an integer op (or quantize at an input, dequantize at
//! an output), weights are loaded. After: an object defining `{prefix}_run_impl(inputs, outputs,
//! scratch)`, which assumes the target's CPU features and a 64-byte aligned scratch of
//! `scratch_size` bytes (the C shim `link` adds checks both).

pub mod emit;
pub mod header;
pub mod interface;
pub mod kernels;
pub mod layout;
pub mod link;
pub mod plan;
pub mod profile;
pub mod target;
pub mod work;

use crate::diag::{Error, Result};
use crate::ir::model::{Model, NodeId, NodeKind};
use crate::ir::op::{Op, OpKind};
use crate::ir::types::TensorType;
use cranelift_object::{ObjectBuilder, ObjectModule};
use emit::{Emitter, Loc};
use interface::{Interface, Port};
use runtime::{DType, Tensor};
use std::collections::hash_map::{Entry, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};
use target::Target;

/// What the caller chooses.
#[derive(Clone, Debug)]
pub struct Options {
    /// C identifier the exported symbols start with.
    pub prefix: String,
    pub target: Target,
    /// Keep the CLIF text of every function (`--emit clif`).
    pub keep_clif: bool,
    /// A profiling build (`--profile`): the entry calls `{prefix}_profile_mark(step)` before
    /// each kernel and after the last, and the interface lists the steps for the shim.
    pub profile: bool,
    /// The least estimated single-thread work, in nanoseconds, a threaded entry gives each part
    /// of a step ([`work::step_ns`]); it starts threads only for a run whose split steps hold
    /// [`START_GRAINS`] grains per extra thread. 0 splits every step into as many parts as it
    /// has units and always starts the threads (the tests, which must exercise every split).
    pub thread_grain_ns: u64,
}

/// The thread grain when none is asked for: a barrier and a part's start cost about a
/// microsecond when the threads are awake, so a part of 20 µs loses at most a few percent.
pub const DEFAULT_THREAD_GRAIN_NS: u64 = 20_000;

/// How many grains of split work each extra thread must have before a run starts it: starting,
/// waking and joining a thread cost 100–150 µs on a 2-vCPU Xeon VM (tiny_cnn ran 0.11 ms on one
/// thread, 0.28 ms on two), so a team pays from about half a millisecond of split work per
/// extra thread.
pub const START_GRAINS: u64 = 25;

/// One operand or result of a step.
#[derive(Clone, Debug)]
pub struct Operand {
    /// Where it is (meaningless for weights).
    pub loc: Loc,
    pub ty: TensorType,
    /// The constant's data when the operand is a weight.
    pub weight: Option<Arc<Tensor>>,
    /// The IR value.
    pub node: NodeId,
}

/// One kernel call: an op with its operands placed.
#[derive(Clone, Debug)]
pub struct Step {
    /// The IR name of the op's result (for symbol names and errors).
    pub name: String,
    pub op: Op,
    pub args: Vec<Operand>,
    pub out: Operand,
    /// Scratch the kernel asked for (see [`kernels::temp_bytes`]), placed in the arena.
    pub temps: Vec<usize>,
}

/// Memory figures of a compiled model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemoryReport {
    pub arena: usize,
    /// The arena without reuse: every activation and temporary in its own bytes.
    pub activations: usize,
    /// Bytes of weight data in the object (packed, with folded biases and multipliers).
    pub weight_bytes: usize,
}

/// The product of [`compile`].
pub struct Compiled {
    pub object: Vec<u8>,
    pub interface: Interface,
    pub memory: MemoryReport,
    /// Wall time per stage, for `--explain` and the compile-time benchmark.
    pub times: Vec<(&'static str, Duration)>,
    /// The CLIF of every function, when [`Options::keep_clif`] asked for it.
    pub clif: Option<String>,
}

/// Whether `s` is a C identifier (the prefix becomes part of symbol names and the header).
pub fn valid_prefix(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The buffer a value needs in the arena: its bytes plus room for one vector read past its end
/// (kernels load 16 bytes at a time and discard what lies beyond).
pub fn arena_bytes(ty: &TensorType) -> usize {
    ty.size_bytes() + emit::SLACK
}

/// Compiles an integer model into an object file.
pub fn codegen(model: &Model, opts: &Options) -> Result<Compiled> {
    if !valid_prefix(&opts.prefix) {
        return Err(Error::msg(format!(
            "--prefix `{}` is not a C identifier (letters, digits and `_`, not starting with a \
             digit)",
            opts.prefix
        )));
    }
    let mut times = Vec::new();
    let t0 = Instant::now();
    let (steps, ports, memory_requests, weight_bits) = schedule(model, &opts.target)?;
    let plan = plan::plan(
        &memory_requests
            .iter()
            .map(|r| r.0.clone())
            .collect::<Vec<_>>(),
    );
    let steps = place(steps, &memory_requests, &plan);
    times.push(("schedule and memory plan", t0.elapsed()));

    let t1 = Instant::now();
    let isa = opts.target.isa(true)?;
    let builder = ObjectBuilder::new(
        isa,
        format!("{}.o", opts.prefix),
        cranelift_module::default_libcall_names(),
    )
    .map_err(|e| Error::msg(format!("cranelift object builder: {e}")))?;
    let mut em = Emitter::new(ObjectModule::new(builder));
    if opts.keep_clif {
        em.clif = Some(String::new());
    }
    // Every kernel, in order, with the step it belongs to: a step may take several kernels
    // (each a threaded step of its own); the last one writes the output and zeroes its slack.
    let mut funcs = Vec::with_capacity(steps.len());
    let mut step_of = Vec::with_capacity(steps.len());
    let mut weight_bytes = 0;
    for (i, step) in steps.iter().enumerate() {
        let name = format!("{}_k{i}", opts.prefix);
        let (fs, bytes) = kernels::emit(&mut em, &name, step, &opts.target).map_err(|e| {
            // The kernel's own message, without a second `error:` prefix.
            let why = match e {
                Error::Msg(m) => m,
                other => other.to_string(),
            };
            Error::msg(format!("%{} ({}): {why}", step.name, step.op.kind.name()))
        })?;
        weight_bytes += bytes;
        let slack = match step.out.loc {
            Loc::Arena(off) => Some(off + step.out.ty.size_bytes()),
            _ => None,
        };
        let last = fs.len().saturating_sub(1);
        for (j, f) in fs.into_iter().enumerate() {
            funcs.push((f, if j == last { slack } else { None }));
            step_of.push(i);
        }
    }
    let mark = opts
        .profile
        .then(|| format!("{}_profile_mark", opts.prefix));
    em.entry(
        &format!("{}_run_impl", opts.prefix),
        &funcs,
        &step_of,
        mark.as_deref(),
    )?;
    em.step_entry(&format!("{}_step_impl", opts.prefix), &funcs)?;
    let splits = splits(&em, &steps, &funcs, &step_of, &memory_requests, &plan);
    times.push(("code generation (cranelift)", t1.elapsed()));
    let clif = em.clif.take();
    let t2 = Instant::now();
    let object = em
        .module
        .finish()
        .emit()
        .map_err(|e| Error::msg(format!("writing the object file: {e}")))?;
    times.push(("object file", t2.elapsed()));

    let (inputs, outputs) = ports;
    Ok(Compiled {
        object,
        interface: Interface {
            prefix: opts.prefix.clone(),
            model_name: model.name.clone(),
            inputs,
            outputs,
            scratch_size: plan.arena,
            temp_span: splits.1,
            thread_grain_ns: opts.thread_grain_ns,
            splits: splits.0,
            features: opts.target.features.clone(),
            target: opts.target.spec.clone(),
            weight_bits,
            qcc_version: env!("CARGO_PKG_VERSION").to_string(),
            profile: opts
                .profile
                .then(|| steps.iter().map(profile::ProfileStep::of).collect()),
        },
        memory: MemoryReport {
            arena: plan.arena,
            activations: plan.total,
            weight_bytes,
        },
        times,
        clif,
    })
}

/// How the threaded entries split each step: its work units and where its temporaries start,
/// and the bytes of the largest span of one split step's temporaries (each further thread's
/// region beyond the arena).
fn splits(
    em: &Emitter,
    steps: &[Step],
    funcs: &[(cranelift_module::FuncId, Option<usize>)],
    step_of: &[usize],
    requests: &[(plan::Request, Slot)],
    plan: &plan::Plan,
) -> (Vec<interface::Split>, usize) {
    let mut temps: HashMap<usize, (usize, usize)> = HashMap::new();
    for ((r, slot), &off) in requests.iter().zip(&plan.offsets) {
        if let Slot::Temp(s, _) = slot {
            let e = temps.entry(*s).or_insert((usize::MAX, 0));
            e.0 = e.0.min(off);
            e.1 =
                e.1.max(off + r.size.max(1).div_ceil(plan::ALIGN) * plan::ALIGN);
        }
    }
    let mut span = 0;
    let list = funcs
        .iter()
        .enumerate()
        .map(|(k, &(f, _))| {
            let units = em.units(f);
            let (temp_lo, end) = temps.get(&step_of[k]).copied().unwrap_or((0, 0));
            if units > 1 {
                span = span.max(end - temp_lo);
            }
            interface::Split {
                units,
                temp_lo,
                work_ns: work::step_ns(&steps[step_of[k]]),
            }
        })
        .collect();
    (list, span)
}

/// A memory request and what it is for: the value's arena slot, or temporary `t` of step `s`.
#[derive(Clone, Debug)]
enum Slot {
    Value(NodeId),
    Temp(usize, usize),
}

type Schedule = (
    Vec<(Step, NodeId)>,
    (Vec<Port>, Vec<Port>),
    Vec<(plan::Request, Slot)>,
    u8,
);

/// The element type a library passes `n` as: its own for a plain f32, integer or bool value,
/// f32 for codes (an output dequantized on the way out); `None` when the entry cannot pass it.
pub fn port_dtype(n: &crate::ir::model::Node, output: bool) -> Option<DType> {
    match n.ty.elem.quant() {
        Some(_) => output.then_some(DType::F32),
        None => Some(n.ty.elem.storage()).filter(|d| runtime::library::PORT_TYPES.contains(d)),
    }
}

/// Refuses, by name, a model input or output a library cannot pass: f32, the integer types the
/// kernels hold (i8, u8, i32, i64) and bool pass as themselves, codes leave dequantized to f32;
/// an input of codes (the library quantizes its own inputs) or of another type (f16, f64, the
/// other integers) runs with `qcc run`. The CLI asks before compiling; the backend again.
pub fn check_ports(model: &Model) -> Result<()> {
    let ports = model.inputs.iter().map(|&i| ("input", i));
    for (what, id) in ports.chain(model.outputs.iter().map(|&o| ("output", o))) {
        let n = model.node(id);
        if port_dtype(n, what == "output").is_none() {
            let why = if n.ty.elem.quant().is_some() {
                "a library quantizes its own inputs: give the model its float input"
            } else {
                "cast it inside the model to f32, i32, i64, i8, u8 or bool"
            };
            return Err(Error::msg(format!(
                "{what} %{} is {}, which a library's entry cannot pass ({why}), or run it with \
                 `qcc run`",
                n.name, n.ty
            )));
        }
    }
    Ok(())
}

/// Orders the ops, decides where every value lives, and lists the arena requests.
fn schedule(model: &Model, target: &Target) -> Result<Schedule> {
    let order = model.ops_in_order();
    // Every op without a kernel, named with its first value, before anything else is refused:
    // the user learns which ops keep the model in the interpreter, not only the first type.
    let mut missing: Vec<(OpKind, &str)> = Vec::new();
    for &id in &order {
        let n = model.node(id);
        if let Some(op) = n.op() {
            if !kernels::has_kernel(op.kind) && !missing.iter().any(|(k, _)| *k == op.kind) {
                missing.push((op.kind, &n.name));
            }
        }
    }
    if !missing.is_empty() {
        let ops: Vec<String> = missing
            .iter()
            .map(|(k, v)| format!("{} (%{v})", k.name()))
            .collect();
        return Err(Error::msg(format!(
            "no kernel computes {} yet (qcc runs them in the interpreter: `qcc run model.ir`)",
            ops.join(", ")
        )));
    }
    // The kernels know f32, the code types, and the i64 indices and bool masks of the index
    // and mask ops; values of the other types (f16, f64, the other integers) run in the
    // interpreter, not in a library.
    for &id in order.iter().chain(&model.inputs).chain(&model.outputs) {
        let n = model.node(id);
        let d = n.ty.elem.storage();
        // i16 only as the codes of a tensor given 16 bits, which a quantize writes and
        // convolutions read.
        let wide_codes = d == DType::I16 && n.ty.elem.quant().is_some();
        if !wide_codes
            && !matches!(
                d,
                DType::F32 | DType::I8 | DType::U8 | DType::I32 | DType::I64 | DType::Bool
            )
        {
            return Err(Error::msg(format!(
                "%{} is {}: the backend has no kernels for {d} values (qcc runs them in the interpreter: `qcc run model.ir`)",
                n.name, n.ty
            )));
        }
    }
    let mut loc: HashMap<NodeId, Loc> = HashMap::new();
    let mut inputs = Vec::new();
    check_ports(model)?;
    // A caller's buffer is row-major; rank-4 integer and bool values live channels-last in the
    // library, so such an input is first copied into the arena in that layout.
    let mut in_steps: Vec<(usize, NodeId)> = Vec::new();
    for (i, &id) in model.inputs.iter().enumerate() {
        let n = model.node(id);
        if layout::is_nhwc(&n.ty) {
            in_steps.push((i, id));
        } else {
            loc.insert(id, Loc::Input(i));
        }
        inputs.push(Port {
            name: n.name.clone(),
            shape: n.ty.shape.clone(),
            dtype: port_dtype(n, false).expect("check_ports passed"),
        });
    }
    // Outputs: an f32 result computed by an op is written straight into the caller's buffer;
    // anything else (a returned input, a value returned twice, integer codes) gets a step that
    // copies or dequantizes it there.
    let mut outputs = Vec::new();
    let mut out_steps: Vec<(usize, NodeId)> = Vec::new();
    for (j, &id) in model.outputs.iter().enumerate() {
        let n = model.node(id);
        outputs.push(Port {
            name: n.name.clone(),
            shape: n.ty.shape.clone(),
            dtype: port_dtype(n, true).expect("check_ports passed"),
        });
        let direct = matches!(n.kind, NodeKind::Op(_))
            && n.ty.elem.quant().is_none()
            && !layout::is_nhwc(&n.ty)
            && !loc.contains_key(&id);
        if direct {
            loc.insert(id, Loc::Output(j));
        } else {
            out_steps.push((j, id));
        }
    }
    let mut steps: Vec<(Step, NodeId)> = Vec::new();
    let mut requests: Vec<(plan::Request, Slot)> = Vec::new();
    let mut defined_at: HashMap<NodeId, usize> = HashMap::new();
    let mut last_use: HashMap<NodeId, usize> = HashMap::new();
    let mut max_weight = 0i32;
    // The row-major bytes of a channels-last input, as one flat run.
    let flat = |ty: &TensorType| TensorType::new(vec![ty.numel()], ty.elem.clone());
    for (i, id) in in_steps {
        let n = model.node(id);
        loc.insert(id, Loc::Arena(usize::MAX));
        defined_at.insert(id, steps.len());
        steps.push((
            Step {
                name: n.name.clone(),
                op: Op::new(OpKind::Reshape, Default::default()),
                args: vec![Operand {
                    loc: Loc::Input(i),
                    ty: flat(&n.ty),
                    weight: None,
                    node: id,
                }],
                out: Operand {
                    loc: Loc::Arena(usize::MAX),
                    ty: n.ty.clone(),
                    weight: None,
                    node: id,
                },
                temps: vec![],
            },
            id,
        ));
    }
    for &id in &order {
        let n = model.node(id);
        let op = n.op().expect("ops_in_order yields ops").clone();
        let s = steps.len();
        if let Entry::Vacant(e) = loc.entry(id) {
            e.insert(Loc::Arena(usize::MAX));
            defined_at.insert(id, s);
        }
        let mut args = Vec::new();
        for a in model.operands(id) {
            let an = model.node(a);
            let weight = match &an.kind {
                NodeKind::Weight(w) => Some(
                    w.tensor()
                        .cloned()
                        .ok_or_else(|| Error::msg(format!("weight @{} is not loaded", an.name)))?,
                ),
                _ => None,
            };
            if let Some(Tensor::I8(w)) = weight.as_deref() {
                max_weight =
                    max_weight.max(w.iter().map(|&v| i32::from(v).abs()).max().unwrap_or(0));
            }
            if weight.is_none() {
                last_use.insert(a, s);
            }
            args.push(Operand {
                loc: loc.get(&a).copied().unwrap_or(Loc::Arena(usize::MAX)),
                ty: an.ty.clone(),
                weight,
                node: a,
            });
        }
        let out = Operand {
            loc: loc[&id],
            ty: n.ty.clone(),
            weight: None,
            node: id,
        };
        let temps = kernels::temp_bytes(&op, &args, &out, target)?;
        for (t, &bytes) in temps.iter().enumerate() {
            requests.push((
                plan::Request {
                    size: bytes,
                    first: s,
                    last: s,
                },
                Slot::Temp(s, t),
            ));
        }
        steps.push((
            Step {
                name: n.name.clone(),
                op,
                args,
                out,
                temps,
            },
            id,
        ));
    }
    for (j, id) in out_steps {
        let n = model.node(id);
        let s = steps.len();
        // A returned weight (a constant output) has no place in the arena: the copy reads it
        // from a table of the object, as a kernel reads any weight operand.
        let weight = match &n.kind {
            NodeKind::Weight(w) => Some(
                w.tensor()
                    .cloned()
                    .ok_or_else(|| Error::msg(format!("weight @{} is not loaded", n.name)))?,
            ),
            _ => None,
        };
        if weight.is_none() {
            last_use.insert(id, s);
        }
        // A plain value is copied as it is, into the caller's row-major buffer (a flat run: a
        // rank-4 integer value is channels-last in the library); codes are dequantized.
        let (op, out_ty) = if n.ty.elem.quant().is_none() {
            (Op::new(OpKind::Reshape, Default::default()), flat(&n.ty))
        } else {
            (
                Op::new(OpKind::Dequantize, Default::default()),
                TensorType::f32(n.ty.shape.clone()),
            )
        };
        steps.push((
            Step {
                name: n.name.clone(),
                op,
                args: vec![Operand {
                    loc: loc.get(&id).copied().unwrap_or(Loc::Arena(usize::MAX)),
                    ty: n.ty.clone(),
                    weight,
                    node: id,
                }],
                out: Operand {
                    loc: Loc::Output(j),
                    ty: out_ty,
                    weight: None,
                    node: id,
                },
                temps: vec![],
            },
            id,
        ));
    }
    for (&id, &first) in &defined_at {
        let last = last_use.get(&id).copied().unwrap_or(first);
        requests.push((
            plan::Request {
                size: arena_bytes(&model.node(id).ty),
                first,
                last,
            },
            Slot::Value(id),
        ));
    }
    // Requests in a deterministic order (the HashMap above has none).
    requests.sort_by_key(|(r, slot)| {
        (
            r.first,
            match slot {
                Slot::Value(id) => (0, id.index(), 0),
                Slot::Temp(s, t) => (1, *s, *t),
            },
        )
    });
    let bits = if max_weight <= 63 { 7 } else { 8 };
    Ok((steps, (inputs, outputs), requests, bits))
}

/// Fills in the arena offsets the plan chose.
fn place(
    steps: Vec<(Step, NodeId)>,
    requests: &[(plan::Request, Slot)],
    plan: &plan::Plan,
) -> Vec<Step> {
    let mut value_at: HashMap<NodeId, usize> = HashMap::new();
    let mut temp_at: HashMap<(usize, usize), usize> = HashMap::new();
    for ((_, slot), &off) in requests.iter().zip(&plan.offsets) {
        match slot {
            Slot::Value(id) => {
                value_at.insert(*id, off);
            }
            Slot::Temp(s, t) => {
                temp_at.insert((*s, *t), off);
            }
        }
    }
    let resolve = |o: &mut Operand| {
        if o.loc == Loc::Arena(usize::MAX) && o.weight.is_none() {
            o.loc = Loc::Arena(value_at[&o.node]);
        }
    };
    steps
        .into_iter()
        .enumerate()
        .map(|(s, (mut step, _))| {
            step.args.iter_mut().for_each(resolve);
            resolve(&mut step.out);
            step.temps = (0..step.temps.len()).map(|t| temp_at[&(s, t)]).collect();
            step
        })
        .collect()
}
