"""Items of the report built by the library: the interactive brain maps and the audio players."""

from __future__ import annotations

import base64
import io
import json
import re

import numpy as np
import pytest
import soundfile

from audiobrain.brainscores.surface_views import (
    SurfaceMap,
    bundle_pages,
    rebuilt_info,
    split_page,
    unpacked,
    view_surf_page,
    write_bundle,
)
from audiobrain.io import InputError
from audiobrain.recon.pipeline import audio_player
from audiobrain.surface import FSAVERAGE5_VERTICES_PER_HEMI

N_VERTICES = 2 * FSAVERAGE5_VERTICES_PER_HEMI


def patchy_map(seed: int, n_shown: int = 500) -> np.ndarray:
    rng = np.random.default_rng(seed)
    values = np.full(N_VERTICES, np.nan)
    values[rng.choice(N_VERTICES, n_shown, replace=False)] = rng.normal(0.05, 0.02, n_shown)
    return values


def bundle_payload(bundle: str) -> dict:
    match = re.search(r'<script id="map-data" type="application/json">(.*?)</script>', bundle)
    return json.loads(match.group(1))


@pytest.fixture(scope="module")
def pages() -> dict[str, str]:
    return {f"map {k}": view_surf_page(SurfaceMap(f"map {k}", patchy_map(k))) for k in range(2)}


def test_bundle_rebuilds_each_view_surf_page_from_one_shared_copy(pages):
    """What the bundle's script assembles in the browser is nilearn's own page of each map."""
    bundle = bundle_pages(pages, "Significant contrasts", notes=["only FDR-significant vertices"])
    payload = bundle_payload(bundle)
    page = unpacked(payload["page"])
    assert len(payload["maps"]) == 2
    for (label, original), packed in zip(pages.items(), payload["maps"], strict=True):
        prefix, info, suffix = split_page(original)
        assert (page["prefix"], page["suffix"]) == (prefix, suffix)
        assert rebuilt_info(page["shared"], unpacked(packed)) == info
        assert f">{label}</option>" in bundle
    # The mesh and plotly are kept once: the bundle is smaller than one page of nilearn's.
    assert "inflated_both" in page["shared"] and len(bundle) < min(map(len, pages.values()))
    assert "only FDR-significant vertices" in bundle


def test_only_shown_vertices_are_coloured(pages):
    """Vertices not significant (NaN) are hidden below the threshold: they keep the sulcal grey."""
    _, info, _ = split_page(pages["map 0"])
    colours = info["vertexcolor_both"]
    values = patchy_map(0)
    grey = re.compile(r"#([0-9a-f]{2})\1\1")
    hidden = [colours[i] for i in np.flatnonzero(~np.isfinite(values))]
    assert all(grey.fullmatch(c) for c in hidden)
    # cold_hot runs black (0), red, yellow, white (vmax): the middle of the range is coloured
    middle = (np.nan_to_num(values) > 0.25 * np.nanmax(values)) & (values < 0.6 * np.nanmax(values))
    strong = [colours[i] for i in np.flatnonzero(middle)]
    assert strong and not any(grey.fullmatch(c) for c in strong)


def test_an_empty_bundle_says_why_and_bad_pages_or_maps_are_refused(tmp_path):
    empty = bundle_pages({}, "maps", notes=["No FDR-significant vertex, not shown: L5."])
    assert "No FDR-significant vertex" in empty and "map-data" not in empty
    only_zeros = np.full(N_VERTICES, np.nan)
    only_zeros[:10] = 0.0  # significant but exactly 0: nothing to colour, still a page
    assert "surfaceMapInfo" in view_surf_page(SurfaceMap("zeros", only_zeros))
    with pytest.raises(InputError, match="has no `var surfaceMapInfo ="):
        split_page("<html>not a view_surf page</html>")
    with pytest.raises(InputError, match=f"expected {N_VERTICES} fsaverage5 values"):
        write_bundle([SurfaceMap("short", np.ones(10))], tmp_path / "maps.html", title="maps")
    assert not list(tmp_path.iterdir())


def test_audio_players_hold_the_clip_as_mp3_with_the_same_bytes_on_rerun():
    sr_hz = 16000
    t = np.arange(2 * sr_hz) / sr_hz
    clip = 0.5 * np.sin(2 * np.pi * 440 * t)
    player = audio_player(clip, sr_hz)
    assert player == audio_player(clip, sr_hz)
    data = base64.b64decode(re.search(r"base64,([^\"]+)", player).group(1))
    assert len(data) < 0.2 * clip.size * 2  # well under the 16-bit WAV's bytes
    decoded, decoded_sr = soundfile.read(io.BytesIO(data))
    assert decoded_sr == sr_hz and abs(decoded.size - clip.size) < 0.1 * sr_hz
    spectrum = np.abs(np.fft.rfft(decoded))
    assert np.fft.rfftfreq(decoded.size, 1 / sr_hz)[spectrum.argmax()] == pytest.approx(440, 5)
