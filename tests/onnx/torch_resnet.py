"""A small ResNet-style classifier built and exported by PyTorch, for the
round trip through `lockstep import onnx` (tests/onnx/onnx_torch_test.sh).

  torch_resnet.py DATA.h5 CLASSES OUT_DIR
  torch_resnet.py unet DATA.h5 CLASSES OUT_DIR
  torch_resnet.py unsupported OUT_DIR    upsample_corners.onnx (Resize with
                                         align_corners=True), leaky.onnx (LeakyRelu)

Writes OUT_DIR/resnet.onnx and resnet_folded.onnx (torch.onnx.export, opset
17, dynamic batch) and
OUT_DIR/logits.h5 (/outputs: the model's logits for DATA.h5's features, scaled
by 1/255 in float32 exactly as lockstep's data.scale = auto does for uint8).
BatchNorm running statistics are randomised so that their import is tested.
`unet` writes OUT_DIR/unet.onnx and unet_logits.h5 likewise for a small
U-Net-like classifier: nn.Upsample nearest and bilinear (align_corners=False),
nn.ConvTranspose2d with padding and output_padding, torch.cat skips (the
upsampled tensor first) and an added skip, then global average pooling and a
Linear head; and unet_pixels.onnx and unet_pixels_logits.h5 for its body
alone (per-pixel outputs (8, H, W), flattened per row in the .h5).
"""
import sys

import h5py
import numpy as np
import torch
from torch import nn


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(c, c, 3, padding=1), nn.BatchNorm2d(c), nn.ReLU(),
                                  nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c))

    def forward(self, x):
        return x + self.body(x)


class ResNet(nn.Module):
    def __init__(self, in_channels, classes):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, 8, 3, padding=1), nn.BatchNorm2d(8),
                                  nn.ReLU())
        self.block1 = Block(8)
        self.pool = nn.MaxPool2d(2)
        self.block2 = Block(8)
        self.down = nn.Sequential(nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.ReLU(),
                                  nn.AvgPool2d(2))
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Sequential(nn.Linear(16, 32), nn.Tanh(), nn.Dropout(0.1),
                                  nn.Linear(32, classes))

    def forward(self, x):
        x = self.pool(torch.relu(self.block1(self.stem(x))))
        x = self.down(torch.relu(self.block2(x)))
        return self.head(torch.flatten(self.gap(x), 1))


class UNet(nn.Module):
    def __init__(self, in_channels, classes):
        super().__init__()
        self.enc1 = nn.Sequential(nn.Conv2d(in_channels, 8, 3, padding=1), nn.ReLU())
        self.enc2 = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.ReLU())
        self.pool = nn.MaxPool2d(2)
        self.mid = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.Tanh())
        self.up_bilinear = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
        self.dec2 = nn.Sequential(nn.Conv2d(16, 8, 3, padding=1), nn.ReLU())
        self.up_t = nn.ConvTranspose2d(8, 6, 3, stride=2, padding=1, output_padding=1)
        self.dec1 = nn.Conv2d(14, 8, 3, padding=1)
        self.up_nearest = nn.Upsample(scale_factor=2, mode="nearest")
        self.down = nn.Conv2d(8, 8, 3, stride=2, padding=1)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(8, classes)

    def features(self, x):  # per pixel, ending in a convolution (per-pixel logits)
        e1 = self.enc1(x)                                   # (8, H, W)
        e2 = self.enc2(self.pool(e1))                       # (8, H/2, W/2)
        u2 = self.up_bilinear(self.mid(self.pool(e2)))      # (8, H/2, W/2)
        d2 = self.dec2(torch.cat([u2, e2], dim=1))          # (8, H/2, W/2)
        d1 = self.dec1(torch.cat([self.up_t(d2), e1], dim=1)) + e1  # (8, H, W)
        return self.down(self.up_nearest(d1))               # (8, H, W)

    def forward(self, x):
        return self.head(torch.flatten(self.gap(torch.relu(self.features(x))), 1))


class Pixels(nn.Module):  # the U-Net's per-pixel features, without the head
    def __init__(self, unet):
        super().__init__()
        self.unet = unet

    def forward(self, x):
        return self.unet.features(x)


def unet(data, classes, out):
    torch.manual_seed(1)
    with h5py.File(data, "r") as f:
        x = f["features"][...]
    inputs = torch.from_numpy(x.astype(np.float32) * np.float32(1 / 255))
    model = UNet(inputs.shape[1], int(classes)).eval()
    for name, m in (("unet", model), ("unet_pixels", Pixels(model).eval())):
        torch.onnx.export(m, inputs[:2], f"{out}/{name}.onnx", opset_version=17,
                          input_names=["image"], output_names=["logits"],
                          dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}})
        with torch.no_grad():
            y = m(inputs).numpy()
        with h5py.File(f"{out}/{name}_logits.h5", "w") as f:
            f["outputs"] = y.reshape(len(y), -1).astype(np.float32)
    print(f"torch {torch.__version__}: exported {out}/unet.onnx, logits of {len(x)} rows")


def main(data, classes, out):
    torch.manual_seed(0)
    with h5py.File(data, "r") as f:
        x = f["features"][...]
    inputs = torch.from_numpy(x.astype(np.float32) * np.float32(1 / 255))
    model = ResNet(inputs.shape[1], int(classes))
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.1, 0.1)
    model.eval()
    # resnet.onnx keeps BatchNormalization nodes (TrainingMode.PRESERVE on a
    # model in eval mode); resnet_folded.onnx is torch's default export, with
    # each BatchNorm folded into the convolution before it.
    for name, extra in (("resnet", dict(do_constant_folding=False,
                                        training=torch.onnx.TrainingMode.PRESERVE)),
                        ("resnet_folded", {})):
        torch.onnx.export(model, inputs[:2], f"{out}/{name}.onnx", opset_version=17,
                          input_names=["image"], output_names=["logits"],
                          dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}}, **extra)
    with torch.no_grad():
        logits = model(inputs).double().numpy()
    with h5py.File(f"{out}/logits.h5", "w") as f:
        f["outputs"] = logits.astype(np.float32)
        z = logits - logits.max(axis=1, keepdims=True)
        f["probabilities"] = (np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)).astype(np.float32)
    print(f"torch {torch.__version__}: exported {out}/resnet.onnx, logits of {len(x)} rows")


def unsupported(out):
    x = torch.zeros(1, 2, 4, 4)
    corners = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True)
    for name, model in (("upsample_corners", nn.Sequential(nn.Conv2d(2, 2, 1), corners)),
                        ("leaky", nn.Sequential(nn.Conv2d(2, 2, 1), nn.LeakyReLU()))):
        torch.onnx.export(model.eval(), x, f"{out}/{name}.onnx", opset_version=17)


if __name__ == "__main__":
    if sys.argv[1] == "unsupported":
        unsupported(sys.argv[2])
    elif sys.argv[1] == "unet":
        unet(*sys.argv[2:5])
    else:
        main(*sys.argv[1:4])
