"""The GPU path, as it runs on a GPU host, on any machine: paddle's device selection and the GPU
predictors are stood in for (a CPU build has no CUDA), everything else is the real engine.

On a GPU host the export and its reference frame are computed on the CPU, whatever the engine's
device (so the CPU fp32 model is checked against a CPU reference, never a TF32 one), the export is
cached once, and the GPU predictors get the configured GPU and the GPU's precision."""

from __future__ import annotations

import pytest

from engine import Engine, EngineError, EngineState
from engine.model import choose, export
from engine.model import precision as model_precision
from engine.model import runner_inference as ri
from engine.model.device import DEFAULT_BATCH_SIZE, GpuInfo, explain_device
from engine.model.paddle_compat import import_paddle

H100 = "NVIDIA H100 80GB HBM3"
TWO_GPUS = GpuInfo(True, "12.6", (H100, H100), ((9, 0), (9, 0)))


class GpuHost:
    """paddle's device as a GPU host would have it: set_device/get_device keep the name asked
    for (paddle itself stays on the CPU, the only device here); GPU predictors are made on the CPU
    and recorded."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        paddle = import_paddle()
        self.device = paddle.get_device()
        # paddle itself on the CPU throughout (on a real GPU host too), whatever is asked for
        self._real_set_device, self._real_device = paddle.set_device, paddle.get_device()
        paddle.set_device("cpu")
        self.set_calls: list[str] = []
        self.gpu_predictors: list[tuple[str, str, int]] = []  # (model, precision, gpu_id)
        self.networks_loaded_on: list[str] = []
        self.reference_on: list[str] = []
        self.exports = 0
        monkeypatch.setattr("engine.model.device.gpu_info", lambda: TWO_GPUS)
        monkeypatch.setattr(paddle, "set_device", self._set_device)
        monkeypatch.setattr(paddle, "get_device", lambda: self.device)
        real_create = ri._Predictor._create

        def create(predictor, directory, name, device, precision, gpu_id=0):
            if device == "gpu":
                self.gpu_predictors.append((name, precision, gpu_id))
                device, precision = "cpu", "fp32"  # what a CPU build can run
            real_create(predictor, directory, name, device, precision, gpu_id)

        monkeypatch.setattr(ri._Predictor, "_create", create)
        import engine.model.networks

        real_load = engine.model.networks.load_networks

        def load_networks(checkpoint):
            self.networks_loaded_on.append(self.device)
            return real_load(checkpoint)

        monkeypatch.setattr(engine.model.networks, "load_networks", load_networks)
        real_reference = export.write_reference

        def write_reference(directory, networks):
            self.reference_on.append(self.device)
            real_reference(directory, networks)

        monkeypatch.setattr(export, "write_reference", write_reference)
        real_export = choose.export_models

        def export_models(networks, target):
            self.exports += 1
            return real_export(networks, target)

        monkeypatch.setattr(choose, "export_models", export_models)

    def close(self) -> None:
        self._real_set_device(self._real_device)

    def _set_device(self, name: str) -> str:
        self.set_calls.append(name)
        self.device = name
        return name


@pytest.fixture
def gpu_host(monkeypatch):
    host = GpuHost(monkeypatch)
    yield host
    host.close()


def test_a_gpu_host_exports_on_the_cpu_once_and_runs_on_its_gpu(random_checkpoint, tmp_path,
                                                                 gpu_host):
    host = gpu_host
    cache = tmp_path / "cache"
    engine = Engine(random_checkpoint, cache, device="auto", gpu_id=1)
    engine.load()
    # the engine runs on GPU 1, in bf16 (an H100 has it), with the GPU's batch size
    assert engine.status.state == EngineState.READY, engine.status
    assert engine.runner.name == "inference-gpu-bf16" and engine.runner.device == "gpu"
    assert engine.batch_size == DEFAULT_BATCH_SIZE["gpu"]
    assert host.device == "gpu:1"  # where paddle was left for the dynamic graph's fallback
    # the networks were loaded, and the reference frame rendered, on the CPU: once
    assert host.exports == 1
    assert host.networks_loaded_on == ["cpu"]
    assert host.reference_on == ["cpu"]
    assert host.set_calls[0] == "gpu:1" and "cpu" in host.set_calls
    # the GPU predictors: GPU 1, bf16, the transposed-conv generator (pixel shuffles are oneDNN's)
    assert sorted(host.gpu_predictors) == [("encoder", "bf16", 1), ("generator", "bf16", 1),
                                           ("kp_detector", "bf16", 1)]

    # A restart (a new process, the same cache): the export is loaded, not made again, and the
    # dynamic-graph networks are not even built.
    host.gpu_predictors.clear()
    again = Engine(random_checkpoint, cache, device="gpu", gpu_id=0, batch_size=8)
    again.load()
    assert again.runner.name == "inference-gpu-bf16" and again.status.state == EngineState.READY
    assert host.exports == 1 and host.networks_loaded_on == ["cpu"]
    assert host.device == "gpu:0" and {g for _, _, g in host.gpu_predictors} == {0}
    assert again.batch_size == 8  # as configured
    assert [p.name for p in (cache / "inference").iterdir()] == [
        export.model_dir(cache, export.checkpoint_digest(random_checkpoint)).name]


def test_a_gpu_id_past_the_visible_gpus_is_one_line(monkeypatch):
    monkeypatch.setattr("engine.model.device.gpu_info", lambda: TWO_GPUS)
    assert explain_device("auto", 1) == ("gpu", f"auto: paddle sees {H100} (GPU 1)")
    with pytest.raises(EngineError, match=r"^\[engine\]\.gpu_id = 2 but paddle sees 2 GPU\(s\), "
                                          r"numbered from 0 \(CUDA_VISIBLE_DEVICES renumbers them\)$"):
        explain_device("gpu", 2)
    assert explain_device("cpu", 2) == ("cpu", "cpu as configured")  # no GPU used: not checked


def test_psnr_floors_fit_each_precision():
    # CPU fp32 is checked to 1e-3; TF32 fp32 on a GPU, then the lossy precisions, by PSNR
    assert model_precision.min_psnr_db("cpu", "fp32") is None
    assert model_precision.min_psnr_db("gpu", "fp32") == model_precision.MIN_GPU_FP32_PSNR_DB
    assert {model_precision.min_psnr_db(d, p) for d, p in [("cpu", "bf16"), ("gpu", "bf16"), ("gpu", "fp16")]} \
        == {model_precision.MIN_PSNR_DB}
    assert model_precision.MIN_GPU_FP32_PSNR_DB > model_precision.MIN_PSNR_DB


def test_tf32_is_reported_for_what_the_gpu_has(monkeypatch):
    monkeypatch.delenv("NVIDIA_TF32_OVERRIDE", raising=False)
    assert TWO_GPUS.tf32(0).startswith("on (paddle's default")
    monkeypatch.setenv("NVIDIA_TF32_OVERRIDE", "0")
    assert TWO_GPUS.tf32(0) == "off (NVIDIA_TF32_OVERRIDE=0)"
    assert GpuInfo(True, "12.6", ("Tesla T4",), ((7, 5),)).tf32(0).startswith("not available")
    assert GpuInfo(False, None, ()).tf32(0) == "not used (no GPU)"


def test_the_batch_size_defaults_per_device(tmp_path):
    assert Engine(tmp_path / "w.pdparams", tmp_path).batch_size == DEFAULT_BATCH_SIZE["cpu"]
    assert Engine(tmp_path / "w.pdparams", tmp_path, batch_size=6).batch_size == 6
