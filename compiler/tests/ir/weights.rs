//! The `.safetensors` beside an IR file. The canonical fixtures with external weights get a file
//! from the generator in `support` (no binary fixtures in the repository); the fixtures of
//! `tests/ir/weights_err/` describe the file they need in comments, and their errors are
//! snapshots (with the temporary directory shown as `$DIR`).

use super::support::{
    described_file, dump, fixtures, pattern_tensor, safetensors_for, snapshot_settings, source,
    without_comment_lines,
};
use qcc::ir::parse::parse;
use qcc::ir::print::print;
use qcc::ir::weights::{load_weights, read_model, save_model};
use qcc::ir::{Model, NodeKind, WeightData};
use std::path::Path;

fn files_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn external_count(m: &Model) -> usize {
    m.graph
        .node_weights()
        .filter(|n| {
            matches!(
                n.kind,
                NodeKind::Weight(WeightData::External | WeightData::Loaded(_))
            )
        })
        .count()
}

/// One canonical fixture with its generated weights: read, check every tensor, save, read back,
/// and save again to the same bytes.
fn check_files(stem: &str, text: &str) {
    let parsed = parse(&source("ok", stem, text)).expect("canonical fixtures parse");
    let Some(file) = parsed.weights_file.clone() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let ir = dir.path().join(format!("{stem}.ir"));
    std::fs::write(&ir, text).expect("write");
    std::fs::write(dir.path().join(&file), safetensors_for(&parsed)).expect("write");

    let model = read_model(&ir).unwrap_or_else(|e| panic!("{stem}: {e}"));
    for id in model.weights() {
        let n = model.node(id);
        match &n.kind {
            NodeKind::Weight(WeightData::Loaded(t)) => {
                assert_eq!(
                    t.to_le_bytes(),
                    pattern_tensor(&n.ty).to_le_bytes(),
                    "{stem}: @{}",
                    n.name
                );
                assert_eq!(t.shape(), n.ty.shape.as_slice());
            }
            NodeKind::Weight(WeightData::Inline(_)) => {}
            other => panic!("{stem}: @{} is {other:?} after loading", n.name),
        }
    }

    let out = tempfile::tempdir().expect("tempdir");
    let saved = out.path().join("saved.ir");
    save_model(&model, &saved).unwrap_or_else(|e| panic!("{stem}: {e}"));
    assert_eq!(
        files_in(out.path()),
        ["saved.ir", "saved.safetensors"],
        "{stem}: stray files"
    );
    let want = without_comment_lines(text).replace(
        &format!("weights {file:?}"),
        "weights \"saved.safetensors\"",
    );
    assert_eq!(
        std::fs::read_to_string(&saved).expect("read"),
        want,
        "{stem}: saved text"
    );
    let back = read_model(&saved).unwrap_or_else(|e| panic!("{stem}: {e}"));
    let mut expected = dump(&model);
    expected[0] = expected[0].replace(&format!("{file:?}"), "\"saved.safetensors\"");
    assert_eq!(
        dump(&back),
        expected,
        "{stem}: saved model reads back differently"
    );

    let again = tempfile::tempdir().expect("tempdir");
    save_model(&back, &again.path().join("saved.ir")).expect("save again");
    for f in ["saved.ir", "saved.safetensors"] {
        let a = std::fs::read(out.path().join(f)).expect("read");
        let b = std::fs::read(again.path().join(f)).expect("read");
        assert!(
            a == b,
            "{stem}: {f} differs between two saves of the same model"
        );
    }
}

#[test]
fn canonical_fixtures_load_save_and_reload() {
    let mut with_files = 0;
    for (stem, text) in fixtures("ok") {
        check_files(&stem, &text);
        with_files += usize::from(text.contains(" weights \""));
    }
    assert!(with_files >= 2, "too few fixtures with a weights file");
}

#[test]
fn a_model_with_only_inline_weights_saves_one_file() {
    let (stem, text) = fixtures("ok")
        .into_iter()
        .find(|(s, _)| s == "inline_weights")
        .expect("fixture");
    let model = parse(&source("ok", &stem, &text)).expect("parses");
    assert_eq!(external_count(&model), 0);
    let out = tempfile::tempdir().expect("tempdir");
    save_model(&model, &out.path().join("m.ir")).expect("save");
    assert_eq!(files_in(out.path()), ["m.ir"]);
    assert_eq!(
        std::fs::read_to_string(out.path().join("m.ir")).expect("read"),
        print(&model)
    );
}

#[test]
fn saving_unloaded_weights_fails_and_writes_nothing() {
    let (stem, text) = fixtures("ok")
        .into_iter()
        .find(|(s, _)| s == "tiny")
        .expect("fixture");
    let model = parse(&source("ok", &stem, &text)).expect("parses");
    let out = tempfile::tempdir().expect("tempdir");
    let err = save_model(&model, &out.path().join("m.ir")).expect_err("weights were never loaded");
    assert!(err.to_string().contains("@conv1.bias"), "{err}");
    assert!(
        files_in(out.path()).is_empty(),
        "a failed save left {:?}",
        files_in(out.path())
    );
}

#[test]
fn saving_replaces_existing_files() {
    let (stem, text) = fixtures("ok")
        .into_iter()
        .find(|(s, _)| s == "tiny")
        .expect("fixture");
    let mut model = parse(&source("ok", &stem, &text)).expect("parses");
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("tiny.safetensors"), safetensors_for(&model)).expect("write");
    load_weights(&mut model, &dir.path().join("tiny.ir")).expect("load");
    let target = dir.path().join("m.ir");
    std::fs::write(&target, "stale").expect("write");
    std::fs::write(dir.path().join("m.safetensors"), "stale").expect("write");
    save_model(&model, &target).expect("save");
    assert_eq!(
        files_in(dir.path()),
        ["m.ir", "m.safetensors", "tiny.safetensors"]
    );
    let back = read_model(&target).expect("read back");
    assert_eq!(
        print(&back),
        print(&model).replace("tiny.safetensors", "m.safetensors")
    );
}

/// One weight-file error fixture: both renderings of the failure, with spans (`read_model`) and
/// as a message (`load_weights`), are a snapshot.
fn check_weight_error(stem: &str, text: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let ir = dir.path().join(format!("{stem}.ir"));
    std::fs::write(&ir, text).expect("write");
    let mut model = parse(&source("weights_err", stem, text)).expect("weight error fixtures parse");
    if let (Some(bytes), Some(file)) = (described_file(text), &model.weights_file) {
        std::fs::write(dir.path().join(file), bytes).expect("write");
    }
    let read = read_model(&ir).expect_err("reading must fail").to_string();
    let load = load_weights(&mut model, &ir)
        .expect_err("loading must fail")
        .to_string();
    assert!(
        model
            .graph
            .node_weights()
            .all(|n| !matches!(n.kind, NodeKind::Weight(WeightData::Loaded(_)))),
        "{stem}: a failed load changed the model"
    );
    let shown = format!("read_model:\n{read}\n\nload_weights:\n{load}\n");
    let shown = shown.replace(&dir.path().display().to_string(), "$DIR");
    snapshot_settings("weights_err", stem)
        .bind(|| insta::assert_snapshot!(format!("ir_weights_err__{stem}"), shown));
}

#[test]
fn weight_file_errors_name_the_weight_and_both_sides() {
    for (stem, text) in fixtures("weights_err") {
        check_weight_error(&stem, &text);
    }
}
