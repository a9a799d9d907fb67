"""Interactive brain maps for the report: nilearn's ``view_surf`` pages, bundled into one file.

One ``view_surf`` page embeds plotly, jQuery and the fsaverage5 meshes (2.7 MB), so a page per map
would make the report too large to mail. The pages of one run differ only in a few fields of
their ``surfaceMapInfo`` object (the vertex colours, colour range and title). :func:`bundle_pages`
keeps the page's text and the shared fields once and each map's own fields apart (its vertex
colours as changes to the common background), all gzipped;
a short script inflates them in the browser (``DecompressionStream``) and shows the chosen map's
page, rebuilt exactly as nilearn wrote it, in a frame.
"""

from __future__ import annotations

import base64
import gzip
import html
import json
import os
import warnings
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from audiobrain.io import InputError, write_text
from audiobrain.surface import FSAVERAGE5_VERTICES_PER_HEMI

_INFO_MARKER = "var surfaceMapInfo = "
_CHANGES = "changes:"  # prefix of a map's changes to a shared list


@dataclass(frozen=True)
class SurfaceMap:
    """A map on the full fsaverage5 mesh (both hemispheres, left first); NaN: not shown."""

    label: str
    values: np.ndarray


def view_surf_page(surface_map: SurfaceMap) -> str:
    """nilearn's standalone ``view_surf`` page of one map on the inflated fsaverage5 mesh."""
    from nilearn import datasets, plotting
    from nilearn.surface import SurfaceImage

    values = np.asarray(surface_map.values, dtype=np.float64)
    if values.shape != (2 * FSAVERAGE5_VERTICES_PER_HEMI,):
        raise InputError(
            f"{surface_map.label}: expected {2 * FSAVERAGE5_VERTICES_PER_HEMI} fsaverage5 "
            f"values, found {values.shape}"
        )
    shown = np.isfinite(values)
    magnitude = np.abs(values[shown])
    vmax = float(magnitude.max()) if magnitude.size and magnitude.max() > 0 else 1.0
    # view_surf hides |value| < threshold: just below the smallest shown value hides the rest.
    nonzero = magnitude[magnitude > 0]
    threshold = float(nonzero.min()) * (1 - 1e-9) if nonzero.size else vmax
    mesh = datasets.load_fsaverage("fsaverage5")["inflated"]
    sulcal = datasets.load_fsaverage_data(mesh="fsaverage5", data_type="sulcal")
    halves = np.split(np.where(shown, values, 0.0), 2)
    image = SurfaceImage(mesh=mesh, data={"left": halves[0], "right": halves[1]})
    background = SurfaceImage(
        mesh=mesh, data={hemi: np.asarray(sulcal.data.parts[hemi]) for hemi in ("left", "right")}
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Meshes are not identical", RuntimeWarning)
        view = plotting.view_surf(
            mesh,
            image,
            hemi="both",
            bg_map=background,
            threshold=threshold,
            vmax=vmax,
            symmetric_cmap=True,
            cmap="cold_hot",
            title=None,  # nilearn puts the title into the page's <title> too: the chooser shows it
        )
    return view.get_standalone()


def split_page(page: str) -> tuple[str, dict, str]:
    """A ``view_surf`` page as (text before its map object, the object, text after)."""
    start = page.find(_INFO_MARKER)
    if start < 0:
        raise InputError(
            f"this nilearn's view_surf page has no `{_INFO_MARKER.strip()}`: the bundling of "
            "interactive maps needs updating for this nilearn version"
        )
    start += len(_INFO_MARKER)
    info, end = json.JSONDecoder().raw_decode(page, start)
    return page[:start], info, page[end:]


def _packed(payload) -> str:
    data = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    return base64.b64encode(gzip.compress(data, compresslevel=9, mtime=0)).decode("ascii")


def unpacked(text: str):
    """The payload of :func:`_packed` (what the bundle's script does in the browser)."""
    return json.loads(gzip.decompress(base64.b64decode(text)))


def _shared_and_own(infos: Sequence[dict]) -> tuple[dict, list[dict]]:
    """The fields all maps share, and each map's own: the vertex colours (lists of colour strings)
    as the changes from their most common entries, which are the sulcal background's."""
    shared, own = {}, [{} for _ in infos]
    for key, value in infos[0].items():
        values = [info.get(key) for info in infos]
        if all(v == value for v in values):
            shared[key] = value
        elif all(_is_colour_list(v) and len(v) == len(value) for v in values):
            base = [Counter(column).most_common(1)[0][0] for column in zip(*values, strict=True)]
            shared[key] = base
            for fields, v in zip(own, values, strict=True):
                changed = [i for i, (x, b) in enumerate(zip(v, base, strict=True)) if x != b]
                fields[_CHANGES + key] = [[i, v[i]] for i in changed]
        else:
            for fields, v in zip(own, values, strict=True):
                fields[key] = v
    return shared, own


def _is_colour_list(value) -> bool:
    return isinstance(value, list) and all(isinstance(entry, str) for entry in value)


def rebuilt_info(shared: dict, own: dict) -> dict:
    """A map's ``surfaceMapInfo`` from the bundle's parts (as the bundle's script rebuilds it)."""
    info = {**shared, **{k: v for k, v in own.items() if not k.startswith(_CHANGES)}}
    for key, changes in own.items():
        if key.startswith(_CHANGES):
            name = key.removeprefix(_CHANGES)
            info[name] = list(info[name])
            for index, value in changes:
                info[name][index] = value
    return info


def bundle_pages(pages: Mapping[str, str], title: str, notes: Sequence[str] = ()) -> str:
    """One HTML file holding the ``view_surf`` pages ``{label: page}``, with a map chooser; with
    no page, the notes alone (say there why nothing is shown)."""
    note = "".join(f"<p>{html.escape(text)}</p>" for text in notes)
    if not pages:
        return _EMPTY_TEMPLATE.format(title=html.escape(title), notes=note)
    parts = {label: split_page(page) for label, page in pages.items()}
    prefix, first, suffix = next(iter(parts.values()))
    for label, (other_prefix, _, other_suffix) in parts.items():
        if (other_prefix, other_suffix) != (prefix, suffix):
            raise InputError(f"{label}: its view_surf page differs from the others outside its map")
    shared, own = _shared_and_own([info for _, info, _ in parts.values()])
    own = dict(zip(parts, own, strict=True))
    options = "".join(
        f'<option value="{k}">{html.escape(label)}</option>' for k, label in enumerate(own)
    )
    payload = {"page": _packed({"prefix": prefix, "suffix": suffix, "shared": shared})}
    payload["maps"] = [_packed(fields) for fields in own.values()]
    return _BUNDLE_TEMPLATE.format(
        title=html.escape(title),
        options=options,
        notes=note,
        payload=json.dumps(payload),
        changes=_CHANGES,
    )


def write_bundle(
    maps: Sequence[SurfaceMap],
    path: str | os.PathLike,
    *,
    title: str,
    notes: Sequence[str] = (),
) -> None:
    """The interactive page of ``maps`` at ``path`` (atomically)."""
    pages = {m.label: view_surf_page(m) for m in maps}
    write_text(path, bundle_pages(pages, title, notes))


_EMPTY_TEMPLATE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{title}</title></head>
<body style="font-family:sans-serif"><h2>{title}</h2>{notes}</body></html>
"""

_BUNDLE_TEMPLATE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:sans-serif;margin:8px}} iframe{{width:100%;height:85vh;border:0}}</style>
</head><body>
<h2>{title}</h2>
<label>Map: <select id="map-choice">{options}</select></label>
<span id="map-status"></span>
{notes}
<iframe id="map-view" title="interactive surface map"></iframe>
<script id="map-data" type="application/json">{payload}</script>
<script>
"use strict";
const data = JSON.parse(document.getElementById("map-data").textContent);
async function inflate(text) {{
  const bytes = Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
  return JSON.parse(await new Response(stream).text());
}}
const page = inflate(data.page);
async function show() {{
  const status = document.getElementById("map-status");
  status.textContent = " loading...";
  const {{prefix, suffix, shared}} = await page;
  const own = await inflate(data.maps[document.getElementById("map-choice").value]);
  const info = Object.assign({{}}, shared);
  for (const [key, value] of Object.entries(own)) {{
    if (!key.startsWith("{changes}")) {{ info[key] = value; continue; }}
    const name = key.slice("{changes}".length);
    info[name] = shared[name].slice();
    for (const [index, entry] of value) info[name][index] = entry;
  }}
  document.getElementById("map-view").srcdoc = prefix + JSON.stringify(info) + suffix;
  status.textContent = "";
}}
document.getElementById("map-choice").addEventListener("change", show);
show();
</script>
</body></html>
"""
