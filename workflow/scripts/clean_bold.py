"""Rule clean_bold: confound cleaning, per-block detrending and decimation of one subject.

``surface.source`` picks the path: fMRIPrep's surface GIfTI, or its volumetric BOLD cleaned in
the volume and projected onto fsaverage5 (section 2.2).
"""

from audiobrain.brainscores.pipeline import clean_subject_bold, clean_subject_volume
from audiobrain.io import logging_to

VOLUME_ONLY = ("volume_space", "freesurfer_subject_dir", "line_mm", "n_samples")

settings = dict(snakemake.params.items())
source = settings.pop("source")
with logging_to(snakemake.log[0]):
    if source == "volume":
        clean_subject_volume(
            snakemake.input.bold,
            snakemake.input.mask,
            snakemake.input.events,
            snakemake.output.bold,
            **settings,
        )
    else:
        clean_subject_bold(
            snakemake.input.bold,
            snakemake.input.events,
            snakemake.output.bold,
            **{key: value for key, value in settings.items() if key not in VOLUME_ONLY},
        )
