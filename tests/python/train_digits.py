"""Trains the bundled example model (a small CNN with BatchNorm on scikit-learn's digits) in numpy.

Usage: python tests/python/train_digits.py [--out examples/digits] [--gradcheck]

Architecture (PyTorch conventions: convolutions without bias before BatchNorm, running
statistics with momentum 0.1 and the unbiased variance, Gemm with transB=1):

    image 1x1x8x8 -> conv3x3(1->8, pad 1) -> BN -> ReLU -> conv3x3(8->16, pad 1) -> BN -> ReLU
                  -> maxpool 2x2 -> flatten -> gemm(256->10) -> logits 1x10

The forward and backward passes are written out by hand (float64); `--gradcheck` compares the
backward pass with central finite differences and exits. Otherwise the script trains with Adam,
exports the model as ONNX with the BatchNorms left unfolded (as an exporter writes them), checks
that ONNX Runtime reproduces the numpy forward pass on the test set, and writes into OUT:
digits.onnx, test_images.npy (float32, Nx1x8x8), test_labels.txt and README.md.
"""

import os

# One BLAS thread: summation order, hence every bit of the trained weights, is then the same on
# every run (on one machine; another CPU may pick other BLAS kernels). Must precede numpy's import.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

SEED = 0
EPOCHS = 30
BATCH = 32
LR = 2e-3
BN_EPS = 1e-5
BN_MOMENTUM = 0.1
TARGET_ACCURACY = 0.97
C1, C2, CLASSES = 8, 16, 10


# Data ----------------------------------------------------------------------------------------

def load_data():
    """The fixed split: 75% train, 25% test (450 images), stratified, pixels 0..16 -> [0, 1]."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = (digits.images / 16.0).reshape(-1, 1, 8, 8)
    y = digits.target.astype(np.int64)
    return train_test_split(x, y, test_size=0.25, random_state=0, stratify=y)


# Layers: each forward returns (output, cache); each backward takes the cache ----------------

def conv3x3_forward(x, w):
    """3x3 convolution, stride 1, padding 1, no bias, as im2col and one matrix product."""
    n, c, h, wd = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    # windows[n, c, i, j, ki, kj] = xp[n, c, i + ki, j + kj]
    windows = np.lib.stride_tricks.sliding_window_view(xp, (3, 3), axis=(2, 3))
    cols = windows.transpose(0, 2, 3, 1, 4, 5).reshape(n * h * wd, c * 9)
    out = cols @ w.reshape(w.shape[0], -1).T
    return out.reshape(n, h, wd, -1).transpose(0, 3, 1, 2), (x.shape, cols, w)


def conv3x3_backward(dout, cache):
    xshape, cols, w = cache
    n, c, h, wd = xshape
    o = w.shape[0]
    d2 = dout.transpose(0, 2, 3, 1).reshape(n * h * wd, o)
    dw = (d2.T @ cols).reshape(w.shape)
    dcols = (d2 @ w.reshape(o, -1)).reshape(n, h, wd, c, 3, 3)
    dxp = np.zeros((n, c, h + 2, wd + 2))
    for ki in range(3):
        for kj in range(3):
            dxp[:, :, ki:ki + h, kj:kj + wd] += dcols[:, :, :, :, ki, kj].transpose(0, 3, 1, 2)
    return dxp[:, :, 1:-1, 1:-1], dw


def bn_train_forward(x, gamma, beta):
    """BatchNorm over (N, H, W) with the batch's statistics (biased variance, as in training)."""
    mean = x.mean(axis=(0, 2, 3))
    var = x.var(axis=(0, 2, 3))
    inv = 1.0 / np.sqrt(var + BN_EPS)
    xhat = (x - mean[:, None, None]) * inv[:, None, None]
    out = gamma[:, None, None] * xhat + beta[:, None, None]
    return out, (xhat, inv, gamma), mean, var


def bn_train_backward(dout, cache):
    xhat, inv, gamma = cache
    m = dout.shape[0] * dout.shape[2] * dout.shape[3]
    dbeta = dout.sum(axis=(0, 2, 3))
    dgamma = (dout * xhat).sum(axis=(0, 2, 3))
    # d/dx of gamma * (x - mean) / sqrt(var + eps), mean and var depending on x too.
    dxhat = dout * gamma[:, None, None]
    dx = (inv[:, None, None] / m) * (
        m * dxhat - dxhat.sum(axis=(0, 2, 3))[:, None, None]
        - xhat * (dxhat * xhat).sum(axis=(0, 2, 3))[:, None, None])
    return dx, dgamma, dbeta


def bn_eval(x, gamma, beta, mean, var):
    """BatchNorm with running statistics: what ONNX's BatchNormalization computes."""
    s = gamma / np.sqrt(var + BN_EPS)
    return (x - mean[:, None, None]) * s[:, None, None] + beta[:, None, None]


def maxpool2_forward(x):
    """2x2 max pool, stride 2; the gradient goes to the first maximum of each window."""
    n, c, h, w = x.shape
    win = x.reshape(n, c, h // 2, 2, w // 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(n, c, h // 2, w // 2, 4)
    arg = win.argmax(axis=-1)
    return np.take_along_axis(win, arg[..., None], axis=-1)[..., 0], (x.shape, arg)


def maxpool2_backward(dout, cache):
    (n, c, h, w), arg = cache
    dwin = np.zeros((n, c, h // 2, w // 2, 4))
    np.put_along_axis(dwin, arg[..., None], dout[..., None], axis=-1)
    return dwin.reshape(n, c, h // 2, w // 2, 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(n, c, h, w)


def softmax_cross_entropy(logits, y):
    """Mean cross-entropy and its gradient with respect to the logits."""
    z = logits - logits.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    n = len(y)
    loss = -logp[np.arange(n), y].mean()
    d = np.exp(logp)
    d[np.arange(n), y] -= 1.0
    return loss, d / n


# The network ----------------------------------------------------------------------------------

def init_params(rng):
    """He-normal convolution and linear weights, BN at identity (as PyTorch initialises them)."""
    def he(shape, fan_in):
        return rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)

    return {
        "conv1.weight": he((C1, 1, 3, 3), 9),
        "bn1.weight": np.ones(C1), "bn1.bias": np.zeros(C1),
        "conv2.weight": he((C2, C1, 3, 3), C1 * 9),
        "bn2.weight": np.ones(C2), "bn2.bias": np.zeros(C2),
        "fc.weight": he((CLASSES, C2 * 16), C2 * 16) / np.sqrt(2.0),
        "fc.bias": np.zeros(CLASSES),
    }


def init_buffers():
    return {"bn1.running_mean": np.zeros(C1), "bn1.running_var": np.ones(C1),
            "bn2.running_mean": np.zeros(C2), "bn2.running_var": np.ones(C2)}


def train_forward(p, x):
    """Training-mode forward pass: logits, the caches for backward, and each BN's batch statistics."""
    h, c1 = conv3x3_forward(x, p["conv1.weight"])
    h, b1, m1, v1 = bn_train_forward(h, p["bn1.weight"], p["bn1.bias"])
    r1 = h > 0
    h, c2 = conv3x3_forward(h * r1, p["conv2.weight"])
    h, b2, m2, v2 = bn_train_forward(h, p["bn2.weight"], p["bn2.bias"])
    r2 = h > 0
    h, mp = maxpool2_forward(h * r2)
    flat = h.reshape(len(x), -1)
    logits = flat @ p["fc.weight"].T + p["fc.bias"]
    return logits, (c1, b1, r1, c2, b2, r2, mp, flat), ((m1, v1), (m2, v2))


def backward(p, cache, dlogits):
    c1, b1, r1, c2, b2, r2, mp, flat = cache
    g = {"fc.weight": dlogits.T @ flat, "fc.bias": dlogits.sum(axis=0)}
    d = (dlogits @ p["fc.weight"]).reshape(mp[0][0], C2, 4, 4)
    d = maxpool2_backward(d, mp) * r2
    d, g["bn2.weight"], g["bn2.bias"] = bn_train_backward(d, b2)
    d, g["conv2.weight"] = conv3x3_backward(d, c2)
    d = d * r1
    d, g["bn1.weight"], g["bn1.bias"] = bn_train_backward(d, b1)
    _, g["conv1.weight"] = conv3x3_backward(d, c1)
    return g


def eval_forward(p, b, x):
    """Inference forward pass with the running statistics: the function the ONNX model computes."""
    h = conv3x3_forward(x, p["conv1.weight"])[0]
    h = np.maximum(bn_eval(h, p["bn1.weight"], p["bn1.bias"], b["bn1.running_mean"], b["bn1.running_var"]), 0)
    h = conv3x3_forward(h, p["conv2.weight"])[0]
    h = np.maximum(bn_eval(h, p["bn2.weight"], p["bn2.bias"], b["bn2.running_mean"], b["bn2.running_var"]), 0)
    flat = maxpool2_forward(h)[0].reshape(len(x), -1)
    return flat @ p["fc.weight"].T + p["fc.bias"]


# Gradient check -------------------------------------------------------------------------------

def gradcheck(samples=20, h=1e-6, tol=1e-6):
    """Compares the hand-written backward pass with central differences of the loss.

    Random inputs rather than digits: the digits' blank borders make ties in max-pool windows
    and zeros at ReLUs, where the loss is not differentiable and differences mean nothing.
    Returns the worst relative error.
    """
    rng = np.random.default_rng(1)
    p = init_params(rng)
    for k in ("bn1.weight", "bn1.bias", "bn2.weight", "bn2.bias", "fc.bias"):
        p[k] = p[k] + rng.normal(0, 0.3, p[k].shape)
    x = rng.standard_normal((5, 1, 8, 8))
    y = rng.integers(0, CLASSES, 5)

    def loss_of(params):
        return softmax_cross_entropy(train_forward(params, x)[0], y)[0]

    logits, cache, _ = train_forward(p, x)
    grads = backward(p, cache, softmax_cross_entropy(logits, y)[1])
    worst = 0.0
    for name, value in p.items():
        flat_idx = rng.choice(value.size, min(samples, value.size), replace=False)
        errs = []
        for i in flat_idx:
            idx = np.unravel_index(i, value.shape)
            old = value[idx]
            value[idx] = old + h
            up = loss_of(p)
            value[idx] = old - h
            down = loss_of(p)
            value[idx] = old
            numeric = (up - down) / (2 * h)
            analytic = grads[name][idx]
            errs.append(abs(numeric - analytic) / max(abs(numeric) + abs(analytic), 1e-8))
        worst = max(worst, max(errs))
        print(f"  {name:<14} {len(flat_idx):>3} entries   max rel err {max(errs):.1e}")
    print(f"gradcheck: worst relative error {worst:.1e} (tolerance {tol:.0e})")
    if worst > tol:
        raise SystemExit("gradcheck FAILED: the backward pass does not match the finite differences")
    return worst


# Training -------------------------------------------------------------------------------------

def train(xtr, ytr):
    """Adam (PyTorch's defaults but the learning rate), shuffled minibatches, fixed seed."""
    rng = np.random.default_rng(SEED)
    p = init_params(rng)
    b = init_buffers()
    m = {k: np.zeros_like(v) for k, v in p.items()}
    v = {k: np.zeros_like(v) for k, v in p.items()}
    beta1, beta2, adam_eps = 0.9, 0.999, 1e-8
    step = 0
    for epoch in range(EPOCHS):
        order = rng.permutation(len(xtr))
        total, correct = 0.0, 0
        for start in range(0, len(order), BATCH):
            idx = order[start:start + BATCH]
            logits, cache, stats = train_forward(p, xtr[idx])
            loss, dlogits = softmax_cross_entropy(logits, ytr[idx])
            total += loss * len(idx)
            correct += int((logits.argmax(axis=1) == ytr[idx]).sum())
            g = backward(p, cache, dlogits)
            step += 1
            for k in p:
                m[k] = beta1 * m[k] + (1 - beta1) * g[k]
                v[k] = beta2 * v[k] + (1 - beta2) * g[k] ** 2
                mhat = m[k] / (1 - beta1 ** step)
                vhat = v[k] / (1 - beta2 ** step)
                p[k] = p[k] - LR * mhat / (np.sqrt(vhat) + adam_eps)
            # Running statistics as PyTorch keeps them: the variance is the unbiased one.
            count = len(idx) * 64
            for layer, (mean, var) in zip(("bn1", "bn2"), stats):
                b[f"{layer}.running_mean"] = (1 - BN_MOMENTUM) * b[f"{layer}.running_mean"] + BN_MOMENTUM * mean
                b[f"{layer}.running_var"] = ((1 - BN_MOMENTUM) * b[f"{layer}.running_var"]
                                             + BN_MOMENTUM * var * count / (count - 1))
        if epoch % 5 == 4 or epoch == EPOCHS - 1:
            print(f"  epoch {epoch + 1:>2}: loss {total / len(xtr):.4f}, train accuracy {correct / len(xtr):.1%}")
    return p, b


# Export ---------------------------------------------------------------------------------------

def to_onnx(p, b):
    """The model as torch.onnx.export writes it: BN unfolded, PyTorch's parameter names, opset 17."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weights = {**p, **b}
    inits = [numpy_helper.from_array(weights[k].astype(np.float32), k) for k in (
        "conv1.weight", "bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var",
        "conv2.weight", "bn2.weight", "bn2.bias", "bn2.running_mean", "bn2.running_var",
        "fc.weight", "fc.bias")]
    conv = {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1], "strides": [1, 1], "dilations": [1, 1], "group": 1}
    nodes = [
        helper.make_node("Conv", ["image", "conv1.weight"], ["/conv1/Conv_output_0"], name="/conv1/Conv", **conv),
        helper.make_node("BatchNormalization",
                         ["/conv1/Conv_output_0", "bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var"],
                         ["/bn1/BatchNormalization_output_0"], name="/bn1/BatchNormalization",
                         epsilon=BN_EPS, momentum=1 - BN_MOMENTUM),
        helper.make_node("Relu", ["/bn1/BatchNormalization_output_0"], ["/relu1/Relu_output_0"], name="/relu1/Relu"),
        helper.make_node("Conv", ["/relu1/Relu_output_0", "conv2.weight"], ["/conv2/Conv_output_0"],
                         name="/conv2/Conv", **conv),
        helper.make_node("BatchNormalization",
                         ["/conv2/Conv_output_0", "bn2.weight", "bn2.bias", "bn2.running_mean", "bn2.running_var"],
                         ["/bn2/BatchNormalization_output_0"], name="/bn2/BatchNormalization",
                         epsilon=BN_EPS, momentum=1 - BN_MOMENTUM),
        helper.make_node("Relu", ["/bn2/BatchNormalization_output_0"], ["/relu2/Relu_output_0"], name="/relu2/Relu"),
        helper.make_node("MaxPool", ["/relu2/Relu_output_0"], ["/pool/MaxPool_output_0"], name="/pool/MaxPool",
                         kernel_shape=[2, 2], strides=[2, 2], pads=[0, 0, 0, 0], ceil_mode=0),
        helper.make_node("Flatten", ["/pool/MaxPool_output_0"], ["/Flatten_output_0"], name="/Flatten", axis=1),
        helper.make_node("Gemm", ["/Flatten_output_0", "fc.weight", "fc.bias"], ["logits"], name="/fc/Gemm",
                         alpha=1.0, beta=1.0, transB=1),
    ]
    graph = helper.make_graph(
        nodes, "digits",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 1, 8, 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, CLASSES])],
        initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="qcc-train-digits",
                              ir_version=8)
    onnx.checker.check_model(model, full_check=True)
    return model


def run_ort(model, images):
    """ONNX Runtime's logits, one image at a time (the model's batch is 1), one thread."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    return np.concatenate([sess.run(["logits"], {"image": img[None]})[0] for img in images])


def top1(logits, labels):
    correct = int((logits.argmax(axis=1) == labels).sum())
    return correct, f"{correct}/{len(labels)} = {100.0 * correct / len(labels):.1f}%"


README = """\
# The digits example

A small convolutional network with BatchNorm, trained on scikit-learn's handwritten digits
(`sklearn.datasets.load_digits`: 1797 images of 8×8 pixels, classes 0–9). `scripts/example.sh`
runs it through qcc.

```
image 1x1x8x8 → conv 3×3 (1→8, pad 1) → BatchNorm → ReLU
              → conv 3×3 (8→16, pad 1) → BatchNorm → ReLU
              → max-pool 2×2 → flatten → gemm (256→10) → logits 1x10
```

The convolutions have no bias (they are followed by BatchNorm, as in PyTorch models); the ONNX
file keeps the BatchNorms unfolded, as an exporter writes them, so that qcc's folding has work to do.
{params} parameters.

## Files

| file | contents |
|---|---|
| `digits.onnx` | the trained model (opset 17, input `image` 1×1×8×8, output `logits` 1×10) |
| `digits.ir`, `digits.safetensors` | the same model imported by `qcc import` |
| `test_images.npy` | the {n_test} test images, float32, {n_test}×1×8×8, pixels scaled to [0, 1] (the raw 0–16 divided by 16) |
| `test_labels.txt` | their classes, one per line |

## Training

`train_test_split(test_size=0.25, random_state=0, stratify=y)`: {n_train} training images, {n_test}
test images. Hand-written forward and backward passes in numpy (float64; the backward pass is
checked against finite differences by `--gradcheck`), Adam with learning rate {lr}, batches of
{batch}, {epochs} epochs, seed {seed}, BatchNorm running statistics with momentum {momentum}.
No augmentation, no weight decay. Training takes about ten seconds on one core.

Float accuracy on the test images (numpy and ONNX Runtime agree; so does `qcc run`, before and
after BatchNorm folding, which `compiler/tests/example.rs` checks against this line):

    top-1: {accuracy}

## Regenerating

From the repository root, with the Python of `scripts/test.sh`'s venv (numpy, scikit-learn, onnx
and onnxruntime as pinned in `tests/python/requirements.txt`):

```sh
.venv/bin/python tests/python/train_digits.py --gradcheck   # check the backward pass
.venv/bin/python tests/python/train_digits.py               # train; write digits.onnx, test_*, README.md
cargo build --release -p qcc
target/release/qcc import examples/digits/digits.onnx -o examples/digits/digits.ir
```

The training is deterministic (fixed seeds, one BLAS thread): on the same machine the same files
come out, bit for bit. On another CPU the BLAS kernels may differ, and with them the last bits of
the weights.
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[2] / "examples" / "digits")
    ap.add_argument("--gradcheck", action="store_true", help="check the backward pass and exit")
    args = ap.parse_args()
    if args.gradcheck:
        gradcheck()
        return

    xtr, xte, ytr, yte = load_data()
    print(f"digits: {len(xtr)} training images, {len(xte)} test images")
    t0 = time.perf_counter()
    p, b = train(xtr, ytr)
    seconds = time.perf_counter() - t0
    print(f"trained in {seconds:.1f} s")

    # The reference is the numpy forward pass on the weights as exported (float32), in float64.
    p32 = {k: v.astype(np.float32).astype(np.float64) for k, v in p.items()}
    b32 = {k: v.astype(np.float32).astype(np.float64) for k, v in b.items()}
    images = xte.astype(np.float32)
    reference = eval_forward(p32, b32, images.astype(np.float64))
    correct, accuracy = top1(reference, yte)
    print(f"numpy float test accuracy: top-1: {accuracy}")
    if correct < TARGET_ACCURACY * len(yte):
        raise SystemExit(f"test accuracy {accuracy} is below the target {TARGET_ACCURACY:.0%}")

    model = to_onnx(p, b)
    ort_logits = run_ort(model, images)
    rel = float(np.abs(ort_logits - reference).max() / np.abs(reference).max())
    ort_correct, ort_accuracy = top1(ort_logits, yte)
    print(f"ONNX Runtime: top-1: {ort_accuracy}; max |ORT - numpy| / max |numpy| = {rel:.1e}")
    if rel >= 1e-5:
        raise SystemExit(f"ONNX Runtime disagrees with the numpy forward pass (relative error {rel:.1e})")
    if ort_correct != correct:
        raise SystemExit("ONNX Runtime and numpy classify some test image differently")

    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "digits.onnx").write_bytes(model.SerializeToString())
    np.save(args.out / "test_images.npy", images)
    (args.out / "test_labels.txt").write_text("".join(f"{label}\n" for label in yte))
    (args.out / "README.md").write_text(README.format(
        params=sum(v.size for v in p.values()), n_train=len(xtr), n_test=len(xte), lr=LR, batch=BATCH,
        epochs=EPOCHS, seed=SEED, momentum=BN_MOMENTUM, accuracy=accuracy))
    print(f"wrote digits.onnx, test_images.npy, test_labels.txt, README.md to {args.out}")


if __name__ == "__main__":
    sys.exit(main())
