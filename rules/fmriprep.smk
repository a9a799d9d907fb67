# fMRIPrep on the raw BIDS folder (real data only): one job per subject, in a container. It reads
# the raw folder (mounted read-only) and writes only its own derivatives.
if config["fmriprep"]["run"]:

    rule fmriprep:
        input:
            bold=lambda wildcards: raw_bold(wildcards.subject),
            license=config["fmriprep"]["fs_license"],
            image=fmriprep_image_input(),
            bids_filter=fmriprep_filter_input(),
        output:
            bold=bold_files("{subject}"),
            timing=bold_sidecars("{subject}"),
            confounds=confounds_path("{subject}", "tsv"),
            confounds_json=confounds_path("{subject}", "json"),
        log:
            "logs/fmriprep/sub-{subject}.log",
        benchmark:
            "benchmarks/rules/fmriprep/sub-{subject}.tsv"
        conda:
            "../envs/fmriprep.yaml"
        threads: config["fmriprep"]["threads"]
        resources:
            mem_mb=config["fmriprep"]["mem_mb"],
            runtime=config["fmriprep"]["runtime_min"],
        params:
            work_dir=config["fmriprep"]["work_dir"],
            command=lambda wildcards, threads, resources: fmriprep_shell_command(
                wildcards.subject, threads, resources.mem_mb
            ),
        shell:
            "mkdir -p {params.work_dir} && {params.command} > {log} 2>&1"
