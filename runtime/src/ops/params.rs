//! Parameter structs shared by the op kernels: the resolved, explicit form of IR attributes.

/// 2-D convolution geometry. `pads` is ONNX order: `[top, left, bottom, right]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConvParams {
    pub strides: [usize; 2],
    pub pads: [usize; 4],
    pub dilations: [usize; 2],
    pub groups: usize,
}

impl Default for ConvParams {
    fn default() -> Self {
        ConvParams {
            strides: [1, 1],
            pads: [0; 4],
            dilations: [1, 1],
            groups: 1,
        }
    }
}

/// 2-D transposed convolution geometry (ONNX ConvTranspose with explicit pads).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConvTransposeParams {
    pub strides: [usize; 2],
    pub pads: [usize; 4],
    pub dilations: [usize; 2],
    pub groups: usize,
    pub output_padding: [usize; 2],
}

impl ConvTransposeParams {
    /// The output length along spatial axis `axis` (0: rows, 1: columns) for an input `len`
    /// long and a kernel `k` long ([`super::geometry::conv_transpose_out_len`]).
    pub fn out_len(&self, axis: usize, len: usize, k: usize) -> Option<usize> {
        super::geometry::conv_transpose_out_len(
            len,
            k,
            self.strides[axis],
            (self.pads[axis], self.pads[axis + 2]),
            self.dilations[axis],
            self.output_padding[axis],
        )
    }
}

impl Default for ConvTransposeParams {
    fn default() -> Self {
        ConvTransposeParams {
            strides: [1, 1],
            pads: [0; 4],
            dilations: [1, 1],
            groups: 1,
            output_padding: [0, 0],
        }
    }
}

/// 2-D pooling window. `pads` is ONNX order: `[top, left, bottom, right]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolParams {
    pub kernel: [usize; 2],
    pub strides: [usize; 2],
    pub pads: [usize; 4],
    pub dilations: [usize; 2],
    pub ceil_mode: bool,
}

/// Elementwise binary arithmetic with numpy/ONNX broadcasting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    /// The larger operand; NaN when either is NaN (numpy's `maximum`).
    Max,
    /// The smaller operand; NaN when either is NaN (numpy's `minimum`).
    Min,
}

/// Affine quantization parameters `r = scale·(q − zero_point)`: one pair per tensor
/// (`axis == None`, one-element vectors) or one per slice along `axis`.
#[derive(Clone, Debug, PartialEq)]
pub struct QuantParams {
    pub scales: Vec<f32>,
    pub zero_points: Vec<i32>,
    pub axis: Option<usize>,
}
