"""The demo's report opened in a real browser (Debian's headless Chromium, driven by Playwright),
as a collaborator opens the file: the front page, the interactive brain map, the audio, the tables.

.ci/run installs Chromium and sets AUDIOBRAIN_REQUIRE_BROWSER=1, which turns the skip into a
failure when Chromium or Playwright is missing.
"""

from __future__ import annotations

import io
import os
import shutil

import numpy as np
import pytest
import yaml

from conftest import REDUCED_DEMO, REPO, merged

pytestmark = pytest.mark.workflow

REQUIRE_BROWSER = "AUDIOBRAIN_REQUIRE_BROWSER"
# Headless, without the network calls a closed machine refuses; SwiftShader draws WebGL on the CPU.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--enable-unsafe-swiftshader",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1400, "height": 1000}
TIMEOUT_MS = 60_000
DEMO_CONFIG = merged(yaml.safe_load((REPO / "config.yaml").read_text()), REDUCED_DEMO)


@pytest.fixture(scope="module")
def browser():
    chromium = shutil.which("chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    if chromium is None or sync_playwright is None:
        missing = "Debian's chromium package" if chromium is None else "the playwright package"
        if os.environ.get(REQUIRE_BROWSER) == "1":
            pytest.fail(f"{REQUIRE_BROWSER}=1 but {missing} is not installed")
        pytest.skip(f"{missing} is not installed (.ci/run installs it as root)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, demo_report):
    page = browser.new_page(viewport=VIEWPORT)
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(demo_report.as_uri())
    yield page
    page.close()


def show_result(page, category: str, subcategory: str | None, name: str):
    """Click through the report's menu to a result and open it, as a reader does."""
    page.get_by_role("link", name=category, exact=True).click()
    if subcategory:
        page.get_by_role("link", name=subcategory, exact=True).click()
    page.locator("tr", has_text=name).first.locator("a[iconname=eye]").click()
    return page.frame_locator("iframe").first


def pixels(screenshot: bytes) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(screenshot)).convert("RGB")).astype(int)


def test_front_page_describes_both_studies_without_error_text(page, demo_run):
    page.get_by_text("Coarse-to-fine audio reconstruction from fMRI").wait_for()
    text = page.inner_text("body")
    subjects = DEMO_CONFIG["dataset"]["subjects"]
    networks = DEMO_CONFIG["networks"]
    n_networks = len(networks["types"]) * len(networks["seeds"])
    recon_subjects = DEMO_CONFIG["recon"]["sources"]["demo"]["subjects"]
    assert "Brain scores of speech networks" in text
    assert f"{len(subjects)} subjects" in text
    assert f"{n_networks} DeepSpeech2-style networks" in text
    assert f"Dataset demo (demo, {len(recon_subjects)} subjects)" in text
    assert "System Message" not in text and "Docutils" not in text
    shot = page.screenshot(path=demo_run / "report_front_page.png")
    assert pixels(shot).std() > 10  # a page was drawn, not a blank one


def test_brain_map_is_drawn_in_colour_and_turns(page, demo_run):
    report_item = show_result(page, "Brain maps", "interactive", "brain_maps.html")
    choices = report_item.locator("#map-choice option")
    choices.first.wait_for(state="attached")
    assert choices.count() >= 1
    assert "significant vertices" in choices.first.inner_text()
    plot = report_item.frame_locator("#map-view").locator(".js-plotly-plot")
    plot.wait_for()
    page.wait_for_timeout(1500)  # WebGL on the CPU
    before = pixels(plot.screenshot(path=demo_run / "report_brain_map.png"))
    red, green, blue = before[..., 0], before[..., 1], before[..., 2]
    hot = (red > 170) & (blue < 90) & (red - green > 40)  # cold_hot's red-yellow: significant
    grey = (abs(red - green) < 6) & (abs(green - blue) < 6) & (red < 230) & (red > 40)
    assert hot.sum() > 50, "no significant vertex coloured"
    assert grey.sum() > 5000, "no sulcal background drawn"
    box = plot.bounding_box()
    centre_x, centre_y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(centre_x, centre_y)
    page.mouse.down()
    page.mouse.move(centre_x + 200, centre_y + 40, steps=10)
    page.mouse.up()
    page.wait_for_timeout(1500)
    after = pixels(plot.screenshot())
    assert np.mean(np.any(after != before, axis=-1)) > 0.05, "dragging did not turn the brain"


def test_audio_page_has_every_subject_and_plays_in_the_browser(page):
    report_item = show_result(page, "Reconstruction", "demo", "audio.html")
    subjects = DEMO_CONFIG["recon"]["sources"]["demo"]["subjects"]
    headings = report_item.locator("h2")
    headings.first.wait_for()
    assert headings.all_inner_texts() == [f"sub-{s}" for s in subjects]
    n_study = min(len(subjects), DEMO_CONFIG["recon"]["study"]["n_subjects"])
    assert report_item.locator("h3", has_text="Table 3").count() == n_study
    duration = report_item.locator("audio").first.evaluate(
        """audio => new Promise((resolve, reject) => {
            audio.onloadedmetadata = () => resolve(audio.duration);
            audio.onerror = () => reject(new Error("the browser cannot decode the clip"));
            audio.preload = "metadata";
            audio.load();
        })"""
    )
    assert duration > 0.5


def test_tables_1_to_3_are_report_tables(page):
    report_item = show_result(page, "Reconstruction", "demo", "table_reconstruction.html")
    report_item.locator("th", has_text="PCC").first.wait_for()
    models = report_item.locator("tbody tr td:first-child").all_inner_texts()
    assert {"LiR", "C2F-LDM", "stimulus", "mean-mel"} <= set(models)
    assert report_item.locator("tr.reference").count() == 4
    assert report_item.locator("td.best").count() >= 6  # a best cell in each metric column
