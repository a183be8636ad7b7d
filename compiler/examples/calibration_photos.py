"""More photos for `calibration_methods`: every usable photo scikit-image and scikit-learn ship,
preprocessed as each test model expects, written as DIR/NAME.photos.npy (N, 1, 3, H, W).

    .venv/bin/python compiler/examples/calibration_photos.py DIR

Three test photos per model give a calibration set too small to say which method generalises;
these sixteen (nine colour photographs, seven greyscale ones repeated on three channels) do
better. Synthetic images (colour wheel, checkerboard, logos, binary masks) are left out: no
deployed network sees them.
"""

import pathlib
import sys

import numpy as np
import skimage.data

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "tests" / "python"))
import photos  # noqa: E402

GREY = ("camera", "coins", "moon", "grass", "gravel", "brick", "clock")
COLOUR = ("hubble_deep_field", "immunohistochemistry", "retina")

# name -> (size, mean, std), as tests/python builds each model's samples.
MODELS = {
    "tiny_cnn": (32, photos.IMAGENET_MEAN, photos.IMAGENET_STD),
    "resnet18": (224, photos.IMAGENET_MEAN, photos.IMAGENET_STD),
    "mobilenetv2": (224, photos.IMAGENET_MEAN, photos.IMAGENET_STD),
    "efficientnet_lite0": (224, np.full(3, 127.0 / 255.0, np.float32), np.full(3, 128.0 / 255.0, np.float32)),
}


def all_photos():
    out = photos.photos()
    out += [(n, getattr(skimage.data, n)()) for n in COLOUR]
    out += [(n, np.repeat(getattr(skimage.data, n)()[:, :, None], 3, axis=2)) for n in GREY]
    return out


def main():
    out_dir = pathlib.Path(sys.argv[1])
    out_dir.mkdir(parents=True, exist_ok=True)
    images = all_photos()
    for name, (size, mean, std) in MODELS.items():
        xs = [((photos.center_crop(im, size) - mean) / std).transpose(2, 0, 1)[None] for _, im in images]
        np.save(out_dir / f"{name}.photos.npy", np.stack(xs).astype(np.float32))
    print(f"{len(images)} photos: {', '.join(n for n, _ in images)}")


if __name__ == "__main__":
    main()
