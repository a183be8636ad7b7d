//! ONNX import snapshots: each fixture of `tests/onnx/fixtures.rs` imported and printed as text
//! IR, each error fixture's message; one `check` function for both.

#[path = "../../tests/onnx/build.rs"]
mod build;
#[path = "../../tests/onnx/fixtures.rs"]
mod fixtures;

use qcc::import::{import_bytes, import_file};
use qcc::ir::print::print;
use qcc::ir::Model;
use qcc::Result;
use std::path::PathBuf;

fn check(name: &str, result: Result<Model>) {
    let text = match result {
        Ok(model) => print(&model),
        Err(e) => e.to_string(),
    };
    insta::assert_snapshot!(name, text);
}

fn fixture_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/onnx")
        .join(format!("{name}.onnx"))
}

/// The committed `.onnx` file must be what the builder makes (`UPDATE_FIXTURES=1` rewrites it).
fn committed(name: &str, bytes: &[u8]) -> PathBuf {
    let path = fixture_path(name);
    let on_disk = std::fs::read(&path).ok();
    if on_disk.as_deref() != Some(bytes) {
        if std::env::var_os("UPDATE_FIXTURES").is_some() {
            std::fs::write(&path, bytes).expect("fixture written");
        } else {
            panic!(
                "{} is missing or out of date; rerun with UPDATE_FIXTURES=1",
                path.display()
            );
        }
    }
    path
}

fn model(name: &str) {
    let (_, build) = fixtures::MODELS
        .iter()
        .find(|(n, _)| *n == name)
        .expect("fixture exists");
    let path = committed(name, &build().bytes());
    check(name, import_file(&path));
}

fn error(name: &str) {
    let (_, bytes) = fixtures::errors()
        .into_iter()
        .find(|(n, _)| *n == name)
        .expect("error fixture exists");
    check(
        &format!("error_{name}"),
        import_bytes(&bytes, &format!("{name}.onnx")),
    );
}

macro_rules! tests {
    ($f:ident: $($name:ident),* $(,)?) => {
        $( #[test] fn $name() { $f(stringify!($name)); } )*
    };
}

mod models {
    use super::model;
    tests!(model: tiny_cnn, pad_modes, einsum, pytorch_style, conv_variants, pools, activations, opset10, shapes, opset18, qdq, shape_folding, opset9, opset6, opset28_ml_domain, shape_logic, reductions, reductions13, logsoftmax11, one_d_and_blocks, int64_input, gather_at_run_time, expand_at_run_time, vit_attention);
}

mod errors {
    use super::error;
    tests!(error:
        truncated, png, empty, tile_zero_repeat, top_k_longer_than_axis, scatter_nd_reduction_add, scatter_nd_index_out_of_range, no_graph, opset_29, dropout_training, dropout_training_at_run_time, zero_size_input, only_ml_domain, unsupported_op, custom_domain, dynamic_height,
        reshape_runtime_shape, float16_weight, int64_at_run_time, pad_mode_unknown, pad_crops_everything, batchnorm_training_output,
        maxpool_indices_used, dequantize_other_params, conv3d, undefined_value, shape_mismatch,
        clip_runtime_bound, auto_pad_unknown, conv_transpose_output_too_large, squeeze_not_one,
        resize_cubic, resize_crop, resize_channels, resize_antialias_down,
        slice_runtime_starts, slice_empty_used, split_sizes_wrong, einsum_bad_equation, einsum_size_mismatch, einsum_int64_sum,
    );
}

#[test]
fn every_fixture_has_a_test() {
    let src = include_str!("import.rs");
    for (name, _) in fixtures::MODELS {
        assert!(
            src.contains(&format!(" {name},")) || src.contains(&format!(" {name})")),
            "model fixture {name} has no test"
        );
    }
    for (name, _) in fixtures::errors() {
        assert!(
            src.contains(&format!(" {name},")),
            "error fixture {name} has no test"
        );
    }
}

#[test]
fn the_model_is_named_after_the_file_and_weights_are_loaded() {
    let m =
        import_bytes(&fixtures::tiny_cnn().bytes(), "some/dir/My Net.v2.onnx").expect("imports");
    assert_eq!(m.name, "My_Net.v2");
    assert_eq!(m.weights_file.as_deref(), Some("My_Net.v2.safetensors"));
    let w = m.find("conv1.weight").expect("weight kept its name");
    let t = m.node(w).weight().expect("loaded");
    assert_eq!(t.shape(), &[4, 3, 3, 3]);
    let expected: Vec<f64> = (0..108)
        .map(|i| (((i * 37 % 101) as f32 - 50.0) / 64.0) as f64)
        .collect();
    assert_eq!(t.to_f64_vec(), expected);
}

#[test]
fn raw_and_typed_initializers_import_alike() {
    let with = |t| {
        let mut g = build::G::new(13);
        g.input("x", &[1, 20])
            .init(t)
            .node("Add", &["x", "w"], &["y"], vec![])
            .output("y");
        import_bytes(&g.bytes(), "m.onnx").expect("imports")
    };
    let v: Vec<f32> = (0..20).map(|i| i as f32 * 0.5).collect();
    let a = with(build::f32s("w", &[20], v.clone()));
    let b = with(build::f32s_raw("w", &[20], &v));
    let data = |m: &Model| {
        m.node(m.find("w").expect("w"))
            .weight()
            .expect("data")
            .to_f64_vec()
    };
    assert_eq!(data(&a), data(&b));
}

#[test]
fn external_data_is_read_from_beside_the_model() {
    let dir = tempfile::tempdir().expect("tempdir");
    let v: Vec<f32> = (0..20).map(|i| i as f32).collect();
    let mut bytes = vec![0u8; 8];
    bytes.extend(v.iter().flat_map(|x| x.to_le_bytes()));
    std::fs::write(dir.path().join("weights.bin"), &bytes).expect("write");
    let mut t = build::f32s("w", &[20], vec![]);
    t.data_location = protobuf::EnumOrUnknown::from_i32(1);
    for (k, val) in [
        ("location", "weights.bin"),
        ("offset", "8"),
        ("length", "80"),
    ] {
        t.external_data.push(onnx_protobuf::StringStringEntryProto {
            key: k.into(),
            value: val.into(),
            ..Default::default()
        });
    }
    let mut g = build::G::new(13);
    g.input("x", &[1, 20])
        .init(t)
        .node("Add", &["x", "w"], &["y"], vec![])
        .output("y");
    let path = dir.path().join("ext.onnx");
    std::fs::write(&path, g.bytes()).expect("write");
    let m = import_file(&path).expect("imports");
    let w = m
        .node(m.find("w").expect("w"))
        .weight()
        .expect("data")
        .to_f64_vec();
    assert_eq!(w, v.iter().map(|&x| x as f64).collect::<Vec<_>>());
    let err = import_bytes(&g.bytes(), "ext.onnx").expect_err("no directory to read from");
    assert!(err.to_string().contains("external file"), "{err}");
}

#[test]
fn imported_models_save_and_read_back_unchanged() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, build) in fixtures::MODELS {
        let model = import_bytes(&build().bytes(), &format!("{name}.onnx")).expect("imports");
        let path = dir.path().join(format!("{name}.ir"));
        qcc::ir::weights::save_model(&model, &path).expect("saves");
        let back = qcc::ir::weights::read_model(&path).expect("reads back");
        assert_eq!(print(&back), print(&model), "{name}");
        for id in model.weights() {
            let n = model.node(id);
            let m = back.node(back.find(&n.name).expect("weight kept"));
            assert_eq!(m.weight(), n.weight(), "{name}: @{}", n.name);
        }
    }
}

/// The ViT-style attention block (opset 23, 4-D, 8 heads) imported and interpreted on varied
/// tokens equals ONNX Runtime's Attention within 1e-4 of the output's magnitude.
#[test]
fn vit_attention_matches_onnx_runtime() {
    use ndarray::{ArrayD, IxDyn};
    let python = std::env::var_os("QCC_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python"));
    let path = committed("vit_attention", &fixtures::vit_attention().bytes());
    let model = import_file(&path).expect("imports");
    // Three samples of [1, 16, 64] tokens, smooth in position and width, of different scales.
    let n = 3 * 16 * 64;
    let samples = ArrayD::from_shape_vec(
        IxDyn(&[3, 1, 16, 64]),
        (0..n)
            .map(|i| {
                let (s, t, c) = (i / 1024, (i / 64) % 16, i % 64);
                (1.0 + s as f32)
                    * ((t as f32 * 0.7 + c as f32 * 0.31).sin() + 0.1 * c as f32 / 64.0)
            })
            .collect(),
    )
    .unwrap();
    let work = tempfile::tempdir().unwrap();
    let input = work.path().join("x.npy");
    let output = work.path().join("ort.npy");
    qcc::npy::write_f32(&input, &samples).unwrap();
    let run = std::process::Command::new(&python)
        .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/python/ort_run.py"))
        .args([&path, &input, &output])
        .output()
        .expect("python runs");
    assert!(
        run.status.success(),
        "ONNX Runtime fails on the fixture:\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let ort = qcc::npy::read_f32(&output).unwrap();
    let ours = qcc::batch::run_batches(&model, &[samples], |_, _| {})
        .expect("runs")
        .remove(0);
    assert_eq!(ours.shape(), ort.shape());
    let scale = ort.iter().fold(0f32, |m, v| m.max(v.abs()));
    let err = ours
        .iter()
        .zip(&ort)
        .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    assert!(
        err <= 1e-4 * scale,
        "max |qcc − ORT| = {err} against a scale of {scale}"
    );
}

/// Inputs whose dimensions the model leaves open (`dynamic_height`: `N×3×height×8`), fixed by
/// `--input-shape` or by the calibration arrays' shapes.
mod open_shapes {
    use super::{check, fixtures};
    use qcc::import::{import_bytes_with, InputShapes};

    fn with(test: &str, given: &[(&str, &[usize])], samples: &[(&str, &[usize])]) {
        let (_, bytes) = fixtures::errors()
            .into_iter()
            .find(|(n, _)| *n == "dynamic_height")
            .expect("the fixture exists");
        let map =
            |v: &[(&str, &[usize])]| v.iter().map(|(n, s)| (n.to_string(), s.to_vec())).collect();
        let shapes = InputShapes {
            given: map(given),
            samples: map(samples),
        };
        check(
            &format!("open_shapes_{test}"),
            import_bytes_with(&bytes, "dynamic_height.onnx", &shapes),
        );
    }

    #[test]
    fn given_by_name() {
        with("given_by_name", &[("image", &[2, 3, 5, 8])], &[]);
    }

    #[test]
    fn given_for_the_only_input() {
        with("given_for_the_only_input", &[("", &[1, 3, 5, 8])], &[]);
    }

    #[test]
    fn given_beats_samples() {
        with(
            "given_beats_samples",
            &[("", &[1, 3, 5, 8])],
            &[("", &[4, 1, 3, 7, 8])],
        );
    }

    #[test]
    fn from_samples_of_one_input_each() {
        with(
            "from_samples_of_one_input_each",
            &[],
            &[("", &[4, 1, 3, 7, 8])],
        );
    }

    #[test]
    fn from_samples_stacked_along_the_batch() {
        with(
            "from_samples_stacked_along_the_batch",
            &[],
            &[("", &[4, 3, 7, 8])],
        );
    }

    #[test]
    fn samples_never_override_a_static_size() {
        with(
            "samples_never_override_a_static_size",
            &[],
            &[("", &[4, 1, 9, 7, 9])],
        );
    }

    #[test]
    fn given_disagrees_with_a_static_size() {
        with(
            "given_disagrees_with_a_static_size",
            &[("image", &[1, 4, 5, 8])],
            &[],
        );
    }

    #[test]
    fn given_of_another_rank() {
        with("given_of_another_rank", &[("image", &[1, 3, 5])], &[]);
    }

    #[test]
    fn given_for_no_input() {
        with("given_for_no_input", &[("images", &[1, 3, 5, 8])], &[]);
    }
}

/// Einsum imported and interpreted equals the definition, summed term by term over every
/// assignment of the letters (a size-1 axis read at index 0 whatever its letter's size): the
/// decomposition into matmuls, muls, sums and gathers is checked against no other decomposition.
#[test]
fn einsum_equals_its_definition() {
    use ndarray::{ArrayD, IxDyn};
    let cases: &[(&str, &[&[usize]])] = &[
        ("bhqd,bhkd->bhqk", &[&[1, 2, 3, 4], &[1, 2, 5, 4]]),
        ("bij,bjk->bik", &[&[1, 2, 3], &[4, 3, 5]]),
        ("ij,jk->ki", &[&[2, 1], &[3, 4]]),
        ("i,j->ij", &[&[3], &[4]]),
        ("ijk->kj", &[&[2, 3, 4]]),
        ("bii->bi", &[&[2, 3, 3]]),
        ("iij,ik->jk", &[&[1, 1, 3], &[4, 5]]),
        ("aab,bcc->ac", &[&[2, 2, 3], &[3, 4, 4]]),
        ("ij,jk,kl->il", &[&[2, 3], &[3, 4], &[4, 5]]),
        ("bn,anm,bm->ba", &[&[2, 3], &[4, 3, 5], &[2, 5]]),
        ("ijk,ikj->ij", &[&[2, 3, 4], &[2, 4, 3]]),
        ("ab,ab->", &[&[3, 4], &[3, 4]]),
    ];
    for &(eq, shapes) in cases {
        let mut g = build::G::new(12);
        let names: Vec<String> = (0..shapes.len()).map(|i| format!("x{i}")).collect();
        for (name, shape) in names.iter().zip(shapes) {
            let dims: Vec<i64> = shape.iter().map(|&d| d as i64).collect();
            g.input(name, &dims);
        }
        let inputs: Vec<&str> = names.iter().map(String::as_str).collect();
        g.node(
            "Einsum",
            &inputs,
            &["y"],
            vec![build::string("equation", eq)],
        )
        .output("y");
        let model = import_bytes(&g.bytes(), "einsum.onnx").unwrap_or_else(|e| panic!("{eq}: {e}"));
        let values: Vec<ArrayD<f32>> = shapes
            .iter()
            .enumerate()
            .map(|(k, s)| {
                let n: usize = s.iter().product();
                let v = (0..n)
                    .map(|i| ((i * 7 + k * 3) % 11) as f32 / 4.0 - 1.0)
                    .collect();
                ArrayD::from_shape_vec(IxDyn(s), v).unwrap()
            })
            .collect();
        let batched: Vec<ArrayD<f32>> = values
            .iter()
            .map(|v| v.clone().insert_axis(ndarray::Axis(0)))
            .collect();
        let ours = qcc::batch::run_batches(&model, &batched, |_, _| {})
            .unwrap_or_else(|e| panic!("{eq}: {e}"))
            .remove(0)
            .index_axis_move(ndarray::Axis(0), 0);
        let want = einsum_by_definition(eq, &values);
        assert_eq!(ours.shape(), want.shape(), "{eq}");
        for (a, b) in ours.iter().zip(&want) {
            assert!(
                (a - b).abs() <= 1e-5 * (1.0 + b.abs()),
                "{eq}: {ours} vs {want}"
            );
        }
    }
}

/// Σ over every assignment of the letters of the product of the operands' elements, in f64.
fn einsum_by_definition(eq: &str, xs: &[ndarray::ArrayD<f32>]) -> ndarray::ArrayD<f32> {
    let (lhs, rhs) = eq.split_once("->").expect("explicit output");
    let terms: Vec<Vec<char>> = lhs.split(',').map(|t| t.chars().collect()).collect();
    let out: Vec<char> = rhs.chars().collect();
    let mut size: Vec<(char, usize)> = vec![];
    for (t, x) in terms.iter().zip(xs) {
        for (&c, &d) in t.iter().zip(x.shape()) {
            match size.iter_mut().find(|(l, _)| *l == c) {
                Some((_, s)) => *s = (*s).max(d),
                None => size.push((c, d)),
            }
        }
    }
    let of = |c: char| size.iter().find(|(l, _)| *l == c).unwrap().1;
    let out_shape: Vec<usize> = out.iter().map(|&c| of(c)).collect();
    let mut y = ndarray::ArrayD::<f64>::zeros(ndarray::IxDyn(&out_shape));
    let total: usize = size.iter().map(|(_, s)| s).product();
    for flat in 0..total {
        let mut rest = flat;
        let mut at = vec![0; size.len()];
        for (k, (_, s)) in size.iter().enumerate().rev() {
            at[k] = rest % s;
            rest /= s;
        }
        let idx = |c: char| at[size.iter().position(|(l, _)| *l == c).unwrap()];
        let mut p = 1f64;
        for (t, x) in terms.iter().zip(xs) {
            let i: Vec<usize> = t
                .iter()
                .zip(x.shape())
                .map(|(&c, &d)| if d == 1 { 0 } else { idx(c) })
                .collect();
            p *= x[ndarray::IxDyn(&i)] as f64;
        }
        let o: Vec<usize> = out.iter().map(|&c| idx(c)).collect();
        y[ndarray::IxDyn(&o)] += p;
    }
    y.mapv(|v| v as f32)
}
