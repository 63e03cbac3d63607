"""SVM features of approach A with ONNX Runtime, batched: the value of the converter's cut layer
(`svm_head.feature_tensor`: the ONNX tensor that holds exactly that layer's output), read in NHWC
order, optionally pooled globally - the same numbers the converted file's feature tensor holds."""
from __future__ import annotations

import numpy as np


class OnnxFeatures:
    def __init__(self, onnx_path, tensor: str, pool: str = "flatten"):
        import onnx
        import onnxruntime as ort
        m = onnx.load(str(onnx_path))
        if tensor not in [o.name for o in m.graph.output]:
            del m.graph.output[:]
            m.graph.output.append(onnx.helper.make_empty_tensor_value_info(tensor))
        self.session = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
        inp = self.session.get_inputs()[0]
        self.input = inp.name
        self.batched = not isinstance(inp.shape[0], int) or inp.shape[0] != 1
        self.tensor, self.pool = tensor, pool

    def __call__(self, x_nhwc: np.ndarray, batch: int = 64) -> np.ndarray:
        """[N, H, W, C] float32 images -> [N, K] float64 features."""
        step = batch if self.batched else 1
        out = []
        for i in range(0, len(x_nhwc), step):
            x = np.ascontiguousarray(x_nhwc[i:i + step].transpose(0, 3, 1, 2), dtype=np.float32)
            f = self.session.run([self.tensor], {self.input: x})[0]
            if f.ndim == 4:
                f = f.transpose(0, 2, 3, 1)  # NHWC, the order the DENSE reads
                if self.pool == "max":
                    f = f.max(axis=(1, 2))
                elif self.pool == "mean":
                    f = f.mean(axis=(1, 2))
            out.append(f.reshape(len(f), -1))
        return np.concatenate(out).astype(np.float64)
