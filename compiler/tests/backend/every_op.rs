//! Every op the verifier accepts compiles (issue 15, finding 11): one minimal graph per float op
//! in `tests/backend_ops/`, each through the whole pipeline twice — quantized as the pipeline
//! chooses, and with its ops kept float (`--keep-float`) — into a library on x86-64-v2 and
//! native that equals the interpreter bit for bit, or refused by the pipeline with an error
//! before code generation. The integer ops are covered by what the float ones lower to; the
//! test fails when an op of the schema table is in no graph, so a new op needs a fixture.
//! The ops without a kernel (attention, nll_loss, the bitwise family): a graph holding one is
//! refused by the backend with an error naming the value or op (never miscompiled), and the
//! table says so.

use super::support::{assert_outputs, build};
use qcc::backend::kernels::has_kernel;
use qcc::backend::target::Target;
use qcc::diag::Source;
use qcc::interp::{eval_op_in, FloatMode};
use qcc::ir::{schemas, Model, NodeId, NodeKind, OpKind};
use qcc::pipeline::{self, Calibration};
use qcc::quant::{BiasCorrection, Method, WeightBits};
use runtime::Tensor;
use std::collections::{BTreeSet, HashMap};
use std::path::Path;

fn fixtures() -> Vec<(String, Model)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/backend_ops");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/backend_ops")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "ir"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let source = Source {
                name: p.display().to_string(),
                text: std::fs::read_to_string(&p).expect("readable"),
            };
            let model = qcc::ir::parse::parse(&source).unwrap_or_else(|e| panic!("{e}"));
            qcc::ir::verify::verify_or_error(&model, Some(&source))
                .unwrap_or_else(|e| panic!("{e}"));
            let stem = p.file_stem().expect("a name").to_string_lossy().to_string();
            (stem, model)
        })
        .collect()
}

/// Inputs spread over [-2, 2], deterministic, `samples` of them stacked along a new leading
/// axis (calibration's form), or one when `samples` is 0.
fn inputs(model: &Model, seed: usize, samples: usize) -> Vec<ndarray::ArrayD<f32>> {
    model
        .inputs
        .iter()
        .map(|&i| {
            let mut shape = model.node(i).ty.shape.clone();
            if samples > 0 {
                shape.insert(0, samples);
            }
            let n: usize = shape.iter().product();
            let v = (0..n)
                .map(|j| 2.0 * ((j * 7 + seed * 13) as f32 * 0.37).sin())
                .collect();
            ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&shape), v).expect("shape")
        })
        .collect()
}

fn kinds(model: &Model) -> BTreeSet<OpKind> {
    model
        .ops_in_order()
        .into_iter()
        .filter_map(|n| model.node(n).op().map(|o| o.kind))
        .collect()
}

/// The interpreter's result with every float op in strict float, what a library computes.
/// (`interp::run` does so only in a graph holding integer ops; with every op kept float the
/// graph has none, and its fast kernels may use FMA.)
fn strict_run(model: &Model, inputs: &[Tensor]) -> Vec<Tensor> {
    if qcc::interp::is_integer_graph(model) {
        return qcc::interp::run(model, inputs).expect("the interpreter runs");
    }
    let mut values: HashMap<NodeId, Tensor> = HashMap::new();
    for (&i, t) in model.inputs.iter().zip(inputs) {
        values.insert(i, t.clone());
    }
    for n in model.topo_order().expect("acyclic") {
        let node = model.node(n);
        let value = match &node.kind {
            NodeKind::Input => continue,
            NodeKind::Weight(w) => w.tensor().expect("loaded").as_ref().clone(),
            // (De)quantizing needs its operand's type: the interpreter runs it as a model.
            NodeKind::Op(op) if matches!(op.kind, OpKind::Quantize | OpKind::Dequantize) => {
                let a = model.operands(n)[0];
                let mut one = Model::new("one".to_string());
                let x = one.add_input("x", model.node(a).ty.clone());
                let y = one.add_op("y", op.clone(), &[x], node.ty.clone());
                one.outputs = vec![y];
                let mut out = qcc::interp::run(&one, &[values[&a].clone()])
                    .unwrap_or_else(|e| panic!("%{}: {e}", node.name));
                out.remove(0)
            }
            NodeKind::Op(op) => {
                let args: Vec<&Tensor> = model.operands(n).iter().map(|a| &values[a]).collect();
                eval_op_in(op, &args, &node.ty, FloatMode::Strict)
                    .unwrap_or_else(|e| panic!("%{}: {e}", node.name))
            }
        };
        values.insert(n, value);
    }
    model.outputs.iter().map(|o| values[o].clone()).collect()
}

#[test]
fn every_op_compiles_or_is_refused_before_codegen() {
    let mut seen: BTreeSet<OpKind> = BTreeSet::new();
    let mut table = String::new();
    let mut failures: Vec<String> = vec![];
    for (name, float) in fixtures() {
        seen.extend(kinds(&float));
        let op_names: BTreeSet<String> = float
            .ops_in_order()
            .into_iter()
            .map(|n| float.node(n).name.clone())
            .collect();
        for (mode, keep) in [("quantized", BTreeSet::new()), ("kept float", op_names)] {
            let mut opts = pipeline::Options::new(Target::native()).expect("built-in rules load");
            let calib = inputs(&float, 1, 3);
            opts.quant.calibration = Calibration::Samples {
                samples: calib.into_iter().map(Into::into).collect(),
                method: Method::MinMax,
            };
            opts.quant.weight_bits = Some(WeightBits::Eight);
            opts.quant.bias_correction = Some(BiasCorrection::Off);
            opts.quant.keep_float = keep;
            let int = match pipeline::compile(&float, &opts, |_, _| {}) {
                Ok(c) => c.int.expect("an integer model"),
                Err(e) => {
                    table.push_str(&format!("{name}, {mode}: refused: {e}\n"));
                    continue;
                }
            };
            seen.extend(kinds(&int));
            let codegen = qcc::backend::codegen(
                &int,
                &qcc::backend::Options {
                    prefix: "qcc".into(),
                    target: Target::native(),
                    keep_clif: false,
                    profile: false,
                    // Every split, however small, so that 2, 3 and 7 threads are exercised.
                    thread_grain_ns: 0,
                },
            );
            if let Err(e) = codegen {
                if kinds(&int).iter().any(|k| !has_kernel(*k)) {
                    table.push_str(&format!("{name}, {mode}: no kernel: {e}\n"));
                    continue;
                }
                failures.push(format!("{name}, {mode}: the backend refused: {e}"));
                continue;
            }
            let x: Vec<Tensor> = inputs(&float, 7, 0).into_iter().map(Tensor::F32).collect();
            let want = strict_run(&int, &x);
            for target in ["x86-64-v2", "native"] {
                let lib = build(&int, target);
                assert_outputs(&format!("{name}, {mode}, {target}"), &lib, &x, &want);
            }
            let ops: Vec<&str> = kinds(&int).iter().map(|k| k.name()).collect();
            table.push_str(&format!("{name}, {mode}: {}\n", ops.join(" ")));
        }
    }
    let missing: Vec<&str> = schemas()
        .iter()
        .filter(|s| !seen.contains(&s.kind))
        .map(|s| s.name)
        .collect();
    assert!(
        failures.is_empty(),
        "the pipeline made graphs the backend cannot compile:\n{}",
        failures.join("\n")
    );
    assert!(missing.is_empty(), "ops in no graph: {missing:?}\n{table}");
    insta::assert_snapshot!(table);
}
