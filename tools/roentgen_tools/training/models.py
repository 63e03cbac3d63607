"""The paper's custom CNN (Menkovski et al., Table 2) in PyTorch and its ONNX export."""
from __future__ import annotations

import torch
from torch import nn

# Table 2: conv3x3 blocks (channels per conv), each block followed by MaxPool 3x3 / stride 2
TABLE2_BLOCKS = [[32, 16], [64, 32], [128, 128, 64], [256, 256, 128]]
TABLE2_DENSE = [256, 256]
LEAKY = 0.01


class Table2Net(nn.Module):
    """conv3x3 (BN, leaky ReLU) blocks 32,16 / 64,32 / 128,128,64 / 256,256,128, each followed by
    MaxPool 3x3/2 (pad 1); dropout after the last pool; two dense 256 + BN + leaky + dropout;
    a linear layer to the classes. Softmax is applied only in the exported ONNX graph.
    Input [N, 1, 128, 128] (grayscale in [0, 1], as the runtime's preprocessing gives it)."""

    def __init__(self, num_classes: int, in_channels: int = 1, size: int = 128,
                 conv_dropout: float = 0.25, dense_dropout: float = 0.5):
        super().__init__()
        feats, c = [], in_channels
        for block in TABLE2_BLOCKS:
            for oc in block:
                feats += [nn.Conv2d(c, oc, 3, padding=1), nn.BatchNorm2d(oc), nn.LeakyReLU(LEAKY)]
                c = oc
            feats.append(nn.MaxPool2d(3, stride=2, padding=1))
        feats.append(nn.Dropout(conv_dropout))
        self.features = nn.Sequential(*feats)
        s = size
        for _ in TABLE2_BLOCKS:
            s = (s + 2 - 3) // 2 + 1
        k = c * s * s
        cls = []
        for n in TABLE2_DENSE:
            cls += [nn.Linear(k, n), nn.BatchNorm1d(n), nn.LeakyReLU(LEAKY), nn.Dropout(dense_dropout)]
            k = n
        cls.append(nn.Linear(k, num_classes))
        self.classifier = nn.Sequential(*cls)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight, a=LEAKY, nonlinearity="leaky_relu")
                nn.init.zeros_(m.bias)

    def forward(self, x):
        return self.classifier(torch.flatten(self.features(x), 1))


class _WithSoftmax(nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return torch.softmax(self.net(x), dim=1)


def export_onnx(net: nn.Module, path, channels=1, size=128, softmax=True, keep_batchnorm=False):
    """Eval-mode export, opset 17, dynamic batch: what roentgen-convert reads. keep_batchnorm: leave
    BatchNormalization nodes for roentgen-convert to fold (in float64) instead of torch's exporter
    (in float32, with a rounding that changes between torch versions), so a file converted from
    the same weights is the same byte for byte whatever torch is installed."""
    net = net.eval()
    m = _WithSoftmax(net) if softmax else net
    x = torch.zeros(1, channels, size, size)
    kw = {"training": torch.onnx.TrainingMode.PRESERVE} if keep_batchnorm else {}
    try:  # torch >= 2.5 has the dynamo exporter; the converter expects the classic graph
        import inspect
        if "dynamo" in inspect.signature(torch.onnx.export).parameters:
            kw["dynamo"] = False
    except (TypeError, ValueError):  # pragma: no cover
        pass
    import warnings
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(m, x, str(path), input_names=["input"], output_names=["output"],
                          opset_version=17, do_constant_folding=True,
                          dynamic_axes={"input": {0: "batch_size"}, "output": {0: "batch_size"}}, **kw)
