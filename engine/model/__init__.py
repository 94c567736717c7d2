"""The model: the FOMM networks and everything that runs them.

- networks.py, rewrites.py, paddle_compat.py, paddle_thread.py, device.py: ppgan's networks on
  Paddle, their inference-friendly rewrites, Paddle's import and threads, the Paddle device;
- runner_types.py: the ModelRunner protocol the animation loop calls;
- runner_dygraph.py, runner_inference.py, runner_openvino.py: running (the dynamic graph, Paddle
  Inference, OpenVINO);
- export.py, export_openvino.py, reference.py: exporting once per checkpoint (Paddle Inference,
  then OpenVINO IR) and the reference frame every export is checked against;
- precision.py, int8_gate.py, quality.py: which precision runs where, and the quality gates;
- choose.py: which runner this process uses, and why (`make_runner`).

Importing this package imports nothing: Paddle and OpenVINO load only when a runner is made.
"""
