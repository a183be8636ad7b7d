//! qcc's rule language: graph rewrites written as declarative rules in `.rules` files.
//!
//! The front end only: grammar → parser → AST → semantic check → canonical printer, one file each,
//! with every error collected and reported with its span. The crate knows nothing of the compiler:
//! the ops a rule may name come through [`Vocabulary`]; lowering rules to e-graph rewrites is the
//! compiler's job. See `docs/dsl.md` for the language itself.
//!
//! ```
//! struct Ops;
//! impl dsl::Vocabulary for Ops {
//!     fn op_arity(&self, op: &str) -> Option<(usize, usize)> {
//!         (op == "relu").then_some((1, 1))
//!     }
//!     fn has_attr(&self, _op: &str, _attr: &str) -> bool {
//!         false
//!     }
//! }
//! let text = "/// relu(relu(x)) = relu(x)\nrule relu-idempotent {\n  match relu(r = relu(_x))\n  => r\n}\n";
//! let file = dsl::parse_and_check("relu.rules", text, &Ops).unwrap();
//! assert_eq!(dsl::print(&file), text);
//! ```

pub mod ast;
pub mod builtins;
mod check;
mod diag;
mod parser;
mod printer;
mod syntax_error;
mod window;

pub use check::{check, is_kebab_case};
pub use diag::{Diagnostic, Diagnostics};
pub use parser::{parse, MAX_EXPR_DEPTH, MAX_NESTING};
pub use printer::{print, print_expr};

/// The ops the compiler knows: the only thing this crate needs to know about it.
pub trait Vocabulary {
    /// (min, max) operand count of an op, None if the op is unknown. max = usize::MAX for variadic.
    fn op_arity(&self, op: &str) -> Option<(usize, usize)>;
    /// Whether `attr` is an attribute of `op`.
    fn has_attr(&self, op: &str, attr: &str) -> bool;
    /// Every attribute of `op`, when the vocabulary can list them. A dictionary bound on one op
    /// may be spliced onto another kind whose attributes include all of the first's (`{conv}` from
    /// a `conv2d` onto the `qconv2d` that replaces it).
    fn attrs_of(&self, _op: &str) -> Option<Vec<String>> {
        None
    }
}

/// Parses and checks a rules file: syntax errors, or else every semantic error at once.
pub fn parse_and_check(
    file_name: &str,
    text: &str,
    vocab: &dyn Vocabulary,
) -> Result<ast::RuleFile, Diagnostics> {
    let file = parse(file_name, text)?;
    check(&file, vocab)?;
    Ok(file)
}
