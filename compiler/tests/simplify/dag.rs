//! DAG-aware extraction. `tests/simplify/dag/relu_of_negation.ir` returns relu(a) and relu(−a)
//! of a conv a; its rule offers relu(−a) = relu(a) − a. Costed as a tree, that alternative pays
//! a's conv a second time, so egg's tree extractor keeps relu(mul(a, −1)); costed as a DAG, a and
//! relu(a) are paid already and the subtraction wins. The conv must appear once.

use super::support::{check, count, fixture};
use egg::{CostFunction, Extractor, Id, Language, Runner, SimpleScheduler};
use qcc::egraph::analysis::QGraph;
use qcc::egraph::convert::to_egraph;
use qcc::egraph::cost::node_cost;
use qcc::egraph::extract::extract;
use qcc::egraph::lang::ENode;
use qcc::egraph::saturate::Limits;
use qcc::ir::OpKind;
use qcc::rules::RuleSet;

/// The same per-node cost as qcc's extractor, summed over the tree: a shared subterm is paid once
/// per path.
struct TreeCost<'a>(&'a QGraph);

impl CostFunction<ENode> for TreeCost<'_> {
    type Cost = f64;
    fn cost<C: FnMut(Id) -> f64>(&mut self, enode: &ENode, mut costs: C) -> f64 {
        node_cost(self.0, enode) + enode.children().iter().map(|&c| costs(c)).sum::<f64>()
    }
}

fn rules() -> RuleSet {
    let name = "tests/simplify/dag/relu_of_negation.rules";
    let text = std::fs::read_to_string(fixture("dag/relu_of_negation.rules"))
        .expect("the rule file reads");
    RuleSet::builtin_and(&[(name.to_string(), text)]).expect("the rules load")
}

#[test]
fn dag_extraction_shares_what_tree_extraction_pays_twice() {
    let rules = rules();
    let c = check(
        "dag_relu_of_negation",
        "dag/relu_of_negation.ir",
        &rules,
        &Limits::default(),
    );
    assert_eq!(c.report.fired.get("relu-of-negation"), Some(&1));
    assert_eq!(
        count(&c.output, OpKind::Conv2d),
        1,
        "the conv is computed twice"
    );
    let m = c.output.node(c.output.outputs[1]);
    assert_eq!(
        m.op().map(|o| o.kind),
        Some(OpKind::Sub),
        "relu(−a) should have become relu(a) − a"
    );
    assert_eq!(count(&c.output, OpKind::Mul), 0);

    // The same saturated e-graph, extracted both ways.
    let loaded = to_egraph(&c.input).expect("the fixture loads into an e-graph");
    let runner = Runner::default()
        .with_egraph(loaded.egraph)
        .with_scheduler(SimpleScheduler)
        .run(&rules.rewrites());
    let eg = runner.egraph;
    let root = eg.find(loaded.roots[1]);
    let kind_below = |node: &ENode, pick: &dyn Fn(Id) -> ENode| {
        node.operands().first().and_then(|&o| pick(o).op_kind())
    };

    let tree = Extractor::new(&eg, TreeCost(&eg));
    let tree_root = tree.find_best_node(root).clone();
    assert_eq!(
        tree_root.op_kind(),
        Some(OpKind::Relu),
        "tree extraction chose {tree_root:?}"
    );
    assert_eq!(
        kind_below(&tree_root, &|id| tree.find_best_node(id).clone()),
        Some(OpKind::Mul)
    );

    let roots: Vec<Id> = loaded.roots.iter().map(|&r| eg.find(r)).collect();
    let (choice, _) = extract(&eg, &roots).expect("a finite extraction");
    assert_eq!(
        choice.node[&root].op_kind(),
        Some(OpKind::Sub),
        "DAG extraction chose {:?}",
        choice.node[&root]
    );
}
