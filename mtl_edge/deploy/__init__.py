"""The torch-free deploy contract shared by export, the runtime and evaluation.

- :mod:`~mtl_edge.deploy.metadata`: the JSON every exported model carries, and its reader;
- :mod:`~mtl_edge.deploy.letterbox`: letterbox a frame and map predictions back;
- :mod:`~mtl_edge.deploy.results`: ``FrameResult`` and the unpacking of each head's outputs;
- :mod:`~mtl_edge.deploy.draw`, :mod:`~mtl_edge.deploy.video`, :mod:`~mtl_edge.deploy.table`:
  drawing results, writing H.264, printing tables.

Nothing here imports torch, torchvision, onnx, the models, training or the scene generator.
"""
