"""The network: its definition, checkpoints, runners (PyTorch, ONNX Runtime), ONNX export."""
