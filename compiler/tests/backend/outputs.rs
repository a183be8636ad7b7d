//! Outputs that no kernel writes (issue 15, finding 1): a model may return a weight (a constant
//! output, valid ONNX), an input, or one value twice. Each compiles on every tier and the library
//! returns what the interpreter returns, bit for bit.

use super::support::{assert_exact, build, integer};
use qcc::diag::Source;
use qcc::quant::WeightBits;
use runtime::Tensor;

const MODEL: &str = "model @consts {
  weight @k : tensor<1x2x1x1xf32> = dense<[0.5, -2.0]>
  weight @w : tensor<2x2x1x1xf32> = dense<[1.0, -0.5, 0.25, 2.0]>
  %x = input : tensor<1x2x3x3xf32>
  %c = conv2d(%x, @w) : tensor<1x2x3x3xf32>
  %r = relu(%c) : tensor<1x2x3x3xf32>
  return %r, @k, %x, @k, %r
}";

#[test]
fn weights_inputs_and_repeated_values_as_outputs() {
    let float = qcc::ir::parse::parse(&Source {
        name: "consts.ir".into(),
        text: MODEL.into(),
    })
    .expect("the model parses");
    let x = ndarray::Array::from_shape_fn(vec![1, 2, 3, 3], |i| {
        (i[1] * 9 + i[2] * 3 + i[3]) as f32 * 0.25 - 2.0
    });
    let calib = x.clone().insert_axis(ndarray::Axis(0));
    let int = integer(&float, &[calib], WeightBits::Eight);
    assert_eq!(int.outputs.len(), 5);
    for target in ["x86-64-v2", "x86-64-v3", "native"] {
        let lib = build(&int, target);
        assert_exact(
            &format!("constant outputs ({target})"),
            &int,
            &lib,
            &[Tensor::F32(x.clone())],
        );
        let k = &lib.run(&[Tensor::F32(x.clone())], 0x5A)[1];
        assert_eq!(k, &[0.5, -2.0]);
    }
}
