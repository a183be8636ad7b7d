//! The IR: types, attributes, the op schema, the graph that holds a model, and its text form.

pub mod attention;
pub mod attr;
pub mod infer;
mod infer_data;
mod literal;
pub mod loss;
pub mod model;
pub mod op;
pub mod parse;
pub mod print;
pub mod suggest;
mod syntax;
pub mod types;
pub mod verify;
pub mod weights;

pub use attr::{Attr, AttrKind, Attrs};
pub use model::{Model, Node, NodeId, NodeKind, WeightData};
pub use op::{schemas, FamilyId, Op, OpKind, OpSchema, CORE_SCHEMAS};
pub use types::{ElemType, QuantType, TensorType};
