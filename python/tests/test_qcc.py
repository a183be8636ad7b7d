"""The qcc Python package as a user meets it: compile from a path or an onnx.ModelProto with
numpy calibration data, run on numpy arrays, save and load, errors that name the problem.
Run by scripts/test.sh after `pip install ./python` (QCC_TEST_MODELS points at the generated
test models; the bundled digits example is always there)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

import qcc

ROOT = Path(__file__).resolve().parents[2]
DIGITS = ROOT / "examples" / "digits"
MODELS = Path(os.environ["QCC_TEST_MODELS"]) if os.environ.get("QCC_TEST_MODELS") else None


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    return np.load(DIGITS / "test_images.npy")


@pytest.fixture(scope="module")
def labels() -> np.ndarray:
    return np.array([int(l) for l in (DIGITS / "test_labels.txt").read_text().split()])


@pytest.fixture(scope="module")
def digits(images) -> qcc.Library:
    return qcc.compile(DIGITS / "digits.onnx", images[:64])


def sqnr_db(ref: np.ndarray, x: np.ndarray) -> float:
    noise = np.sum((ref.astype(np.float64) - x) ** 2)
    return float("inf") if noise == 0 else 10 * np.log10(np.sum(ref.astype(np.float64) ** 2) / noise)


def test_a_compiled_model_classifies_like_the_float_one(digits, images, labels):
    preds = np.array([digits(images[i : i + 1]).argmax() for i in range(len(images))])
    # The float model gets 443 of 450 (README); int8 may lose a few, not more.
    assert (preds == labels).sum() >= 435
    assert digits.inputs == [("image", (1, 1, 8, 8))]
    assert [s for _, s in digits.outputs] == [(1, 10)]
    assert digits.info["model"] == "digits"
    assert digits.report["weight_bits"] in (7, 8)


def test_the_library_is_the_one_the_command_line_builds(digits, images, tmp_path):
    np.save(tmp_path / "calib.npy", images[:64])
    out = tmp_path / "cli.so"
    qcc_bin = Path(sys.executable).parent / "qcc"
    subprocess.run(
        [qcc_bin, DIGITS / "digits.onnx", "-o", out, "--calib", tmp_path / "calib.npy"],
        check=True,
        capture_output=True,
    )
    cli = qcc.load(out)
    for i in range(0, 450, 37):
        x = images[i : i + 1]
        np.testing.assert_array_equal(cli(x), digits(x))


def test_a_model_proto_compiles_like_its_file(digits, images):
    onnx = pytest.importorskip("onnx")
    lib = qcc.compile(onnx.load(DIGITS / "digits.onnx"), images[:64])
    np.testing.assert_array_equal(lib(images[100:101]), digits(images[100:101]))


def test_calibration_batches_are_one_calibration(digits, images):
    batches = (images[i : i + 16] for i in range(0, 64, 16))
    lib = qcc.compile(DIGITS / "digits.onnx", batches)
    np.testing.assert_array_equal(lib(images[7:8]), digits(images[7:8]))


def test_inputs_and_outputs_by_name(digits, images):
    name = digits.inputs[0][0]
    out = digits.run({name: images[3:4]})
    assert list(out) == [n for n, _ in digits.outputs]
    np.testing.assert_array_equal(next(iter(out.values())), digits(images[3:4]))


def test_wrong_inputs_are_refused_with_their_names_and_shapes(digits, images):
    with pytest.raises(TypeError, match=r"'image' is float32, but an array of float64"):
        digits(images[:1].astype(np.float64))
    with pytest.raises(ValueError, match=r"shape \(1, 1, 8, 8\).*shape \(2, 1, 8, 8\)"):
        digits(images[:2])
    with pytest.raises(TypeError, match=r"takes 1 input"):
        digits(images[:1], images[:1])
    with pytest.raises(KeyError, match=r"missing image; unknown x"):
        digits.run({"x": images[:1]})


def test_a_strided_view_gives_what_its_copy_gives(digits, images):
    x = np.ascontiguousarray(images[5:6].transpose(0, 1, 3, 2))
    view = images[5:6].transpose(0, 1, 3, 2)
    assert not view.flags["C_CONTIGUOUS"]
    np.testing.assert_array_equal(digits(view), digits(x))


def test_options_are_the_command_lines_flags(images):
    with pytest.raises(TypeError, match=r"unexpected keyword argument 'bogus'"):
        qcc.compile(DIGITS / "digits.onnx", images[:8], bogus=1)
    with pytest.raises(qcc.QccError, match=r"invalid value '9' for '--weight-bits"):
        qcc.compile(DIGITS / "digits.onnx", images[:8], weight_bits=9)
    lib = qcc.compile(
        DIGITS / "digits.onnx",
        images[:32],
        weight_bits=7,
        calibration="entropy",
        bias_correction="off",
        target="x86-64-v3",
    )
    assert lib.info["weight_bits"] == 7
    assert lib.info["target"] == "x86-64-v3"


def test_a_sixteen_bit_input_is_a_mapping_like_weight_bits_for(digits, images):
    lib = qcc.compile(DIGITS / "digits.onnx", images[:64], activation_bits_for={"image": 16})
    # Other input codes, so other outputs, and the same digits read.
    wide = np.concatenate([lib(images[i : i + 1]) for i in range(64, 96)])
    narrow = np.concatenate([digits(images[i : i + 1]) for i in range(64, 96)])
    assert not np.array_equal(wide, narrow)
    assert np.array_equal(wide.argmax(-1), narrow.argmax(-1))
    with pytest.raises(qcc.QccError, match=r"--activation-bits-for imag=16: the model has no tensor"):
        qcc.compile(DIGITS / "digits.onnx", images[:8], activation_bits_for={"imag": 16})


def test_target_sqnr_reports_what_it_kept(images):
    # 120 dB is out of int8's reach: the search gives up, and says what it kept and tried.
    lib = qcc.compile(DIGITS / "digits.onnx", images[:64], target_sqnr=120, target_float=True)
    t = lib.report["target"]
    assert (t["target_db"], t["met"]) == (120, False)
    assert t["end_db"] >= t["start_db"] and t["steps"]
    kept = [s["raise"] for s in t["steps"] if s["kept"]]
    assert all(r.split()[-1].split("=")[0] in t["flags"] for r in kept)
    assert qcc.compile(DIGITS / "digits.onnx", images[:64]).report["target"] is None


def test_errors_of_the_compiler_are_qcc_errors(tmp_path, images):
    with pytest.raises(FileNotFoundError):
        qcc.compile(tmp_path / "missing.onnx", images[:8])
    bad = tmp_path / "bad.ir"
    bad.write_text("model @m {\n  %x = relu(%nope)\n}\n")
    with pytest.raises(qcc.QccError, match=r"bad.ir:\d+:\d+"):
        qcc.compile(bad)
    with pytest.raises(qcc.QccError, match=r"not a qcc model library|cannot load"):
        qcc.load(bad)


def test_without_calibration_data_it_warns_and_still_compiles(images):
    with pytest.warns(qcc.QuantizationWarning, match="no --calib data"):
        lib = qcc.compile(DIGITS / "digits.onnx")
    assert lib(images[:1]).shape == (1, 10)


def test_progress_is_reported_per_sample(images):
    seen = []
    qcc.compile(DIGITS / "digits.onnx", images[:10], progress=lambda done, total: seen.append((done, total)))
    assert seen and seen[-1] == (10, 10)


def test_save_writes_library_and_header_and_loads_back(digits, images, tmp_path):
    path = digits.save(tmp_path / "out" / "digits.so")
    assert path.exists() and path.with_suffix(".h").exists()
    assert "qcc_run" in path.with_suffix(".h").read_text()
    again = qcc.load(path)
    np.testing.assert_array_equal(again(images[9:10]), digits(images[9:10]))
    assert sorted(p.name for p in path.parent.iterdir()) == ["digits.h", "digits.so"]
    with pytest.raises(ValueError, match=r"must end in .so"):
        digits.save(tmp_path / "digits.lib")


def test_threads_share_a_library(digits, images):
    want = [digits(images[i : i + 1]) for i in range(40)]
    got: dict[int, list] = {}

    def work(t: int) -> None:
        got[t] = [digits(images[i : i + 1]) for i in range(40)]

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    for t in range(4):
        for a, b in zip(got[t], want):
            np.testing.assert_array_equal(a, b)


def test_one_call_on_several_threads_gives_the_same_bytes(digits, images):
    want = digits(images[:1])
    for t in (2, 3, 7):
        np.testing.assert_array_equal(digits(images[:1], threads=t), want)
        np.testing.assert_array_equal(digits.run({digits.inputs[0][0]: images[:1]}, threads=t)[digits.outputs[0][0]], want)
    for bad in (0, -1, True, 1.5):
        with pytest.raises((ValueError, TypeError)):
            digits(images[:1], threads=bad)


def test_report_lists_every_layer_worst_first(images):
    layers = qcc.report(DIGITS / "digits.onnx", images[:32])
    assert layers and all({"name", "op", "sqnr_db"} <= set(l) for l in layers)
    sqnr = [l["sqnr_db"] for l in layers]
    assert sqnr == sorted(sqnr)
    assert all(s > 10 for s in sqnr)


def test_report_html_is_a_keyword(images, tmp_path):
    # Every CLI flag is a keyword: --report-html writes its page beside the library.
    page = tmp_path / "digits.html"
    qcc.compile(DIGITS / "digits.onnx", images[:32], report_html=page)
    text = page.read_text()
    assert text.startswith("<!DOCTYPE html>") and '<section id="ranges">' in text


def test_the_installed_command_is_qccs_command_line():
    qcc_bin = Path(sys.executable).parent / "qcc"
    v = subprocess.run([qcc_bin, "--version"], capture_output=True, text=True, check=True)
    assert v.stdout.startswith("qcc ")
    c = subprocess.run([qcc_bin, "check", DIGITS / "digits.ir"], capture_output=True, text=True)
    assert c.returncode == 0 and "valid" in c.stdout
    bad = subprocess.run([qcc_bin, "check", DIGITS / "nope.ir"], capture_output=True, text=True)
    assert bad.returncode == 1 and "nope.ir" in bad.stderr


@pytest.mark.skipif(MODELS is None, reason="QCC_TEST_MODELS (scripts/test.sh sets it) is not set")
def test_efficientnet_lite0_against_onnx_runtime_fp32():
    x = np.load(MODELS / "efficientnet_lite0.input.npy")  # (photos, 1, 3, 224, 224)
    want = np.load(MODELS / "efficientnet_lite0.expected.npy")  # ORT fp32
    with pytest.warns(qcc.QuantizationWarning, match="so small that the scale is raised"):
        lib = qcc.compile(MODELS / "efficientnet_lite0.onnx", x[:, 0])
    got = np.stack([lib(x[i]) for i in range(len(x))])
    print(f"EfficientNet-Lite0 int8 vs ORT fp32: {sqnr_db(want, got):.1f} dB")
    assert sqnr_db(want, got) > 15
    assert (got.argmax(-1) == want.argmax(-1)).mean() >= 5 / 6


def test_token_ids_and_bytes_in_indices_and_masks_out():
    """A model reading int64 token ids and int32 bytes (an embedding gather and a one-hot, as
    text and file-type classifiers do) and returning arg_max's int64 indices and a bool mask:
    compiled from a ModelProto with integer calibration samples, it takes and returns those
    dtypes, and agrees with ONNX Runtime."""
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(7)
    emb = rng.normal(size=(50, 8)).astype(np.float32)
    w = rng.normal(size=(16, 6)).astype(np.float32) * 0.5
    graph = helper.make_graph(
        [
            helper.make_node("Gather", ["emb", "ids"], ["e"], axis=0),
            helper.make_node("Unsqueeze", ["bytes", "last"], ["b3"]),
            helper.make_node("Equal", ["b3", "iota"], ["hot"]),
            helper.make_node("Cast", ["hot"], ["f"], to=TensorProto.FLOAT),
            helper.make_node("Concat", ["e", "f"], ["cat"], axis=2),
            helper.make_node("MatMul", ["cat", "w"], ["m"]),
            helper.make_node("Relu", ["m"], ["y"]),
            helper.make_node("ArgMax", ["y"], ["am"], axis=2, keepdims=0),
        ],
        "tokens",
        [
            helper.make_tensor_value_info("ids", TensorProto.INT64, [1, 12]),
            helper.make_tensor_value_info("bytes", TensorProto.INT32, [1, 12]),
        ],
        [
            helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 12, 6]),
            helper.make_tensor_value_info("am", TensorProto.INT64, [1, 12]),
            helper.make_tensor_value_info("hot", TensorProto.BOOL, [1, 12, 8]),
        ],
        [
            numpy_helper.from_array(emb, "emb"),
            numpy_helper.from_array(np.array([2], np.int64), "last"),
            numpy_helper.from_array(np.arange(8, dtype=np.int32), "iota"),
            numpy_helper.from_array(w, "w"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    ids = rng.integers(0, 50, size=(40, 12)).astype(np.int64)
    bytes_ = rng.integers(0, 8, size=(40, 12)).astype(np.int32)
    lib = qcc.compile(model, {"ids": ids[:32], "bytes": bytes_[:32]})
    assert lib.input_dtypes == [np.dtype(np.int64), np.dtype(np.int32)]
    assert lib.output_dtypes == [np.dtype(np.float32), np.dtype(np.int64), np.dtype(np.bool_)]
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    for i in range(32, 40):
        feed = {"ids": ids[i : i + 1], "bytes": bytes_[i : i + 1]}
        y, am, hot = lib.run(feed).values()
        ry, _, rhot = sess.run(None, feed)
        assert am.dtype == np.int64 and hot.dtype == np.bool_
        np.testing.assert_array_equal(hot, rhot)
        np.testing.assert_array_equal(am, y.argmax(axis=2))
        assert sqnr_db(ry, y) > 25
    with pytest.raises(TypeError, match=r"'bytes' is int32, but an array of int64 was given"):
        lib(ids[:1], bytes_[:1].astype(np.int64))
