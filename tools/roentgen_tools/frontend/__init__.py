"""Model importers: ONNX (onnx.py) -> the graph IR."""
