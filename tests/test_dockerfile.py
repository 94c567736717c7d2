"""Docker cannot run here: check that the image installs from the same lock as the Makefile."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def requirement_lines(name: str) -> list[str]:
    lines = (ROOT / name).read_text(encoding="utf-8").splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.strip().startswith("#")]


def test_cpu_and_gpu_sets_differ_only_in_the_paddle_line():
    cpu = requirement_lines("requirements-cpu.txt")
    gpu = requirement_lines("requirements-gpu.txt")
    assert "-r requirements.txt" in cpu and "-r requirements.txt" in gpu
    assert [ln for ln in cpu if not ln.startswith("paddlepaddle")] == [
        ln for ln in gpu if not ln.startswith("paddlepaddle")
    ]
    assert [ln for ln in cpu if ln.startswith("paddlepaddle")] == ["paddlepaddle==3.3.1"]
    assert [ln for ln in gpu if ln.startswith("paddlepaddle")] == ["paddlepaddle-gpu==2.6.2"]


def test_shared_lock_is_fully_pinned_and_has_no_paddle():
    for line in requirement_lines("requirements.txt") + requirement_lines("requirements-nodeps.txt"):
        assert re.fullmatch(r"[A-Za-z0-9_.\-\[\],]+==[\w.+]+", line), line
        assert not line.lower().startswith("paddlepaddle"), line


def test_dockerfile_and_makefile_install_the_same_files_the_same_way():
    docker = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    make = (ROOT / "Makefile").read_text(encoding="utf-8")
    for text, paddle_set in ((docker, "requirements-gpu.txt"), (make, "requirements-cpu.txt")):
        assert re.search(rf"pip install [^\n]*-r {paddle_set}", text)
        assert re.search(r"pip install [^\n]*--no-deps -r requirements-nodeps.txt", text)
    for name in ("requirements.txt", "requirements-gpu.txt", "requirements-nodeps.txt"):
        assert name in docker


def test_dockerfile_is_a_cuda_image_with_a_user_volumes_and_healthcheck():
    docker = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert re.search(r"^FROM nvidia/cuda:11\.8\.\d+-cudnn8-runtime", docker, re.M)
    assert re.search(r"^USER (?!root)\w+", docker, re.M)
    volumes = re.search(r"^VOLUME (.+)$", docker, re.M).group(1)
    for folder in ("data", "weights", "templates"):
        assert f"/app/{folder}" in volumes
    assert re.search(r"^HEALTHCHECK .*\n?.*/healthz", docker, re.M)
    # Every path the image copies exists in the repository.
    for match in re.finditer(r"^COPY (.+) \S+$", docker, re.M):
        for src in match.group(1).split():
            assert (ROOT / src).exists(), f"Dockerfile copies missing {src}"
