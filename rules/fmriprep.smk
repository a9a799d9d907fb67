# fMRIPrep on the raw BIDS folder (real data only): one job per subject, in a container.
if config.get("fmriprep", {}).get("run", False):

    rule fmriprep:
        input:
            events=events_path("{subject}"),
            license=config["fmriprep"]["fs_license"],
        output:
            bold=expand(
                surface_bold_path("{{subject}}", "{hemi}"),
                hemi=HEMIS,
            ),
            confounds=confounds_path("{subject}", "tsv"),
            confounds_json=confounds_path("{subject}", "json"),
        log:
            "logs/fmriprep/sub-{subject}.log",
        benchmark:
            "benchmarks/rules/fmriprep/sub-{subject}.tsv"
        params:
            command=lambda wildcards, threads, resources: fmriprep_shell_command(
                wildcards.subject, threads, resources.mem_mb
            ),
        threads: config["fmriprep"]["threads"]
        resources:
            mem_mb=config["fmriprep"]["mem_mb"],
            runtime=config["fmriprep"]["runtime_min"],
        conda:
            "../envs/fmriprep.yaml"
        shell:
            "{params.command} > {log} 2>&1"
