# Confound cleaning (section 2.2): 18 regressors, per-block detrending, standardisation, and the
# surface decimation; one job per subject, bundled on clusters (group "preprocess").


rule clean_bold:
    input:
        bold=[surface_bold_path("{subject}", hemi) for hemi in HEMIS],
        confounds=confounds_path("{subject}", "tsv"),
        confounds_json=confounds_path("{subject}", "json"),
        events=events_path("{subject}"),
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
        mem_mb=4000,
        runtime=20,
    params:
        tr_s=DATASET["tr_s"],
        trial_type=DATASET["trial_type"],
        n_blocks=DATASET["n_blocks"],
        decimation=config["surface"]["decimation"],
        n_compcor=config["confounds"]["n_compcor"],
        n_cosine=config["confounds"]["n_cosine"],
    script:
        "../workflow/scripts/clean_bold.py"
