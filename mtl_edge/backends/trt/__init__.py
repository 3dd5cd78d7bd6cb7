"""The TensorRT backend: build, engine file, run, profile and inspect, side by side.

- :mod:`~mtl_edge.backends.trt.build`: an exported ONNX file -> an mtl-edge engine file
  (``mtl-edge export --engine``), on the machine that will run it;
- :mod:`~mtl_edge.backends.trt.engine_file`: the engine file (a JSON header, then the
  serialized engine) and its TensorRT-version/GPU check; pure Python;
- :mod:`~mtl_edge.backends.trt.runner`: :class:`TrtBackend`, which runs an engine file;
- :mod:`~mtl_edge.backends.trt.profiler`: its per-layer times, by model part;
- :mod:`~mtl_edge.backends.trt.inspect`: the precision each layer of an engine runs in;
- :mod:`~mtl_edge.backends.trt.cuda`: what they share (importing TensorRT and cuda-python,
  the TensorRT logger, the GPU's identity, the install advice).

Nothing here imports TensorRT or cuda-python until a function needs them, and nothing
imports torch: the package is on the deploy path. This file imports nothing, so reading
an engine file's header does not load the runner.
"""
