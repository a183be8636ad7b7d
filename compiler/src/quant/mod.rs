//! Quantization: observing activation ranges on calibration data (or deriving them without
//! data), and choosing the scales and zero points of activations, weights and biases.

pub mod bias_correction;
pub mod calibrate;
pub mod data_free;
pub mod descent;
pub mod equalize;
pub mod histogram;
pub mod layerwise;
pub mod moments;
pub mod observe;
pub mod params;
pub mod qdq;
pub mod ranges;
pub mod report;
pub mod rounding;
pub mod simulate;
pub mod target;
pub mod why_float;
pub mod window;

pub use bias_correction::{BiasCorrection, Means};
pub use calibrate::{calibrate, calibrate_with_means};
pub use data_free::{data_free_means, data_free_ranges, DEFAULT_INPUT_RANGE};
pub use observe::{Method, Observer};
pub use params::{Chosen, Params, Warning, WeightBits};
pub use ranges::Ranges;
