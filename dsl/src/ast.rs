//! The syntax tree of a rules file: what the parser builds, the checker reads, the printer writes
//! and the compiler lowers. Every node carries the byte span of its text; no pest type appears here.
//!
//! Three trees with three jobs: a [`Pattern`] only matches (ops, variables, literal attributes),
//! an [`Expr`] only computes (no ops inside), and a [`Term`] is the replacement: an op tree whose
//! leaves are expressions.

use std::fmt;

/// A byte range in the source text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Span {
        Span { start, end }
    }
    /// The smallest span covering both.
    pub fn to(self, other: Span) -> Span {
        Span {
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }
}

/// A name and where it was written.
#[derive(Clone, Debug, PartialEq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

impl Ident {
    /// `_` and `_name` mark a binding that is meant to go unused.
    pub fn is_ignored(&self) -> bool {
        self.name.starts_with('_')
    }
}

/// A parsed `.rules` file. It keeps its name and text so that diagnostics can point into it.
#[derive(Clone, Debug, PartialEq)]
pub struct RuleFile {
    pub file_name: String,
    pub source: String,
    /// `phase …` at the top of the file, if written.
    pub phase: Option<PhaseDecl>,
    pub rules: Vec<Rule>,
    /// Every `//` comment, in source order; only the printer reads them.
    pub comments: Vec<Comment>,
}

impl RuleFile {
    /// The stages the file's rules run in: as declared, or only [`Phase::Simplify`].
    pub fn phases(&self) -> Vec<Phase> {
        self.phase
            .as_ref()
            .map_or(vec![Phase::Simplify], |p| p.phases.clone())
    }
}

/// A pipeline stage that rewrites with rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Phase {
    /// Float IR to float IR, before quantization.
    Simplify,
    /// The quantizer's QDQ IR to the integer dialect.
    Lower,
}

impl Phase {
    pub const ALL: [Phase; 2] = [Phase::Simplify, Phase::Lower];

    pub fn name(self) -> &'static str {
        match self {
            Phase::Simplify => "simplify",
            Phase::Lower => "lower",
        }
    }

    pub fn from_name(s: &str) -> Option<Phase> {
        Phase::ALL.into_iter().find(|p| p.name() == s)
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// `phase simplify, lower`: which stages run the file's rules.
#[derive(Clone, Debug, PartialEq)]
pub struct PhaseDecl {
    /// In the order written, without repeats.
    pub phases: Vec<Phase>,
    pub span: Span,
}

/// A `//` comment (doc comments belong to their rule instead).
#[derive(Clone, Debug, PartialEq)]
pub struct Comment {
    /// The text after `//`, trailing whitespace removed.
    pub text: String,
    pub span: Span,
    /// Code precedes it on its line.
    pub trailing: bool,
    /// An empty line follows it.
    pub blank_after: bool,
}

/// `/// …` lines above a rule: the algebra the rule implements.
#[derive(Clone, Debug, PartialEq)]
pub struct Doc {
    /// The text after each `///`, trailing whitespace removed.
    pub lines: Vec<String>,
    pub span: Span,
}

impl Doc {
    pub fn is_blank(&self) -> bool {
        self.lines.iter().all(|l| l.trim().is_empty())
    }
}

/// `rule name { match … where … let … => … tolerance … }`.
#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    pub doc: Option<Doc>,
    pub name: Ident,
    pub pattern: OpPattern,
    /// Guards and lets in source order: each sees the pattern and the lets above it.
    pub clauses: Vec<Clause>,
    pub replacement: Term,
    pub tolerance: Option<ToleranceClause>,
    /// From the doc comment (or `rule`) to the closing `}`.
    pub span: Span,
    /// `rule name {`.
    pub header_span: Span,
    /// `match pattern`.
    pub match_span: Span,
    /// `=> replacement`.
    pub replacement_span: Span,
}

impl Rule {
    /// The tolerance `qcc rules check` uses: the clause's, or `rel 1e-5`.
    pub fn tolerance(&self) -> Tolerance {
        self.tolerance
            .as_ref()
            .map(|t| t.tolerance)
            .unwrap_or(Tolerance::DEFAULT)
    }
    /// The closing brace.
    pub fn close_span(&self) -> Span {
        Span::new(self.span.end.saturating_sub(1), self.span.end)
    }
}

/// `where g1, g2` (all must hold) or `let name = value`.
#[derive(Clone, Debug, PartialEq)]
pub enum Clause {
    Where {
        guards: Vec<Expr>,
        span: Span,
    },
    Let {
        name: Ident,
        value: Expr,
        span: Span,
    },
}

impl Clause {
    pub fn span(&self) -> Span {
        match self {
            Clause::Where { span, .. } | Clause::Let { span, .. } => *span,
        }
    }
}

/// How closely both sides of a rule must agree when `qcc rules check` runs them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Tolerance {
    /// Bit for bit.
    Exact,
    /// `|lhs − rhs| ≤ rel · max(|lhs|, |rhs|)` element-wise.
    Rel(f64),
    /// Integer results differ by at most this many steps of the last bit.
    Lsb(u64),
}

impl Tolerance {
    pub const DEFAULT: Tolerance = Tolerance::Rel(1e-5);
}

#[derive(Clone, Debug, PartialEq)]
pub struct ToleranceClause {
    pub tolerance: Tolerance,
    pub span: Span,
}

// ---------------------------------------------------------------------------------------------
// Patterns

/// One operand position of a pattern.
#[derive(Clone, Debug, PartialEq)]
pub enum Pattern {
    /// A nested op application.
    Op(OpPattern),
    /// Binds whatever value is there (`_name` binds without requiring a use).
    Var(Ident),
    /// `_`: matches anything, binds nothing.
    Wildcard(Span),
}

impl Pattern {
    pub fn span(&self) -> Span {
        match self {
            Pattern::Op(p) => p.span,
            Pattern::Var(v) => v.span,
            Pattern::Wildcard(s) => *s,
        }
    }
}

/// `name = op(operands…) {attributes}`: matches a node of `op` with exactly these operands.
#[derive(Clone, Debug, PartialEq)]
pub struct OpPattern {
    /// `c = conv2d(…)`: names the op's result (for `single_use(c)`, `scale(c)`, or to reuse it).
    pub name: Option<Ident>,
    pub op: Ident,
    pub operands: Vec<Pattern>,
    pub attrs: Option<AttrPatterns>,
    /// The op application, without the result name.
    pub span: Span,
}

/// `{conv, epsilon: eps, groups: 1}`.
#[derive(Clone, Debug, PartialEq)]
pub struct AttrPatterns {
    /// `conv`: binds the op's whole attribute dictionary (always written first).
    pub dict: Option<Ident>,
    pub entries: Vec<AttrPattern>,
    pub span: Span,
}

/// `name: value` in a pattern.
#[derive(Clone, Debug, PartialEq)]
pub struct AttrPattern {
    pub name: Ident,
    pub value: AttrPatternValue,
    pub span: Span,
}

/// What a pattern says about one attribute. Every one but `Absent` requires it to be present.
#[derive(Clone, Debug, PartialEq)]
pub enum AttrPatternValue {
    /// `none`: the attribute is absent (an optional attribute without a default).
    Absent(Span),
    /// Binds the attribute's value to a variable.
    Bind(Ident),
    /// `_`: the attribute is present, with any value.
    Wildcard(Span),
    /// The attribute equals this literal.
    Literal(Literal),
}

/// A literal in an attribute pattern: a number, a boolean, a list of numbers or a string
/// (`fn: "sqrt"`, the function of a `unary`).
#[derive(Clone, Debug, PartialEq)]
pub struct Literal {
    pub kind: LiteralKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum LiteralKind {
    Int(i64),
    Float(f64),
    Bool(bool),
    List(Vec<Literal>),
    Str(String),
}

// ---------------------------------------------------------------------------------------------
// The replacement

/// A node of the replacement tree.
#[derive(Clone, Debug, PartialEq)]
pub enum Term {
    /// A new op node.
    Op(OpTerm),
    /// A variable (an existing value: `=> q`) or a constant computed by an expression.
    Expr(Expr),
}

impl Term {
    pub fn span(&self) -> Span {
        match self {
            Term::Op(o) => o.span,
            Term::Expr(e) => e.span,
        }
    }
}

/// `op(operands…) {attributes} : type`.
#[derive(Clone, Debug, PartialEq)]
pub struct OpTerm {
    pub op: Ident,
    pub operands: Vec<Term>,
    pub attrs: Option<AttrTerms>,
    /// The element type of the result, when the op cannot infer it (quantized results).
    pub ty: Option<TypeAnn>,
    pub span: Span,
}

/// `{conv, pads: p2}`: the attributes of a new op.
#[derive(Clone, Debug, PartialEq)]
pub struct AttrTerms {
    /// A dictionary bound by the pattern, copied over first (always written first).
    pub splice: Option<Ident>,
    /// Set after the splice: these override its entries.
    pub entries: Vec<AttrTerm>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct AttrTerm {
    pub name: Ident,
    pub value: Expr,
    pub span: Span,
}

/// `: f32`, `: quant(u8, s, z)`, `: quant(i8, s, z, axis: 0)`, `: type(y)`.
#[derive(Clone, Debug, PartialEq)]
pub struct TypeAnn {
    pub kind: TypeAnnKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum TypeAnnKind {
    /// A plain element type.
    Plain(DType),
    /// `r = scale·(q − zero_point)` stored as `storage`; per axis when `axis` is given, and then
    /// `scale` and `zero_point` are vectors along that axis.
    Quant {
        storage: DType,
        scale: Box<Expr>,
        zero_point: Box<Expr>,
        axis: Option<Box<Expr>>,
    },
    /// The element type of a value bound by the pattern (quantization parameters included).
    Like(Ident),
}

/// The element types a rule can name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DType {
    F32,
    I8,
    U8,
    /// The codes of an activation given 16 bits (`--activation-bits-for`).
    I16,
    I32,
}

impl DType {
    pub fn name(self) -> &'static str {
        match self {
            DType::F32 => "f32",
            DType::I8 => "i8",
            DType::U8 => "u8",
            DType::I16 => "i16",
            DType::I32 => "i32",
        }
    }
    pub fn from_name(s: &str) -> Option<DType> {
        match s {
            "f32" => Some(DType::F32),
            "i8" => Some(DType::I8),
            "u8" => Some(DType::U8),
            "i16" => Some(DType::I16),
            "i32" => Some(DType::I32),
            _ => None,
        }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

// ---------------------------------------------------------------------------------------------
// Expressions

/// A computation on constants, shapes, types and attributes: guards, lets, attribute values and
/// the arithmetic leaves of a replacement. Never contains an op.
#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    Var(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    /// A string in double quotes, without escapes: compared with a string attribute, or given
    /// to one (`fn: "gelu_tanh"`).
    Str(String),
    DType(DType),
    List(Vec<Expr>),
    Unary {
        op: UnaryOp,
        operand: Box<Expr>,
    },
    Binary {
        op: BinaryOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    /// A builtin function (see `builtins.rs`).
    Call {
        func: Ident,
        args: Vec<Expr>,
    },
    /// `base[index]`: one element of a list or a 1-D value.
    Index {
        base: Box<Expr>,
        index: Box<Expr>,
    },
    /// `base[1, :, 1, 1]`: the vector `base` reshaped to `rank` dimensions, all of size 1 except
    /// `axis`, which carries the data; it then broadcasts against a rank-`rank` tensor.
    Broadcast {
        base: Box<Expr>,
        axis: usize,
        rank: usize,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnaryOp {
    Neg,
    Not,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryOp {
    Or,
    And,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Add,
    Sub,
    Mul,
    Div,
}

impl UnaryOp {
    pub fn symbol(self) -> &'static str {
        match self {
            UnaryOp::Neg => "-",
            UnaryOp::Not => "!",
        }
    }
}

impl BinaryOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinaryOp::Or => "||",
            BinaryOp::And => "&&",
            BinaryOp::Eq => "==",
            BinaryOp::Ne => "!=",
            BinaryOp::Lt => "<",
            BinaryOp::Le => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::Ge => ">=",
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
        }
    }
    /// Binding strength: higher binds tighter. Comparisons do not chain.
    pub fn precedence(self) -> u8 {
        match self {
            BinaryOp::Or => 1,
            BinaryOp::And => 2,
            BinaryOp::Eq
            | BinaryOp::Ne
            | BinaryOp::Lt
            | BinaryOp::Le
            | BinaryOp::Gt
            | BinaryOp::Ge => 3,
            BinaryOp::Add | BinaryOp::Sub => 4,
            BinaryOp::Mul | BinaryOp::Div => 5,
        }
    }
    pub fn is_comparison(self) -> bool {
        self.precedence() == 3
    }
}
