//! What a compiled library looks like from outside: its inputs, outputs, scratch size and the CPU
//! features it needs (the data behind `model.h` and `NAME_model_json`).

/// One input or output: f32, NCHW as in the IR.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Port {
    pub name: String,
    pub shape: Vec<usize>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interface {
    pub prefix: String,
    pub model_name: String,
    pub inputs: Vec<Port>,
    pub outputs: Vec<Port>,
    pub scratch_size: usize,
    pub features: Vec<String>,
    pub target: String,
    pub weight_bits: u8,
    pub qcc_version: String,
}
