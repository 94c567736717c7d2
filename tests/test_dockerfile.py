"""Docker cannot run here, so the image is checked statically: it installs the same lock as the
Makefile, and the same Paddle version as the tests run (the compiled model is Paddle's own format)."""

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def requirement_lines(name: str) -> list[str]:
    lines = (ROOT / name).read_text(encoding="utf-8").splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.strip().startswith("#")]


def paddle_pin(name: str, package: str) -> str:
    pins = [ln for ln in requirement_lines(name) if ln.startswith("paddlepaddle")]
    assert len(pins) == 1 and pins[0].startswith(f"{package}=="), pins
    return pins[0].split("==", 1)[1]


def dockerfile() -> str:
    return (ROOT / "Dockerfile").read_text(encoding="utf-8")


def test_cpu_and_gpu_sets_differ_only_in_paddle_and_the_export_tools():
    """The same lock everywhere, but for Paddle's own wheel; the CPU set adds only the export-time
    tools of the OpenVINO runner (paddle2onnx, NNCF: engine/model/runner_openvino.py converts once where
    Paddle runs), which a GPU host, rendering with Paddle Inference, does not use."""
    cpu = requirement_lines("requirements-cpu.txt")
    gpu = requirement_lines("requirements-gpu.txt")
    assert "-r requirements.txt" in cpu and "-r requirements.txt" in gpu
    cpu_rest = [ln for ln in cpu if not ln.startswith("paddlepaddle")]
    gpu_rest = [ln for ln in gpu if not ln.startswith("paddlepaddle")]
    assert cpu_rest[:len(gpu_rest)] == gpu_rest
    export_tools = {ln.split("==", 1)[0] for ln in cpu_rest[len(gpu_rest):]}
    assert {"paddle2onnx", "nncf"} <= export_tools
    assert not export_tools & {ln.split("==", 1)[0] for ln in requirement_lines("requirements.txt")}


def test_the_image_and_the_tests_run_the_same_paddle():
    """Exports are Paddle 3 PIR programs: a Paddle 2 image would silently render ~20x slower."""
    import paddle

    cpu = paddle_pin("requirements-cpu.txt", "paddlepaddle")
    gpu = paddle_pin("requirements-gpu.txt", "paddlepaddle-gpu")
    assert cpu.split(".")[0] == gpu.split(".")[0] == "3"  # the major version: the format
    assert gpu == cpu  # and the same release, so the image runs what the tests checked
    assert paddle.__version__ == cpu  # this suite really runs the pinned CPU wheel


def test_paddle_comes_from_paddles_index_for_the_base_images_cuda():
    """PyPI has no Paddle 3 GPU wheel: the image takes it from PaddlePaddle's index, whose path
    names the CUDA version, which must be the base image's."""
    docker = dockerfile()
    cuda = re.search(r"^FROM nvidia/cuda:(\d+)\.(\d+)\.\d+-\w+-ubuntu[\d.]+$", docker, re.M)
    assert cuda, "the base image is an nvidia/cuda image"
    index = re.search(r"^ARG PADDLE_INDEX=(https://www\.paddlepaddle\.org\.cn/packages/stable/"
                      r"cu(\d+)/)$", docker, re.M)
    assert index and index.group(2) == cuda.group(1) + cuda.group(2)
    assert re.search(r'pip install --index-url "\$PADDLE_INDEX" -r requirements-gpu\.txt', docker)
    # the shared lock comes from PyPI, before and without Paddle's index
    lock = re.search(r"pip install -r requirements\.txt", docker)
    assert lock and lock.start() < docker.index('--index-url "$PADDLE_INDEX"')
    assert f"packages/stable/cu{index.group(2)}/" in (ROOT / "requirements-gpu.txt").read_text()


def test_shared_lock_is_fully_pinned_and_has_no_paddle():
    for line in requirement_lines("requirements.txt") + requirement_lines("requirements-nodeps.txt"):
        assert re.fullmatch(r"[A-Za-z0-9_.\-\[\],]+==[\w.+]+", line), line
        assert not line.lower().startswith("paddlepaddle"), line


def test_dockerfile_and_makefile_install_the_same_files_the_same_way(tmp_path: Path):
    docker = dockerfile()
    assert re.search(r"pip install [^\n]*-r requirements-gpu.txt", docker)
    assert re.search(r"pip install [^\n]*--no-deps -r requirements-nodeps.txt", docker)
    for name in ("requirements.txt", "requirements-gpu.txt", "requirements-nodeps.txt"):
        assert name in docker
    # The set-up's commands as make runs them (-n: printed, not run) for a new venv: the whole CPU
    # lock (requirements-cpu.txt is requirements.txt plus its own pins), the tools and ppgan, every
    # file with --no-deps (two pips at once), then `pip check`.
    venv = tmp_path / "venv"
    make = subprocess.run(["make", "-n", "setup", f"VENV={venv}"], cwd=ROOT, capture_output=True, text=True,
                          check=True).stdout.replace("\\\n", " ")
    own = venv / "requirements-cpu-own.txt"
    assert f"grep -v '^-r' requirements-cpu.txt > {own}" in make
    installs = [args for args in re.findall(r" -m pip install ([^;&\n]+)", make) if "pip==" not in args]
    assert installs and all("--no-deps" in args.split() for args in installs)
    installed = re.findall(r"-r (\S+)", " ".join(installs))
    assert sorted(installed) == sorted(["requirements.txt", str(own), "requirements-dev.txt",
                                        "requirements-nodeps.txt"])
    assert " -m pip check" in make


def test_dockerfile_is_a_cuda_image_with_a_user_volumes_and_healthcheck():
    docker = dockerfile()
    assert re.search(r"^USER (?!root)\w+", docker, re.M)
    volumes = re.search(r"^VOLUME (.+)$", docker, re.M).group(1)
    for folder in ("data", "weights", "templates"):
        assert f"/app/{folder}" in volumes
    assert re.search(r"^HEALTHCHECK .*\n?.*/healthz", docker, re.M)
    # Every path the image copies exists in the repository.
    for match in re.finditer(r"^COPY (.+) \S+$", docker, re.M):
        for src in match.group(1).split():
            assert (ROOT / src).exists(), f"Dockerfile copies missing {src}"
