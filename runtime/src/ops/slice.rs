//! Slice: a strided copy, generic over the element type (floats and codes alike). The
//! attributes arrive normalized (docs/ir.md, `slice`): per sliced axis a first index in range,
//! an exclusive end in `[-1, len]` and a non-zero step, which may be negative.

use ndarray::{ArrayD, Slice};

/// One axis of a slice: the elements `start, start + step, …`, `len` of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SliceAxis {
    pub start: usize,
    pub step: i64,
    pub len: usize,
}

impl SliceAxis {
    /// The whole axis of length `len`.
    pub fn full(len: usize) -> SliceAxis {
        SliceAxis {
            start: 0,
            step: 1,
            len,
        }
    }

    /// The axis `start..end` by `step` of an axis of length `dim`, once clamped (ONNX Slice
    /// after normalization): `None` when the bounds are outside what normalization produces.
    pub fn new(dim: usize, start: i64, end: i64, step: i64) -> Option<SliceAxis> {
        let len = slice_len(start, end, step)?;
        let fits = if step > 0 {
            start >= 0 && end <= dim as i64 && (len == 0 || start < dim as i64)
        } else {
            end >= -1 && (len == 0 || (start < dim as i64 && start >= 0))
        };
        fits.then_some(SliceAxis {
            start: start.max(0) as usize,
            step,
            len,
        })
    }

    /// The input index of output element `i`.
    pub fn index(&self, i: usize) -> usize {
        (self.start as i64 + self.step * i as i64) as usize
    }
}

/// How many elements `start..end` by `step` has: `max(0, ⌈(end − start)/step⌉)`; `None` for a
/// zero step.
pub fn slice_len(start: i64, end: i64, step: i64) -> Option<usize> {
    if step == 0 {
        return None;
    }
    let span = if step > 0 { end - start } else { start - end };
    let step = step.unsigned_abs() as i64;
    Some(if span <= 0 {
        0
    } else {
        ((span + step - 1) / step) as usize
    })
}

/// Output element `i` is input element `axes[d].index(i_d)` along every axis `d`.
pub fn slice<T: Clone>(x: &ArrayD<T>, axes: &[SliceAxis]) -> ArrayD<T> {
    assert_eq!(
        axes.len(),
        x.ndim(),
        "slice: {} axes given for {:?}",
        axes.len(),
        x.shape()
    );
    for (d, a) in axes.iter().enumerate() {
        let last = a.start as i64 + a.step * (a.len as i64 - 1);
        assert!(
            a.len == 0 || (a.start < x.shape()[d] && last >= 0 && last < x.shape()[d] as i64),
            "slice: {a:?} leaves axis {d} of {:?}",
            x.shape()
        );
    }
    // ndarray takes [lo, hi) and, for a negative step, walks it from the back: the same elements.
    let view = x.slice_each_axis(|ax| {
        let a = axes[ax.axis.index()];
        if a.len == 0 {
            return Slice::new(0, Some(0), 1);
        }
        let last = a.start as i64 + a.step * (a.len as i64 - 1);
        let (lo, hi) = (a.start.min(last as usize), a.start.max(last as usize));
        Slice::new(lo as isize, Some(hi as isize + 1), a.step as isize)
    });
    let shape: Vec<usize> = axes.iter().map(|a| a.len).collect();
    ArrayD::from_shape_vec(ndarray::IxDyn(&shape), view.iter().cloned().collect())
        .expect("slice: element count matches the shape")
}
