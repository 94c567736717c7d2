"""A small file may hold a huge high-bit-depth image: a 40-megapixel float TIFF (the size limit)
is brought to 8-bit RGB at the output size within a bounded amount of memory, measured in a fresh
process (the decoded image itself is 160 MB; 64-bit full-size copies would make it gigabytes)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
LIMIT_BYTES = 400 * 1024 * 1024

MEASURE = textwrap.dedent("""
    import json, os, resource, sys, tracemalloc
    from engine.images import load_photo

    def status(field):  # Linux: this process's own figures, in bytes
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) * 1024 for line in f if line.startswith(field + ":"))

    def max_rss():  # elsewhere; after fork + exec it may still hold the parent's peak
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * (1 if sys.platform == "darwin" else 1024)

    data = open(sys.argv[1], "rb").read()
    linux = os.path.exists("/proc/self/status")
    if linux:
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")  # resets VmHWM, the peak resident size, to the current one
        except OSError:
            pass
    before = status("VmRSS") if linux else max_rss()
    tracemalloc.start()
    out = load_photo(data, int(sys.argv[2]))
    traced = tracemalloc.get_traced_memory()[1]
    after = status("VmHWM") if linux else max_rss()
    print(json.dumps({"rss_growth": after - before, "traced_peak": traced, "shape": list(out.shape),
                      "dtype": str(out.dtype), "middle": out[out.shape[0] // 2, out.shape[1] // 2].tolist()}))
""")


def measure(path: Path, max_side: int = 512) -> dict:
    """load_photo of the file in a fresh interpreter: how much its peak memory grew (the most of the
    growth of its peak resident size, Pillow's and OpenCV's buffers included, and of what Python's
    allocator traced, numpy's arrays included)."""
    done = subprocess.run([sys.executable, "-c", MEASURE, str(path), str(max_side)], cwd=REPO, check=True,
                          capture_output=True, text=True, timeout=300)
    return json.loads(done.stdout.strip().splitlines()[-1])


def float_tiff(path: Path, width: int, height: int) -> Path:
    """A float image, 0..1 by convention: a horizontal ramp in 256 steps, deflate-compressed (runs of
    equal values: a small file)."""
    ramp = (np.arange(width) * 256 // width).astype(np.float32) / 255.0
    Image.fromarray(np.broadcast_to(ramp, (height, width)).copy(), "F").save(path, compression="tiff_deflate")
    return path


@pytest.fixture(scope="module")
def forty_megapixels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return float_tiff(tmp_path_factory.mktemp("tiff") / "float-40mp.tif", 8000, 5000)


def test_a_40_megapixel_float_tiff_loads_within_400_mb(forty_megapixels: Path) -> None:
    assert forty_megapixels.stat().st_size < 40 * 1024 * 1024  # small on the wire, huge decoded
    result = measure(forty_megapixels)
    assert result["shape"] == [320, 512, 3] and result["dtype"] == "uint8"
    assert 110 <= result["middle"][0] <= 145  # the ramp's middle, mid-grey: rescaled, not clipped
    peak = max(result["rss_growth"], result["traced_peak"])
    assert peak < LIMIT_BYTES, f"peak {peak / 2**20:.0f} MiB"


def test_a_16_bit_png_is_rescaled_at_reduced_size(tmp_path: Path) -> None:
    ramp = np.linspace(0, 65535, 3000, dtype=np.float64).astype(np.uint16)
    path = tmp_path / "16bit.png"
    Image.fromarray(np.broadcast_to(ramp, (2000, 3000)).copy()).save(path)
    result = measure(path)
    assert result["shape"] == [340, 512, 3] and 110 <= result["middle"][0] <= 145


def test_a_high_bit_image_still_follows_its_exif_orientation(tmp_path: Path) -> None:
    from engine.images import load_photo

    exif = Image.Exif()
    exif[0x0112] = 6  # the camera was turned: shown rotated 90° clockwise
    wide = np.broadcast_to(np.linspace(0, 65535, 1200).astype(np.uint16), (800, 1200)).copy()
    path = tmp_path / "turned.png"
    Image.fromarray(wide).save(path, exif=exif.tobytes())
    out = load_photo(path, 512)
    assert out.shape == (512, 340, 3)  # portrait now
    assert out[0, 170, 0] < 10 and out[-1, 170, 0] > 245  # the ramp runs from top to bottom
