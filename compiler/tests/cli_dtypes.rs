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

/// A library's entry passes `const float *` inputs and `float *` outputs, so a model taking
/// token ids or returning arg_max's indices is refused by name before calibrating; the same
/// model still quantizes (the i64 input reaches its gather as it is) and runs in `qcc run`.
#[test]
fn a_library_refuses_ports_that_are_not_f32_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("ids.ir"),
        "model @ids {\n  weight @emb : tensor<10x4xf32> = dense<[0.5, -1.0, 2.0, 0.25, 1.5, -0.5, 1.0, 0.75, 0.5, -1.0, 2.0, 0.25, 1.5, -0.5, 1.0, 0.75, 0.5, -1.0, 2.0, 0.25, 1.5, -0.5, 1.0, 0.75, 0.5, -1.0, 2.0, 0.25, 1.5, -0.5, 1.0, 0.75, 0.5, -1.0, 2.0, 0.25, 1.5, -0.5, 1.0, 0.75]>\n  %ids = input : tensor<1x5xi64>\n  %e = gather(@emb, %ids) {axis = 0} : tensor<1x5x4xf32>\n  %y = relu(%e) : tensor<1x5x4xf32>\n  return %y\n}\n",
    )
    .unwrap();
    std::fs::write(
        d.join("am.ir"),
        "model @am {\n  %x = input : tensor<1x3x4xf32>\n  %r = relu(%x) : tensor<1x3x4xf32>\n  %y = arg_max(%r) {axis = 1, keepdims = false} : tensor<1x4xi64>\n  return %y\n}\n",
    )
    .unwrap();
    let (ok, err) = qcc(d, &["ids.ir", "-o", "ids.so"]);
    assert!(!ok);
    assert!(
        err.contains("input %ids is tensor<1x5xi64>") && err.contains("const float *"),
        "{err}"
    );
    let (ok, err) = qcc(d, &["am.ir", "-o", "am.so"]);
    assert!(!ok);
    assert!(
        err.contains("output %y is tensor<1x4xi64>") && err.contains("float *"),
        "{err}"
    );
    let (ok, err) = qcc(
        d,
        &["ids.ir", "--emit", "int", "-o", "ids.int.ir", "--explain"],
    );
    assert!(ok, "{err}");
    // --explain says why the gather stays float: its indices, not codes.
    assert!(
        err.contains("gather %e: it reads %ids, i64 values (indices or a mask)"),
        "{err}"
    );
}
