//! The e-graph language: ops whose first child is a leaf carrying their attributes (so rules can
//! bind and test them), constants as content-hashed leaves, model inputs as leaves.

use crate::ir::attr::Attrs;
use crate::ir::op::OpKind;
use crate::ir::types::TensorType;
use egg::{Id, Language};
use runtime::Tensor;
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// An op's attributes and, for quantize, its declared result type, as one leaf. Compared through
/// its canonical text so that it can be hashed (attributes hold floats).
#[derive(Clone, Debug)]
pub struct Meta {
    pub attrs: Attrs,
    /// Only ops whose result type is declared rather than inferred (quantize) carry one.
    pub ty: Option<TensorType>,
    /// An op the user kept as it is (`--keep-float`): no rule pattern matches it.
    pub frozen: bool,
    key: Arc<str>,
}

impl Meta {
    pub fn new(attrs: Attrs, ty: Option<TensorType>) -> Meta {
        Meta::with_frozen(attrs, ty, false)
    }

    /// [`Meta::new`] of an op no rule may rewrite when `frozen` (its class then differs from an
    /// equal op's that rules may rewrite).
    pub fn with_frozen(attrs: Attrs, ty: Option<TensorType>, frozen: bool) -> Meta {
        let mut key = String::new();
        for (k, v) in &attrs {
            key.push_str(&format!("{k}={v};"));
        }
        if let Some(t) = &ty {
            key.push_str(&format!(":{t}"));
        }
        if frozen {
            key.push_str("!frozen");
        }
        Meta {
            attrs,
            ty,
            frozen,
            key: key.into(),
        }
    }
    pub fn key(&self) -> &str {
        &self.key
    }
}

impl PartialEq for Meta {
    fn eq(&self, o: &Self) -> bool {
        self.key == o.key
    }
}
impl Eq for Meta {}
impl Hash for Meta {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.key.hash(h)
    }
}
impl PartialOrd for Meta {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Meta {
    fn cmp(&self, o: &Self) -> Ordering {
        self.key.cmp(&o.key)
    }
}

/// A constant tensor, shared by reference and compared by content: two weights with the same bytes
/// are one e-class. The name is a hint for printing and takes no part in equality.
#[derive(Clone, Debug)]
pub struct Const {
    pub tensor: Arc<Tensor>,
    /// The declared type (quantized weights carry their parameters here).
    pub ty: TensorType,
    pub name: Option<Arc<str>>,
    hash: u64,
    key: Arc<str>,
}

impl Const {
    pub fn new(tensor: Arc<Tensor>, ty: TensorType, name: Option<&str>) -> Const {
        let hash = content_hash(&tensor);
        let key = ty.to_string().into();
        Const {
            tensor,
            ty,
            name: name.map(Into::into),
            hash,
            key,
        }
    }
    pub fn content_hash(&self) -> u64 {
        self.hash
    }
}

impl PartialEq for Const {
    fn eq(&self, o: &Self) -> bool {
        self.hash == o.hash
            && self.key == o.key
            && (Arc::ptr_eq(&self.tensor, &o.tensor) || self.tensor == o.tensor)
    }
}
impl Eq for Const {}
impl Hash for Const {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.hash.hash(h);
        self.key.hash(h);
    }
}
impl PartialOrd for Const {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Const {
    fn cmp(&self, o: &Self) -> Ordering {
        (self.hash, &self.key).cmp(&(o.hash, &o.key)).then_with(|| {
            if self == o {
                Ordering::Equal
            } else {
                self.tensor.to_le_bytes().cmp(&o.tensor.to_le_bytes())
            }
        })
    }
}

/// A model input, by its position in the signature, with its type.
#[derive(Clone, Debug)]
pub struct InputLeaf {
    pub index: usize,
    pub ty: TensorType,
    key: Arc<str>,
}

impl InputLeaf {
    pub fn new(index: usize, ty: TensorType) -> InputLeaf {
        let key = format!("{index}:{ty}").into();
        InputLeaf { index, ty, key }
    }
}
impl PartialEq for InputLeaf {
    fn eq(&self, o: &Self) -> bool {
        self.key == o.key
    }
}
impl Eq for InputLeaf {}
impl Hash for InputLeaf {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.key.hash(h)
    }
}
impl PartialOrd for InputLeaf {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for InputLeaf {
    fn cmp(&self, o: &Self) -> Ordering {
        self.key.cmp(&o.key)
    }
}

/// A hash of a tensor's contents that is the same on every run and machine (std's hasher is
/// randomly keyed): a multiply-xorshift mix over the element bits, in four interleaved lanes
/// (element `i` into lane `i mod 4`, the lanes then mixed together with the tail): one chain of
/// mixes waits on each multiply, and every weight of a model is hashed on its way into each
/// e-graph (75 ms a pass for a recognizer's 48 MiB of weights).
fn content_hash(t: &Tensor) -> u64 {
    let seed = 0xcbf2_9ce4_8422_2325 ^ t.len() as u64;
    match t {
        Tensor::F32(a) => hash_lanes(a, seed, |v| v.to_bits() as u64),
        Tensor::I32(a) => hash_lanes(a, seed ^ 1, |v| v as u32 as u64),
        Tensor::I8(a) => hash_lanes(a, seed ^ 2, |v| v as u8 as u64),
        Tensor::U8(a) => hash_lanes(a, seed ^ 3, u64::from),
        // The other types hash their bytes, salted by the type so equal bytes of two types differ.
        other => {
            let bytes = ndarray::Array1::from(other.to_le_bytes()).into_dyn();
            hash_lanes(&bytes, seed ^ (4 + other.dtype() as u64), u64::from)
        }
    }
}

fn mix(h: u64, v: u64) -> u64 {
    let x = (h ^ v).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    x ^ (x >> 29)
}

/// [`content_hash`]'s lanes over the elements in row-major order.
fn hash_lanes<T: Copy>(a: &ndarray::ArrayD<T>, seed: u64, word: impl Fn(T) -> u64) -> u64 {
    let a = a.as_standard_layout();
    let values = a.as_slice().expect("standard layout");
    let mut lane = [0u64, 1, 2, 3].map(|k| seed.wrapping_add(k));
    let mut quads = values.chunks_exact(4);
    for q in &mut quads {
        for k in 0..4 {
            lane[k] = mix(lane[k], word(q[k]));
        }
    }
    let joined = lane[1..].iter().fold(lane[0], |h, &l| mix(h, l));
    quads
        .remainder()
        .iter()
        .fold(joined, |h, &v| mix(h, word(v)))
}

/// An e-node.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ENode {
    /// `children[0]` is the op's [`ENode::Meta`] leaf; the rest are its operands in order.
    Op(OpKind, Box<[Id]>),
    Meta(Meta),
    Const(Const),
    Input(InputLeaf),
}

/// What distinguishes e-nodes before their children are looked at.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Discriminant {
    Op(OpKind, usize),
    Meta(Arc<str>),
    Const(u64),
    Input(usize),
}

impl ENode {
    pub fn op_kind(&self) -> Option<OpKind> {
        match self {
            ENode::Op(k, _) => Some(*k),
            _ => None,
        }
    }
    /// The operands of an op (its children after the meta leaf).
    pub fn operands(&self) -> &[Id] {
        match self {
            ENode::Op(_, c) => &c[1..],
            _ => &[],
        }
    }
    pub fn meta_id(&self) -> Option<Id> {
        match self {
            ENode::Op(_, c) => Some(c[0]),
            _ => None,
        }
    }
}

impl Language for ENode {
    type Discriminant = Discriminant;

    fn discriminant(&self) -> Discriminant {
        match self {
            ENode::Op(k, c) => Discriminant::Op(*k, c.len()),
            ENode::Meta(m) => Discriminant::Meta(m.key.clone()),
            ENode::Const(c) => Discriminant::Const(c.hash),
            ENode::Input(i) => Discriminant::Input(i.index),
        }
    }

    fn matches(&self, other: &Self) -> bool {
        match (self, other) {
            (ENode::Op(a, x), ENode::Op(b, y)) => a == b && x.len() == y.len(),
            (a, b) => a == b,
        }
    }

    fn children(&self) -> &[Id] {
        match self {
            ENode::Op(_, c) => c,
            _ => &[],
        }
    }

    fn children_mut(&mut self) -> &mut [Id] {
        match self {
            ENode::Op(_, c) => c,
            _ => &mut [],
        }
    }
}

impl fmt::Display for ENode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ENode::Op(k, _) => f.write_str(k.name()),
            ENode::Meta(m) => write!(f, "{{{}}}", m.key),
            ENode::Const(c) => match &c.name {
                Some(n) => write!(f, "@{n}"),
                None => write!(f, "const<{}>", c.ty),
            },
            ENode::Input(i) => write!(f, "input{}", i.index),
        }
    }
}
