"""Checkpoint -> ONNX (fp32 / fp16 / int8 Q/DQ) -> TensorRT engine."""
