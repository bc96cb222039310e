"""rtmotion.export: builds what the runtime runs.

- `onnx_export`: the ONNX graph (explicit exporter and opset, static shapes) + parity check;
- `calibration`: recorded real generator inputs (calibration/<subject>/);
- `int8`: Q/DQ INT8 graphs (onnxruntime.quantization) and their quality against fp32;
- `aoti`: AOTInductor `.pt2` packages (needs a C++ compiler);
- `tensorrt_build`: TensorRT engines from the ONNX graphs;
- `builder`: `EngineBuilder`, which builds and checks each artifact (parity, INT8 quality,
  latency) through the cache;
- `cache`, `machine`: the engine cache (sidecars keyed by machine, lock, atomic rename);
- `engine`: which engine to open (the request checked against the backend x precision table,
  the `auto` policy): `open_engine(subject, backend, precision, device, engine_dir, threads)` and
  `open_requested(subject, EngineRequest)`, the one call the pipeline makes (through
  `rtmotion.pipeline.session.open_session`);
- `bench_generator`: `time_generators(...)`, generator latency per backend x precision x size;
- `availability`: which backends can run here and why not.
"""

from rtmotion.export.engine import EngineChoice, open_engine, open_requested

__all__ = ["EngineChoice", "open_engine", "open_requested"]
