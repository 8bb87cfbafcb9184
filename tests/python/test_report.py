"""The HTML report (`headroom sweep --html`, headroom.report): one self-contained file with the capacity, the
knee, the figure as inline SVG, a row per point, the explanations and the counterfactuals, checked by parsing it
and, where Chromium is installed (scripts/test.sh installs it), by rendering it headless and looking at the
screenshot's pixels."""

import json
import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

import headroom

ROOT = Path(__file__).resolve().parents[2]
BIN = os.environ.get("HEADROOM_BIN", str(ROOT / "build" / "cli" / "headroom"))


class Scan(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.external, self.text = [], [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        for k, v in attrs:
            if k in ("src", "href") and v and not v.startswith("#"):
                self.external.append((tag, k, v))
        if tag in ("script", "link", "iframe", "img"):
            self.external.append((tag, "", ""))

    def handle_data(self, data):
        self.text.append(data)


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    d = tmp_path_factory.mktemp("report")
    args = ["sweep", "--concurrency", "1,20,120,200,300", "--set", "workload.duration_s=120"]
    j = subprocess.run([BIN, *args, "--json"], capture_output=True, text=True, timeout=300)
    r = subprocess.run([BIN, *args, "--html", d / "report.html"], capture_output=True, text=True, timeout=300)
    assert j.returncode == 0 and r.returncode == 0, r.stderr
    assert f"Wrote the HTML report to {d / 'report.html'}" in r.stdout
    return d / "report.html", [json.loads(x) for x in j.stdout.splitlines()]


def test_the_report_is_one_offline_file_with_everything(made):
    path, points = made
    scan = Scan()
    scan.feed(path.read_text())
    assert scan.external == []  # no script, stylesheet, image or link to fetch: it opens offline
    assert scan.tags.count("svg") == 1
    text = "".join(scan.text)
    cap = points[0]["sweep"]["capacity"]
    assert cap["kind"] == "bracketed" and cap["sentence"][1:] in text and cap["load_text"] in cap["sentence"]
    knee = next(p for p in points if p["sweep"]["is_knee"])
    assert f"Knee at {knee['sweep']['load_text']}" in text and knee["sweep"]["knee_relation"] in text
    assert scan.tags.count("tr") == len(points) + 1  # a header and a row per point
    for p in points:
        assert p["sweep"]["explanation"] in text
    cfs = next(p for p in points if p["sweep"].get("counterfactuals"))["sweep"]["counterfactuals"]
    assert all(c["sentence"] in text for c in cfs)
    # Python writes the same report from the same lines
    assert headroom.report(points).count("<tr") == len(points) + 1


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Chromium is not installed (scripts/test.sh installs it)")
def test_the_report_renders_in_a_headless_browser(made, tmp_path):
    import matplotlib.image as mpimg
    import numpy as np

    path, _ = made
    shot = tmp_path / "shot.png"
    r = subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                        "--window-size=1300,2400", f"--screenshot={shot}", path.as_uri()],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and shot.exists(), r.stderr
    img = mpimg.imread(shot)[:, :, :3]
    assert img.shape[:2] == (2400, 1300)
    # drawn, not blank: the headline's green (#eef8f1), the figure's series blue (#1f77b4) and dark text all appear
    def share(rgb, tol=0.03):
        return float(np.mean(np.all(np.abs(img - np.array(rgb) / 255.0) < tol, axis=2)))
    assert share((0xee, 0xf8, 0xf1)) > 0.005
    assert share((0x1f, 0x77, 0xb4), tol=0.05) > 0.0005
    assert float(np.mean(img.mean(axis=2) < 0.3)) > 0.005
