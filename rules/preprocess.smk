# Events and confound cleaning (sections 2.1-2.2). Each run's raw events (MOUS's own format, or a
# plain sentence table) become the stimulus table every later rule reads, written to results/
# (never over the raw file). Cleaning: 18 regressors, the sentence blocks' scans kept, per-block
# detrending, standardisation, and the surface decimation; one job per subject, bundled on
# clusters (group "preprocess"). With surface.source "volume" the confounds are regressed out of
# the volumetric BOLD, which is then projected onto fsaverage5 along a 3 mm line around the
# mid-thickness before decimation.


localrules:
    derive_events,


rule derive_events:
    input:
        events=lambda wildcards: raw_events(wildcards.subject),
        stimuli=stimuli_dir(),
    output:
        events=events_path("{subject}"),
    log:
        "logs/derive_events/sub-{subject}.log",
    conda:
        "../envs/analysis.yaml"
    params:
        events_format=DATASET["events_format"],
        n_blocks=DATASET["n_blocks"],
        sentences_per_block=DATASET["sentences_per_block"],
    script:
        "../workflow/scripts/derive_events.py"


rule clean_bold:
    input:
        unpack(clean_bold_inputs),
    output:
        bold=clean_bold_path("{subject}"),
        sidecar=sidecars([clean_bold_path("{subject}")]),
    log:
        "logs/clean_bold/sub-{subject}.log",
    benchmark:
        "benchmarks/rules/clean_bold/sub-{subject}.tsv"
    group:
        "preprocess"
    conda:
        "../envs/analysis.yaml"
    resources:
        mem_mb=8000 if SURFACE_SOURCE == "volume" else 4000,
        runtime=20,
    params:
        source=SURFACE_SOURCE,
        tr_s=DATASET["tr_s"],
        trial_type=DATASET["trial_type"],
        n_blocks=DATASET["n_blocks"],
        start_time_s=DATASET["start_time_s"],
        block_tail_s=DATASET["block_tail_s"],
        block_carryover_s=DATASET["block_carryover_s"],
        decimation=SURFACE["decimation"],
        decimation_method=SURFACE["decimation_method"],
        n_compcor=config["confounds"]["n_compcor"],
        n_cosine=config["confounds"]["n_cosine"],
        volume_space=VOLUME_SPACE,
        freesurfer_subject_dir=lambda wildcards: freesurfer_subject_dir(
            wildcards.subject
        ),
        line_mm=SURFACE["line_mm"],
        n_samples=SURFACE["n_samples"],
    script:
        "../workflow/scripts/clean_bold.py"
