# Confound cleaning (section 2.2): 18 regressors, per-block detrending, standardisation, and the
# surface decimation; one job per subject, bundled on clusters (group "preprocess"). With
# surface.source "volume" the confounds are regressed out of the volumetric BOLD, which is then
# projected onto fsaverage5 along a 3 mm line around the mid-thickness before decimation.


rule clean_bold:
    input:
        unpack(clean_bold_inputs),
    output:
        bold=clean_bold_path("{subject}"),
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
        decimation=SURFACE["decimation"],
        decimation_method=SURFACE.get("decimation_method", "stride"),
        n_compcor=config["confounds"]["n_compcor"],
        n_cosine=config["confounds"]["n_cosine"],
        volume_space=VOLUME_SPACE,
        freesurfer_subject_dir=lambda wildcards: freesurfer_subject_dir(
            wildcards.subject
        ),
        line_mm=SURFACE.get("line_mm", 3.0),
        n_samples=SURFACE.get("n_samples", 10),
    script:
        "../workflow/scripts/clean_bold.py"
