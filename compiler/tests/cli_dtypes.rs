//! `qcc run` reads and writes `.npy` files of the model's own element types (f32, i8, u8, i32)
//! and runs a model without inputs; a file of another type is refused with both types named.

use ndarray::{arr1, ArrayD};
use ndarray_npy::{ReadNpyExt, WriteNpyExt};
use std::path::Path;
use std::process::Command;

fn qcc(dir: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_qcc"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("qcc runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !stderr.contains("panicked"),
        "qcc {args:?} panicked:\n{stderr}"
    );
    (out.status.success(), stderr)
}

fn write_npy<T: ndarray_npy::WritableElement>(path: &Path, a: ArrayD<T>) {
    let mut bytes = Vec::new();
    a.write_npy(&mut bytes).expect("encodes");
    std::fs::write(path, bytes).expect("written");
}

fn read_npy<T: ndarray_npy::ReadableElement>(path: &Path) -> ArrayD<T> {
    ArrayD::<T>::read_npy(std::fs::File::open(path).expect("output written")).expect("decodes")
}

#[test]
fn quantize_writes_u8_codes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("q.ir"),
        "model @q {\n  %x = input : tensor<1x4xf32>\n  %y = quantize(%x) : tensor<1x4x!quant<u8, 0.5, 128>>\n  return %y\n}\n",
    )
    .unwrap();
    write_npy(
        &d.join("x.npy"),
        arr1(&[-1.0f32, 0.0, 0.5, 10.0])
            .into_shape_with_order(vec![1, 4])
            .unwrap()
            .into_dyn(),
    );
    let (ok, err) = qcc(d, &["run", "q.ir", "-i", "x.npy", "-o", "y.npy"]);
    assert!(ok, "{err}");
    // round(x / 0.5) + 128, ties to even: -2, 0, 1, 20.
    let y: ArrayD<u8> = read_npy(&d.join("y.npy"));
    assert_eq!(y.shape(), &[1, 4]);
    assert_eq!(
        y.iter().copied().collect::<Vec<_>>(),
        vec![126, 128, 129, 148]
    );
}

#[test]
fn dequantize_reads_i8_codes_and_refuses_f32() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("dq.ir"),
        "model @dq {\n  %x = input : tensor<3x!quant<i8, 0.25, 0>>\n  %y = dequantize(%x) : tensor<3xf32>\n  return %y\n}\n",
    )
    .unwrap();
    write_npy(&d.join("x.npy"), arr1(&[-128i8, 4, 127]).into_dyn());
    let (ok, err) = qcc(d, &["run", "dq.ir", "-i", "x.npy", "-o", "y.npy"]);
    assert!(ok, "{err}");
    let y: ArrayD<f32> = read_npy(&d.join("y.npy"));
    assert_eq!(
        y.iter().copied().collect::<Vec<_>>(),
        vec![-32.0, 1.0, 31.75]
    );

    write_npy(&d.join("f.npy"), arr1(&[1.0f32, 2.0, 3.0]).into_dyn());
    let (ok, err) = qcc(d, &["run", "dq.ir", "-i", "f.npy", "-o", "z.npy"]);
    assert!(!ok);
    assert!(
        err.contains("cannot read f.npy: it holds elements of type '<f4', qcc takes int8 ('|i1'): convert it with `x.astype(numpy.int8)`"),
        "{err}"
    );
    assert!(!d.join("z.npy").exists());

    write_npy(&d.join("l.npy"), arr1(&[1i64, 2, 3]).into_dyn());
    let (ok, err) = qcc(d, &["run", "dq.ir", "-i", "l.npy", "-o", "z.npy"]);
    assert!(!ok);
    assert!(
        err.contains("cannot read l.npy: it holds elements of type"),
        "{err}"
    );
}

#[test]
fn a_model_without_inputs_runs_once() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("c.ir"),
        "model @c {\n  weight @k : tensor<2xf32> = dense<[1.5, -2.0]>\n  %r = relu(@k) : tensor<2xf32>\n  return %r\n}\n",
    )
    .unwrap();
    let (ok, err) = qcc(d, &["run", "c.ir", "-o", "y.npy"]);
    assert!(ok, "{err}");
    let y: ArrayD<f32> = read_npy(&d.join("y.npy"));
    assert_eq!(y.iter().copied().collect::<Vec<_>>(), vec![1.5, 0.0]);
}

#[test]
fn integer_and_bool_values_run_with_onnx_semantics() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("m.ir"),
        "model @m {\n  weight @k : tensor<bool> = dense<[1]>\n  %a = input : tensor<4xi64>\n  %b = input : tensor<4xi64>\n  %q = div(%a, %b) : tensor<4xi64>\n  %r = mod(%a, %b) : tensor<4xi64>\n  %lt = compare(%a, %b) {fn = \"less\"} : tensor<4xbool>\n  %x = logic(%lt, @k) {fn = \"xor\"} : tensor<4xbool>\n  %w = where(%x, %q, %r) : tensor<4xi64>\n  %h = cast(%w) {to = \"f16\"} : tensor<4xf16>\n  %i = arg_max(%a) {axis = 0} : tensor<1xi64>\n  return %q, %r, %lt, %h, %i\n}\n",
    )
    .unwrap();
    write_npy(&d.join("a.npy"), arr1(&[7i64, -7, 7, -7]).into_dyn());
    write_npy(&d.join("b.npy"), arr1(&[2i64, 2, -2, -2]).into_dyn());
    let outs = ["q.npy", "r.npy", "lt.npy", "h.npy", "i.npy"];
    let mut args = vec!["run", "m.ir", "-i", "a=a.npy", "-i", "b=b.npy"];
    for (name, file) in ["q", "r", "lt", "h", "i"].iter().zip(&outs) {
        args.push("-o");
        args.push(Box::leak(format!("{name}={file}").into_boxed_str()));
    }
    let (ok, err) = qcc(d, &args);
    assert!(ok, "{err}");
    // C division truncates toward zero; ONNX Mod (fmod = 0) takes the divisor's sign.
    let q: ArrayD<i64> = read_npy(&d.join("q.npy"));
    assert_eq!(q.iter().copied().collect::<Vec<_>>(), vec![3, -3, -3, 3]);
    let r: ArrayD<i64> = read_npy(&d.join("r.npy"));
    assert_eq!(r.iter().copied().collect::<Vec<_>>(), vec![1, 1, -1, -1]);
    let lt: ArrayD<bool> = read_npy(&d.join("lt.npy"));
    assert_eq!(
        lt.iter().copied().collect::<Vec<_>>(),
        vec![false, true, false, true]
    );
    // where(lt xor true, q, r) = [q0, r1, q2, r3] = [3, 1, -3, -1], as f16 (numpy '<f2').
    let h = std::fs::read(d.join("h.npy")).unwrap();
    assert!(String::from_utf8_lossy(&h[..64]).contains("'<f2'"));
    let halves: Vec<f32> = h[h.len() - 8..]
        .chunks(2)
        .map(|c| runtime::f16::from_le_bytes([c[0], c[1]]).to_f32())
        .collect();
    assert_eq!(halves, vec![3.0, 1.0, -3.0, -1.0]);
    let i: ArrayD<i64> = read_npy(&d.join("i.npy"));
    assert_eq!(i.iter().copied().collect::<Vec<_>>(), vec![0]);

    // A library has no kernels for these types: the backend says which value and type.
    let (ok, err) = qcc(d, &["m.ir", "-o", "m.so"]);
    assert!(!ok);
    assert!(err.contains("i64"), "{err}");
}

/// A library passes integer and bool ports as themselves: a model taking token ids (i64) and
/// bytes (i32) and returning arg_max's indices (i64) and a mask (bool) compiles, and `qcc run`
/// on it reads and writes those types, equal to the integer IR in the interpreter. A port of a
/// type no kernel holds (f16) is refused by name before calibrating.
#[test]
fn libraries_pass_integer_and_bool_ports() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let emb: Vec<String> = (0..40)
        .map(|i| format!("{}", (i % 7) as f32 * 0.5 - 1.25))
        .collect();
    std::fs::write(
        d.join("ids.ir"),
        format!("model @ids {{\n  weight @emb : tensor<10x4xf32> = dense<[{}]>\n  weight @iota : tensor<1x1x4xi32> = dense<[0, 1, 2, 3]>\n  %ids = input : tensor<1x5xi64>\n  %bytes = input : tensor<1x5x1xi32>\n  %e = gather(@emb, %ids) {{axis = 0}} : tensor<1x5x4xf32>\n  %hot = compare(%bytes, @iota) {{fn = \"equal\"}} : tensor<1x5x4xbool>\n  %f = cast(%hot) {{to = \"f32\"}} : tensor<1x5x4xf32>\n  %s = add(%e, %f) : tensor<1x5x4xf32>\n  %y = relu(%s) : tensor<1x5x4xf32>\n  %am = arg_max(%y) {{axis = 2, keepdims = false}} : tensor<1x5xi64>\n  return %y, %am, %hot\n}}\n", emb.join(", ")),
    )
    .unwrap();
    let ids: Vec<i64> = vec![3, 0, 9, 4, 4, 1, 2, 8, 7, 5, 6, 3, 0, 2, 9];
    write_npy(
        &d.join("ids.npy"),
        ArrayD::from_shape_vec(vec![3, 5], ids).unwrap(),
    );
    let bytes: Vec<i32> = vec![0, 3, 2, 7, 1, 2, 2, 0, 3, 1, 1, 0, 9, 3, 2];
    write_npy(
        &d.join("bytes.npy"),
        ArrayD::from_shape_vec(vec![3, 5, 1], bytes.clone()).unwrap(),
    );
    let feed = ["-i", "ids=ids.npy", "-i", "bytes=bytes.npy"];
    let calib = ["--calib", "ids=ids.npy", "--calib", "bytes=bytes.npy"];
    // Without samples, the warning names no input range: these inputs take none.
    let (ok, err) = qcc(d, &["ids.ir", "-o", "free.so"]);
    assert!(ok, "{err}");
    assert!(
        err.contains("the inputs are not float, so no input range applies")
            && !err.contains("input range of"),
        "{err}"
    );
    let (ok, err) = qcc(d, &[&["ids.ir", "-o", "ids.so"][..], &calib].concat());
    assert!(ok, "{err}");
    let header = std::fs::read_to_string(d.join("ids.h")).unwrap();
    for line in [
        "int qcc_run(const void *const *inputs, void *const *outputs, void *scratch);",
        "/* inputs[0]: %ids, 1x5: 5 int64_t values */",
        "/* inputs[1]: %bytes, 1x5x1: 5 int32_t values */",
        "/* outputs[1]: %am, 1x5: 5 int64_t values */",
        "/* outputs[2]: %hot, 1x5x4: 20 bools (uint8_t, 0 or 1) */",
    ] {
        assert!(header.contains(line), "{line} not in\n{header}");
    }
    let (ok, err) = qcc(
        d,
        &[&["ids.ir", "--emit", "int", "-o", "ids.int.ir"][..], &calib].concat(),
    );
    assert!(ok, "{err}");
    let run = |model: &str, tag: &str| {
        let names: Vec<String> = ["y", "am", "hot"]
            .iter()
            .map(|n| format!("{n}={n}.{tag}.npy"))
            .collect();
        let mut args: Vec<&str> = vec!["run", model];
        args.extend(feed);
        for n in &names {
            args.extend(["-o", n.as_str()]);
        }
        let (ok, err) = qcc(d, &args);
        assert!(ok, "{model}: {err}");
    };
    run("ids.so", "so");
    run("ids.int.ir", "ir");
    let y_so: ArrayD<f32> = read_npy(&d.join("y.so.npy"));
    let y_ir: ArrayD<f32> = read_npy(&d.join("y.ir.npy"));
    assert_eq!(y_so.shape(), &[3, 5, 4]);
    assert_eq!(
        y_so.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
        y_ir.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
    );
    let am_so: ArrayD<i64> = read_npy(&d.join("am.so.npy"));
    let am_ir: ArrayD<i64> = read_npy(&d.join("am.ir.npy"));
    assert_eq!(am_so.shape(), &[3, 5]);
    assert_eq!(am_so, am_ir);
    let hot_so: ArrayD<bool> = read_npy(&d.join("hot.so.npy"));
    // The mask is the one-hot of the bytes: exact, whatever the quantization.
    let want: Vec<bool> = bytes
        .iter()
        .flat_map(|&b| (0..4).map(move |k| b == k))
        .collect();
    assert_eq!(hot_so.iter().copied().collect::<Vec<_>>(), want);

    // A C caller, against the header, with -Wall -Werror: the first sample's indices and mask.
    std::fs::write(
        d.join("call.c"),
        r#"#include <stdio.h>
#include <stdlib.h>
#include "ids.h"
int main(void) {
    int64_t ids[QCC_INPUT0_SIZE] = {3, 0, 9, 4, 4};
    int32_t bytes[QCC_INPUT1_SIZE] = {0, 3, 2, 7, 1};
    float y[QCC_OUTPUT0_SIZE];
    int64_t am[QCC_OUTPUT1_SIZE];
    uint8_t hot[QCC_OUTPUT2_SIZE];
    const void *inputs[] = {ids, bytes};
    void *outputs[] = {y, am, hot};
    void *scratch = aligned_alloc(64, (QCC_SCRATCH_SIZE + 63) / 64 * 64 + 64);
    int rc = qcc_run(inputs, outputs, scratch);
    printf("%d", rc);
    for (int i = 0; i < QCC_OUTPUT1_SIZE; i++) printf(" %lld", (long long)am[i]);
    for (int i = 0; i < QCC_OUTPUT2_SIZE; i++) printf(" %u", (unsigned)hot[i]);
    printf("\n");
    free(scratch);
    return rc;
}
"#,
    )
    .unwrap();
    let cc = std::process::Command::new("cc")
        .args([
            "-std=c11", "-Wall", "-Werror", "call.c", "-o", "call", "./ids.so",
        ])
        .args(["-Wl,-rpath,$ORIGIN"])
        .current_dir(d)
        .output()
        .expect("cc runs");
    assert!(
        cc.status.success(),
        "{}",
        String::from_utf8_lossy(&cc.stderr)
    );
    let out = std::process::Command::new(d.join("call"))
        .output()
        .expect("runs");
    assert!(out.status.success(), "{out:?}");
    let mut want = vec!["0".to_string()];
    want.extend(am_so.iter().take(5).map(|v| v.to_string()));
    want.extend(hot_so.iter().take(20).map(|&v| u8::from(v).to_string()));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), want.join(" "));

    // An f16 port: refused by name, with the types a library passes.
    std::fs::write(
        d.join("h.ir"),
        "model @h {\n  %x = input : tensor<1x4xf32>\n  %h = cast(%x) {to = \"f16\"} : tensor<1x4xf16>\n  return %h\n}\n",
    )
    .unwrap();
    let (ok, err) = qcc(d, &["h.ir", "-o", "h.so"]);
    assert!(!ok);
    assert!(
        err.contains("output %h is tensor<1x4xf16>")
            && err.contains("f32, i32, i64, i8, u8 or bool"),
        "{err}"
    );
}

/// Rank-4 integer and bool values live channels-last inside a library, but a caller's buffers
/// are row-major: a rank-4 i32 input is relaid on the way in, and rank-4 bool and i64 outputs
/// on the way out (the first version read and wrote them channels-last).
#[test]
fn rank_4_integer_ports_are_row_major() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("r4.ir"),
        "model @r4 {\n  weight @t : tensor<f32> = dense<[0.5]>\n  %x = input : tensor<1x2x3x4xi32>\n  %f = cast(%x) {to = \"f32\"} : tensor<1x2x3x4xf32>\n  %m = compare(%f, @t) {fn = \"greater\"} : tensor<1x2x3x4xbool>\n  %am = arg_max(%f) {axis = 1, keepdims = true} : tensor<1x1x3x4xi64>\n  %y = relu(%f) : tensor<1x2x3x4xf32>\n  return %y, %m, %am\n}\n",
    )
    .unwrap();
    let x: Vec<i32> = (0..24).map(|i| (i * 7 % 5) - 1).collect();
    write_npy(
        &d.join("x.npy"),
        ArrayD::from_shape_vec(vec![1, 2, 3, 4], x.clone()).unwrap(),
    );
    for args in [
        &["r4.ir", "-o", "r4.so"][..],
        &["r4.ir", "--emit", "int", "-o", "r4.int.ir"],
    ] {
        let (ok, err) = qcc(d, args);
        assert!(ok, "{err}");
    }
    for (model, tag) in [("r4.so", "so"), ("r4.int.ir", "ir")] {
        let outs: Vec<String> = ["y", "m", "am"]
            .iter()
            .map(|n| format!("{n}={n}.{tag}.npy"))
            .collect();
        let mut args = vec!["run", model, "-i", "x.npy"];
        for o in &outs {
            args.extend(["-o", o.as_str()]);
        }
        let (ok, err) = qcc(d, &args);
        assert!(ok, "{model}: {err}");
    }
    let y: [ArrayD<f32>; 2] = [read_npy(&d.join("y.so.npy")), read_npy(&d.join("y.ir.npy"))];
    assert_eq!(y[0], y[1]);
    let m: ArrayD<bool> = read_npy(&d.join("m.so.npy"));
    assert_eq!(m, read_npy::<bool>(&d.join("m.ir.npy")));
    // Row-major, as the caller reads it: element i is x[i] > 0.5.
    assert_eq!(
        m.iter().copied().collect::<Vec<_>>(),
        x.iter().map(|&v| v as f32 > 0.5).collect::<Vec<_>>()
    );
    let am: ArrayD<i64> = read_npy(&d.join("am.so.npy"));
    assert_eq!(am, read_npy::<i64>(&d.join("am.ir.npy")));
    let want: Vec<i64> = (0..12).map(|p| i64::from(x[12 + p] > x[p])).collect();
    assert_eq!(am.iter().copied().collect::<Vec<_>>(), want);
}
