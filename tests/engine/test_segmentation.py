"""Person segmentation: the bundled selfie model through cv2.dnn (its layout, its sha256 check, its
mask on a real photo against a hand-made outline), the PP-HumanSeg path through paddle.inference
on a stand-in exported in PaddleSeg's format, and `weights fetch --humanseg`."""

from __future__ import annotations

import hashlib
import shutil
import socket
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cv2
import numpy as np
import pytest

from engine.errors import DownloadError
from engine.segmentation import (
    HUMANSEG_FILES,
    SELFIE_MODEL,
    SELFIE_SHA256,
    HumanSegSegmenter,
    SegmenterUnavailable,
    SelfieSegmenter,
    make_segmenter,
    read_deploy,
)
from engine.tools.assets import fetch_humanseg
from tests.engine.humanseg_standin import SIZE, expected_probability

# The astronaut (scikit-image, 512x512) outlined by hand: hair, face, neck, the suit's collar ring,
# shoulders, and the helmet she holds (a held object is part of a portrait's person).
ASTRONAUT_OUTLINE = [
    (225, 15), (260, 20), (285, 35), (298, 65), (298, 95), (290, 118), (272, 140), (265, 158),
    (258, 175), (270, 184), (283, 195), (300, 213), (306, 230), (330, 250), (350, 280), (358, 320),
    (352, 350), (400, 345), (450, 360), (485, 400), (500, 450), (508, 511), (20, 511), (20, 450),
    (25, 340), (35, 300), (55, 260), (85, 235), (115, 210), (118, 185), (140, 160), (185, 148),
    (178, 120), (160, 95), (155, 60), (170, 30), (200, 17)]


def astronaut() -> np.ndarray:
    import skimage.data

    return skimage.data.astronaut()


def astronaut_hand_mask() -> np.ndarray:
    mask = np.zeros((512, 512), np.uint8)
    cv2.fillPoly(mask, [np.array(ASTRONAUT_OUTLINE, np.int32)], 1)
    return mask.astype(bool)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max(1, (a | b).sum()))


# --- the selfie model ---------------------------------------------------------------------------

def test_the_bundled_model_is_mediapipes_with_the_stated_layout():
    data = SELFIE_MODEL.read_bytes()
    assert len(data) == 249_505 and hashlib.sha256(data).hexdigest() == SELFIE_SHA256
    assert (SELFIE_MODEL.parent / "LICENSE").read_text().lstrip().startswith("Apache License")
    net = cv2.dnn.readNetFromTFLite(np.frombuffer(data, np.uint8))
    # NCHW 1x3x256x256 in, 1x1x256x256 probability out
    rgb = cv2.resize(astronaut(), (256, 256), interpolation=cv2.INTER_AREA)
    net.setInput(cv2.dnn.blobFromImage(rgb, 1 / 255.0))
    out = net.forward()
    assert out.shape == (1, 1, 256, 256) and out.dtype == np.float32
    assert 0.0 <= out.min() and out.max() <= 1.0
    # the face's centre (222, 118 in 512 px) is person, the top-right corner is not
    assert out[0, 0, 59, 111] > 0.9 and out[0, 0, 5, 250] < 0.1


def test_selfie_mask_matches_the_hand_made_outline():
    seg = SelfieSegmenter()
    mask = seg.mask(astronaut())
    assert mask.shape == (512, 512) and mask.dtype == np.float32
    assert iou(mask > 0.5, astronaut_hand_mask()) >= 0.9  # 0.958 measured
    # a non-square photo keeps its size and its person
    wide = cv2.copyMakeBorder(astronaut(), 0, 0, 256, 256, cv2.BORDER_REFLECT)
    wide_mask = seg.mask(wide)
    assert wide_mask.shape == (512, 1024)
    assert iou(wide_mask[:, 256:768] > 0.5, astronaut_hand_mask()) >= 0.75


def test_selfie_finds_no_person_in_textures():
    import skimage.data

    seg = SelfieSegmenter()
    for image in (skimage.data.brick(), skimage.data.grass(), skimage.data.gravel(),
                  skimage.data.rocket()):
        rgb = image if image.ndim == 3 else cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
        assert (seg.mask(rgb) > 0.5).mean() < 0.01
    # ...but it sees "people" in a cup and a cat, which is why clean_background anchors people
    # to detected faces (tests/engine/test_background.py)
    assert (seg.mask(skimage.data.chelsea()) > 0.5).mean() > 0.5


def test_a_damaged_model_fails_with_one_line(tmp_path):
    damaged = tmp_path / "selfie_segmentation.tflite"
    data = bytearray(SELFIE_MODEL.read_bytes())
    data[1000] ^= 0xFF
    damaged.write_bytes(bytes(data))
    with pytest.raises(SegmenterUnavailable, match="not MediaPipe's selfie segmentation model") as err:
        SelfieSegmenter(damaged)
    assert "\n" not in str(err.value) and "sha256" in str(err.value)
    with pytest.raises(SegmenterUnavailable, match="not found"):
        SelfieSegmenter(tmp_path / "missing.tflite")


def test_factory_names_each_model_and_refuses_others(humanseg_standin):
    assert make_segmenter("selfie").name == "selfie"
    assert make_segmenter("humanseg", humanseg_standin).name == "humanseg"
    with pytest.raises(SegmenterUnavailable, match="weights fetch --humanseg"):
        make_segmenter("humanseg", None)
    with pytest.raises(SegmenterUnavailable, match="selfie, humanseg"):
        make_segmenter("rembg")


# --- PP-HumanSeg through paddle.inference (the stand-in) ----------------------------------------

def test_standin_is_a_paddle2_program_loaded_by_paddle_inference(humanseg_standin):
    from paddle import inference

    assert {p.name for p in humanseg_standin.iterdir()} >= set(HUMANSEG_FILES)
    assert not list(humanseg_standin.glob("*.json"))  # the old program format, not PIR's
    spec = read_deploy(humanseg_standin)
    assert (spec.width, spec.height) == SIZE and spec.mean == spec.std == (0.5, 0.5, 0.5)
    seg = HumanSegSegmenter(humanseg_standin)
    assert isinstance(seg._predictor, inference.Predictor)


def test_humanseg_feeds_rgb_resized_and_normalised_as_deploy_yaml_says(humanseg_standin):
    seg = HumanSegSegmenter(humanseg_standin)
    # a portrait photo of four flat colours: each side's probability follows the stand-in's rule
    colours = [(200, 60, 40), (40, 60, 200), (100, 100, 100), (160, 160, 160)]
    image = np.zeros((400, 240, 3), np.uint8)
    for i, c in enumerate(colours):
        image[i * 100:(i + 1) * 100] = c
    mask = seg.mask(image)
    assert mask.shape == (400, 240) and mask.dtype == np.float32
    for i, c in enumerate(colours):
        inner = mask[i * 100 + 20:(i + 1) * 100 - 20, 20:-20]
        assert np.allclose(inner, expected_probability(np.array(c, np.uint8)), atol=2e-3), c
    # red is a person and blue is not only if channels go in as RGB; 100 vs 160 grey only if the
    # normalisation is deploy.yaml's (v/255 - 0.5) / 0.5
    assert mask[50, 120] > 0.9 and mask[150, 120] < 0.01
    assert mask[250, 120] < 0.5 < mask[350, 120]


def test_humanseg_on_a_real_photo_follows_the_rule_everywhere(humanseg_standin):
    seg = HumanSegSegmenter(humanseg_standin)
    photo = astronaut()
    mask = seg.mask(photo)
    expected = expected_probability(cv2.GaussianBlur(photo, (0, 0), 3))
    # smooth regions agree; edges differ by the model's 2x2 pooling at 256x144
    assert np.corrcoef(mask.ravel(), expected.ravel())[0, 1] > 0.9


def test_a_folder_that_is_not_an_export_names_the_fetch_command(tmp_path, humanseg_standin):
    with pytest.raises(SegmenterUnavailable, match="weights fetch --humanseg"):
        HumanSegSegmenter(tmp_path)
    bad = tmp_path / "bad"
    shutil.copytree(humanseg_standin, bad)
    (bad / "deploy.yaml").write_text("Deploy:\n  model: model.pdmodel\n  params: model.pdiparams\n"
                                     "  transforms:\n  - type: ResizeByShort\n    short_size: 192\n")
    with pytest.raises(SegmenterUnavailable, match="ResizeByShort"):
        HumanSegSegmenter(bad)
    (bad / "deploy.yaml").write_text("- just\n- a list\n")
    with pytest.raises(SegmenterUnavailable, match="not a PaddleSeg deploy file"):
        HumanSegSegmenter(bad)
    broken = tmp_path / "broken"
    shutil.copytree(humanseg_standin, broken)
    # paddle.inference would crash the process on these: they are refused before it sees them
    for program in (b"not a program", (humanseg_standin / "model.pdmodel").read_bytes()[:200], b""):
        (broken / "model.pdmodel").write_bytes(program)
        with pytest.raises(SegmenterUnavailable, match="Paddle program"):
            HumanSegSegmenter(broken)
    shutil.copy(humanseg_standin / "model.pdmodel", broken / "model.pdmodel")
    (broken / "model.pdiparams").write_bytes((humanseg_standin / "model.pdiparams").read_bytes()[:20])
    with pytest.raises(SegmenterUnavailable, match="paddle.inference cannot load") as err:
        HumanSegSegmenter(broken)
    assert "\n" not in str(err.value)


# --- python -m engine weights fetch --humanseg ----------------------------------------------------

ZIP_TOP = "portrait_pp_humansegv2_lite_256x144_inference_model_with_softmax"  # as PaddleSeg's zip


def _zip_of(folder: Path, archive: Path, top: str = ZIP_TOP, skip: tuple[str, ...] = ()) -> bytes:
    with zipfile.ZipFile(archive, "w") as z:
        for p in sorted(folder.iterdir()):
            if p.name not in skip:
                z.write(p, f"{top}/{p.name}")
    return archive.read_bytes()


@pytest.fixture
def zip_server(humanseg_standin, tmp_path_factory):
    served = tmp_path_factory.mktemp("served")
    bodies = {"/good.zip": _zip_of(humanseg_standin, served / "good.zip"),
              "/nodeploy.zip": _zip_of(humanseg_standin, served / "nd.zip", skip=("deploy.yaml",)),
              "/notzip.zip": b"<html>moved</html>" * 100}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            body = bodies.get(self.path)
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", bodies
    httpd.shutdown()
    httpd.server_close()


def test_fetch_humanseg_unpacks_checks_and_loads(zip_server, tmp_path):
    url, bodies = zip_server
    dest = tmp_path / "weights" / "humanseg"
    sha = hashlib.sha256(bodies["/good.zip"]).hexdigest()
    assert fetch_humanseg(dest, url=f"{url}/good.zip", sha256=sha, progress=False) == dest
    assert all((dest / n).is_file() for n in HUMANSEG_FILES)
    assert sorted(p.name for p in dest.parent.iterdir()) == ["humanseg"]  # no zip, no staging
    assert HumanSegSegmenter(dest).mask(astronaut()).shape == (512, 512)
    # fetched again over an existing model: replaced in place
    fetch_humanseg(dest, url=f"{url}/good.zip", progress=False)
    assert sorted(p.name for p in dest.parent.iterdir()) == ["humanseg"]


@pytest.mark.parametrize("path, match", [("/nodeploy.zip", "does not hold one PaddleSeg export"),
                                         ("/notzip.zip", "not a zip archive"),
                                         ("/missing.zip", "HTTP 404")])
def test_fetch_humanseg_refuses_what_is_not_a_model(zip_server, tmp_path, path, match):
    url, _ = zip_server
    dest = tmp_path / "humanseg"
    with pytest.raises(DownloadError, match=match):
        fetch_humanseg(dest, url=f"{url}{path}", progress=False)
    assert list(tmp_path.iterdir()) == []


def test_fetch_humanseg_offline_is_one_line_from_the_cli(tmp_path, capsys):
    from engine.tools.cli import main

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code = main(["weights", "fetch", "--humanseg", "--url", f"http://127.0.0.1:{port}/hs.zip",
                 "--dir", str(tmp_path / "humanseg")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip().splitlines() == [f"error: cannot reach 127.0.0.1:{port} (no internet connection?)"]
    assert list(tmp_path.iterdir()) == []
