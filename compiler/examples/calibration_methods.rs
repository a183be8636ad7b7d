//! Which calibration method should be qcc's default: measures each method's activation ranges
//! on real networks by simulated (fake) quantization and prints a table.
//!
//! ```text
//! .venv/bin/python compiler/examples/calibration_photos.py /tmp/photos     # optional: 16 photos
//! QCC_TEST_MODELS=tests/.work/models QCC_CALIB_PHOTOS=/tmp/photos \
//!     cargo run --release -p qcc --example calibration_methods [MODEL…]
//! ```
//!
//! For each model (tiny_cnn, resnet18, mobilenetv2, efficientnet_lite0 by default): import from
//! `$QCC_TEST_MODELS`, fold BatchNorms with the built-in rules, take the photos of
//! `$QCC_CALIB_PHOTOS/NAME.photos.npy` (or the model's own `NAME.input.npy`), make about
//! `CROPS` random crops in all (scale 0.5–1, random position, bilinear resize, random flip), and
//! cross-validate over `FOLDS` folds: photo `p` is held out in fold `p % FOLDS` while the crops
//! of the other photos calibrate. Calibration observes every tensor once; each method then picks
//! u8 parameters from the same observations. Summed over the held-out crops of every fold:
//!
//! - **layer mean / worst**: SQNR (dB) of each quantized activation against its float value, with
//!   the float network's inputs (errors do not accumulate), averaged over layers / the worst one;
//! - **e2e**: SQNR (dB) of the network's output when every quantized activation is replaced by
//!   its quantize→dequantize image while the network runs (the interpreter's `transform` hook);
//! - **e2e w8**: the same with the weights also quantized (8 bits, symmetric, per channel);
//! - **top-1**: how often the argmax of the output agrees with the float network's (e2e w8).
//!
//! Quantized activations are those a qcc library materializes: the inputs and every f32 op
//! result, except a result whose only user is a ReLU or Clip (absorbed: the clamp after
//! requantization is the activation, seed 002).

use ndarray::{ArrayD, Axis, IxDyn};
use qcc::interp::{run_with, Hooks};
use qcc::ir::model::{Model, NodeId, NodeKind, WeightData};
use qcc::ir::op::OpKind;
use qcc::quant::histogram::Histogram;
use qcc::quant::observe::{MinMax, Observer};
use qcc::quant::params::{self, Params, WeightBits};
use qcc::quant::ranges::observed_tensors;
use qcc::quant::window::{entropy_range, mse_range, percentile_range};
use qcc::quant::{data_free_ranges, DEFAULT_INPUT_RANGE};
use qcc::Result;
use runtime::Tensor;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// About this many crops in all (at least two per photo).
const CROPS: usize = 24;

/// Photo `p` is held out in fold `p % FOLDS`.
const FOLDS: usize = 4;

/// A small deterministic generator (splitmix64): the same crops on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A random square crop of a `[1, C, H, W]` image resized back to `H×W` (bilinear), maybe flipped.
fn augment(img: &ArrayD<f32>, rng: &mut Rng) -> ArrayD<f32> {
    let (c, h, w) = (img.shape()[1], img.shape()[2], img.shape()[3]);
    let scale = 0.5 + 0.5 * rng.unit();
    let side = (h.min(w) as f64 * scale).max(2.0);
    let top = rng.unit() * (h as f64 - side);
    let left = rng.unit() * (w as f64 - side);
    let flip = rng.next() & 1 == 1;
    let mut out = ArrayD::<f32>::zeros(IxDyn(&[1, c, h, w]));
    for y in 0..h {
        let sy = (top + (y as f64 + 0.5) * side / h as f64 - 0.5).clamp(0.0, (h - 1) as f64);
        let (y0, fy) = (sy.floor() as usize, sy - sy.floor());
        let y1 = (y0 + 1).min(h - 1);
        for x in 0..w {
            let xx = if flip { w - 1 - x } else { x };
            let sx = (left + (xx as f64 + 0.5) * side / w as f64 - 0.5).clamp(0.0, (w - 1) as f64);
            let (x0, fx) = (sx.floor() as usize, sx - sx.floor());
            let x1 = (x0 + 1).min(w - 1);
            for ch in 0..c {
                let p = |yy: usize, xx: usize| img[[0, ch, yy, xx]] as f64;
                let v = (1.0 - fy) * ((1.0 - fx) * p(y0, x0) + fx * p(y0, x1))
                    + fy * ((1.0 - fx) * p(y1, x0) + fx * p(y1, x1));
                out[[0, ch, y, x]] = v as f32;
            }
        }
    }
    out
}

/// The tensors a qcc library stores quantized (see the module documentation).
fn materialized(model: &Model) -> Vec<NodeId> {
    observed_tensors(model)
        .into_iter()
        .filter(|&n| {
            if model.node(n).op().is_none() {
                return true;
            }
            let users = model.users(n);
            let absorbed = model.use_count(n) == 1
                && users.len() == 1
                && matches!(
                    model.node(users[0].0).op().map(|o| o.kind),
                    Some(OpKind::Relu | OpKind::Clip)
                );
            !absorbed
        })
        .collect()
}

/// The model with every conv/gemm/matmul weight replaced by its 8-bit per-channel image.
fn quantize_weights(model: &Model) -> Result<Model> {
    let mut m = model.clone();
    let mut axes: BTreeMap<NodeId, usize> = BTreeMap::new();
    for id in model.ops_in_order() {
        let op = model.node(id).op().expect("an op");
        let args = model.operands(id);
        let axis = match op.kind {
            OpKind::Conv2d => Some((args[1], 0)),
            OpKind::ConvTranspose2d => Some((args[1], 1)),
            OpKind::Gemm => Some((
                args[1],
                if op.bool("trans_b").unwrap_or(false) {
                    0
                } else {
                    1
                },
            )),
            OpKind::MatMul => Some((args[1], model.node(args[1]).ty.rank().saturating_sub(1))),
            _ => None,
        };
        if let Some((w, axis)) = axis {
            if model.node(w).is_weight() && model.node(w).ty.rank() >= 2 {
                axes.insert(w, axis);
            }
        }
    }
    for (w, axis) in axes {
        let node = model.node(w);
        let Some(data) = node.weight().and_then(|t| t.as_f32()) else {
            continue;
        };
        let chosen = params::weights(&node.name, data, axis, WeightBits::Eight)?;
        let fq = chosen.params.fake_quantize(data);
        m.node_mut(w).kind = NodeKind::Weight(WeightData::Loaded(Arc::new(Tensor::F32(fq))));
    }
    Ok(m)
}

/// Σ signal², Σ error².
#[derive(Clone, Copy, Default)]
struct Power(f64, f64);

impl Power {
    fn add(&mut self, x: &ArrayD<f32>, y: &ArrayD<f32>) {
        for (&a, &b) in x.iter().zip(y) {
            self.0 += (a as f64) * (a as f64);
            self.1 += (a as f64 - b as f64).powi(2);
        }
    }
    fn db(self) -> f64 {
        if self.1 == 0.0 {
            return 99.0;
        }
        (10.0 * (self.0 / self.1).log10()).min(99.0)
    }
}

fn argmax(a: &ArrayD<f32>) -> usize {
    a.iter()
        .enumerate()
        .fold((0, f32::NEG_INFINITY), |(bi, bv), (i, &v)| {
            if v > bv {
                (i, v)
            } else {
                (bi, bv)
            }
        })
        .0
}

/// Runs with every materialized activation replaced by its fake-quantized image.
fn run_fake(
    model: &Model,
    input: &ArrayD<f32>,
    params: &HashMap<NodeId, Params>,
) -> Result<ArrayD<f32>> {
    let x = &model.inputs[0];
    let fed = Tensor::F32(params[x].fake_quantize(input));
    let mut transform = |id: NodeId, t: Tensor| match (params.get(&id), &t) {
        (Some(p), Tensor::F32(a)) => Tensor::F32(p.fake_quantize(a)),
        _ => t,
    };
    let out = run_with(
        model,
        &[fed],
        Hooks {
            observe: None,
            transform: Some(&mut transform),
        },
    )?;
    Ok(out
        .into_iter()
        .next()
        .and_then(|t| t.into_f32())
        .expect("an f32 output"))
}

struct Row {
    method: String,
    layer_mean: f64,
    layer_worst: (f64, String),
    e2e: f64,
    e2e_w8: f64,
    top1: (usize, usize),
}

/// What one method accumulates over the folds.
#[derive(Default)]
struct Tally {
    layers: HashMap<NodeId, Power>,
    e2e: Power,
    e2e_w8: Power,
    agree: usize,
    total: usize,
}

const METHODS: [&str; 7] = [
    "minmax",
    "percentile:99.9",
    "percentile:99.99",
    "percentile:99.999",
    "entropy",
    "mse",
    "data-free",
];

/// Calibrates on `calib`, evaluates on `test`, adds to each method's tally.
fn fold(
    model: &Model,
    wq: &Model,
    calib: &[ArrayD<f32>],
    test: &[ArrayD<f32>],
    tallies: &mut [Tally],
) -> Result<()> {
    // One pass over the calibration crops feeds every method.
    let tensors = observed_tensors(model);
    let x = model.inputs[0];
    let mut minmax: HashMap<NodeId, MinMax> =
        tensors.iter().map(|&n| (n, MinMax::default())).collect();
    let mut hists: HashMap<NodeId, Histogram> =
        tensors.iter().map(|&n| (n, Histogram::default())).collect();
    for s in calib {
        let slice = s.as_slice().expect("standard layout");
        minmax.get_mut(&x).expect("input observed").observe(slice);
        hists.get_mut(&x).expect("input observed").add(slice);
        let mut observe = |id: NodeId, t: &Tensor| {
            if let (Some(m), Some(h), Some(a)) =
                (minmax.get_mut(&id), hists.get_mut(&id), t.as_f32())
            {
                let v = a.as_slice_memory_order().expect("contiguous");
                m.observe(v);
                h.add(v);
            }
        };
        run_with(
            model,
            &[Tensor::F32(s.clone())],
            Hooks {
                observe: Some(&mut observe),
                transform: None,
            },
        )?;
    }
    let free = data_free_ranges(model, DEFAULT_INPUT_RANGE)?;
    let pick = |method: &str, n: NodeId| -> (f32, f32) {
        match method {
            "minmax" => minmax[&n].range(),
            "entropy" => entropy_range(&hists[&n]),
            "mse" => mse_range(&hists[&n]),
            "data-free" => free.get(&model.node(n).name).expect("every tensor"),
            p => percentile_range(
                &hists[&n],
                p.trim_start_matches("percentile:")
                    .parse()
                    .expect("a percentile"),
            ),
        }
    };
    let quantized = materialized(model);
    let mut chosen: Vec<HashMap<NodeId, Params>> = vec![];
    for method in METHODS {
        let mut m = HashMap::new();
        for &n in &quantized {
            m.insert(
                n,
                params::activation(&model.node(n).name, pick(method, n))?.params,
            );
        }
        chosen.push(m);
    }

    // Per layer: float inputs, each layer's value against its fake-quantized image.
    let mut float_out = vec![];
    for s in test {
        for (mi, params) in chosen.iter().enumerate() {
            tallies[mi]
                .layers
                .entry(x)
                .or_default()
                .add(s, &params[&x].fake_quantize(s));
        }
        let mut observe = |id: NodeId, t: &Tensor| {
            if let Some(a) = t.as_f32() {
                for (mi, params) in chosen.iter().enumerate() {
                    if let Some(p) = params.get(&id) {
                        tallies[mi]
                            .layers
                            .entry(id)
                            .or_default()
                            .add(a, &p.fake_quantize(a));
                    }
                }
            }
        };
        let out = run_with(
            model,
            &[Tensor::F32(s.clone())],
            Hooks {
                observe: Some(&mut observe),
                transform: None,
            },
        )?;
        float_out.push(
            out.into_iter()
                .next()
                .and_then(|t| t.into_f32())
                .expect("an f32 output"),
        );
    }
    for (mi, t) in tallies.iter_mut().enumerate() {
        for (s, f) in test.iter().zip(&float_out) {
            t.e2e.add(f, &run_fake(model, s, &chosen[mi])?);
            let y = run_fake(wq, s, &chosen[mi])?;
            t.e2e_w8.add(f, &y);
            t.agree += usize::from(argmax(&y) == argmax(f));
            t.total += 1;
        }
    }
    Ok(())
}

fn measure(dir: &Path, photos_dir: Option<&Path>, name: &str) -> Result<Vec<Row>> {
    let t0 = Instant::now();
    let model = qcc::import::import_file(&dir.join(format!("{name}.onnx")))?;
    let rules = qcc::rules::RuleSet::builtin_and(&[])?;
    let (model, _) = qcc::pipeline::optimize(&model, &rules, &Default::default())?;
    let wq = quantize_weights(&model)?;
    let more = photos_dir
        .map(|d| d.join(format!("{name}.photos.npy")))
        .filter(|p| p.is_file());
    let source = more.unwrap_or_else(|| dir.join(format!("{name}.input.npy")));
    let photos = qcc::npy::read_f32(&source)?;
    let n = photos.shape()[0];
    let folds = n.min(FOLDS);
    let per_photo = (CROPS / n).max(2);
    let mut rng = Rng(0x5eed ^ n as u64);
    let crops: Vec<Vec<ArrayD<f32>>> = (0..n)
        .map(|p| {
            let img = photos.index_axis(Axis(0), p).to_owned();
            (0..per_photo).map(|_| augment(&img, &mut rng)).collect()
        })
        .collect();
    eprintln!(
        "{name}: {} ops, {n} photos from {}, {folds} folds, {per_photo} crops per photo",
        model.ops_in_order().len(),
        source.display()
    );
    let mut tallies: Vec<Tally> = METHODS.iter().map(|_| Tally::default()).collect();
    for f in 0..folds {
        let calib: Vec<ArrayD<f32>> = (0..n)
            .filter(|p| p % folds != f)
            .flat_map(|p| crops[p].clone())
            .collect();
        let test: Vec<ArrayD<f32>> = (0..n)
            .filter(|p| p % folds == f)
            .flat_map(|p| crops[p].clone())
            .collect();
        fold(&model, &wq, &calib, &test, &mut tallies)?;
    }
    let quantized = materialized(&model);
    let rows = METHODS
        .iter()
        .zip(&tallies)
        .map(|(method, t)| {
            let dbs: Vec<(f64, NodeId)> =
                quantized.iter().map(|&n| (t.layers[&n].db(), n)).collect();
            let mean = dbs.iter().map(|d| d.0).sum::<f64>() / dbs.len() as f64;
            let worst = dbs
                .iter()
                .fold((f64::INFINITY, quantized[0]), |w, &(d, n)| {
                    if d < w.0 {
                        (d, n)
                    } else {
                        w
                    }
                });
            Row {
                method: method.to_string(),
                layer_mean: mean,
                layer_worst: (worst.0, model.node(worst.1).name.clone()),
                e2e: t.e2e.db(),
                e2e_w8: t.e2e_w8.db(),
                top1: (t.agree, t.total),
            }
        })
        .collect();
    eprintln!("{name}: {:.1} s", t0.elapsed().as_secs_f64());
    Ok(rows)
}

fn main() {
    let dir = std::env::var_os("QCC_TEST_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("tests/.work/models"));
    let photos = std::env::var_os("QCC_CALIB_PHOTOS").map(PathBuf::from);
    let args: Vec<String> = std::env::args().skip(1).collect();
    let names: Vec<String> = if args.is_empty() {
        ["tiny_cnn", "resnet18", "mobilenetv2", "efficientnet_lite0"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    } else {
        args
    };
    println!(
        "| model | method | layer mean dB | worst layer dB | e2e dB | e2e w8 dB | top-1 (w8) |"
    );
    println!("|---|---|---|---|---|---|---|");
    for name in &names {
        match measure(&dir, photos.as_deref(), name) {
            Ok(rows) => {
                for r in rows {
                    println!(
                        "| {name} | {} | {:.1} | {:.1} (%{}) | {:.1} | {:.1} | {}/{} |",
                        r.method,
                        r.layer_mean,
                        r.layer_worst.0,
                        r.layer_worst.1,
                        r.e2e,
                        r.e2e_w8,
                        r.top1.0,
                        r.top1.1
                    );
                }
            }
            Err(e) => eprintln!("{name}: {e}"),
        }
    }
}
