//! Quantization: observing activation ranges on calibration data (or deriving them without
//! data), and choosing the scales and zero points of activations, weights and biases.

pub mod calibrate;
pub mod data_free;
pub mod histogram;
pub mod moments;
pub mod observe;
pub mod params;
pub mod qdq;
pub mod ranges;
pub mod report;
pub mod window;

pub use calibrate::calibrate;
pub use data_free::{data_free_ranges, DEFAULT_INPUT_RANGE};
pub use observe::{Method, Observer};
pub use params::{Chosen, Params, Warning, WeightBits};
pub use ranges::Ranges;
