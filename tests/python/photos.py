"""Real photographs shipped inside scikit-image and scikit-learn, cropped and resized for models."""

import numpy as np
import skimage.data
import skimage.transform
import sklearn.datasets

# ImageNet channel statistics, for inputs in [0, 1] (torchvision's convention).
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)


def photos():
    """(name, HxWx3 uint8 RGB) for every photo, in a fixed order."""
    out = [(n, getattr(skimage.data, n)()) for n in ("chelsea", "coffee", "astronaut", "rocket")]
    sample = sklearn.datasets.load_sample_images()
    for path, img in zip(sample.filenames, sample.images, strict=True):
        out.append((path.rsplit("/", 1)[-1].removesuffix(".jpg"), img))
    return out


def center_crop(img, size):
    """The largest centred square, resized (anti-aliased, bilinear) to size x size; floats in [0, 1]."""
    h, w = img.shape[:2]
    s = min(h, w)
    top, left = (h - s) // 2, (w - s) // 2
    square = img[top:top + s, left:left + s]
    out = skimage.transform.resize(square, (size, size), order=1, anti_aliasing=True,
                                   preserve_range=True)
    return (out / 255.0).astype(np.float32)


def batch(size, mean, std, names=None):
    """Samples of shape (N, 1, 3, size, size): each a batch-1 NCHW input, `(x - mean) / std`."""
    chosen = [(n, im) for n, im in photos() if names is None or n in names]
    xs = [((center_crop(im, size) - mean) / std).transpose(2, 0, 1)[None] for _, im in chosen]
    return [n for n, _ in chosen], np.stack(xs).astype(np.float32)


def random_crops(n, size, mean, std, seed):
    """n samples (n, 1, 3, size, size): random squares of the photos, resized as center_crop does.

    Each crop takes a random photo, a side between 35% and 100% of the photo's shorter side, a
    random position and a random horizontal flip: varied enough that 100 crops of six photos are
    100 different inputs, and still natural images whose statistics match what the nets expect.
    """
    rng = np.random.default_rng(seed)
    pics = [im for _, im in photos()]
    xs = []
    for _ in range(n):
        img = pics[rng.integers(len(pics))]
        h, w = img.shape[:2]
        s = int(rng.integers(int(0.35 * min(h, w)), min(h, w) + 1))
        top, left = int(rng.integers(h - s + 1)), int(rng.integers(w - s + 1))
        square = img[top:top + s, left:left + s]
        if rng.integers(2):
            square = square[:, ::-1]
        out = skimage.transform.resize(square, (size, size), order=1, anti_aliasing=True,
                                       preserve_range=True)
        x = ((out / 255.0).astype(np.float32) - mean) / std
        xs.append(x.transpose(2, 0, 1)[None])
    return np.stack(xs).astype(np.float32)
