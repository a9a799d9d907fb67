# Statistics and figures (section 2.7): seeds averaged within subject, Wilcoxon across subjects,
# Benjamini-Hochberg FDR across voxels; ROI summaries; surface maps and bar plots for the report.


rule group_stats:
    input:
        scores=lambda wildcards: expand(
            brainscore_path("{subject}", wildcards.network, "{seed}"),
            subject=SUBJECTS,
            seed=SEEDS,
        ),
        bold=clean_bold_path(SUBJECTS[0]),
    output:
        group=group_stats_path("{network}"),
        group_sidecar=sidecars([group_stats_path("{network}")]),
        voxels="results/stats/net-{network}_voxels.tsv",
    log:
        "logs/group_stats/net-{network}.log",
    benchmark:
        "benchmarks/rules/group_stats/net-{network}.tsv"
    conda:
        "../envs/analysis.yaml"
    resources:
        mem_mb=4000,
        runtime=20,
    params:
        subjects=SUBJECTS,
        seeds=SEEDS,
        q=config["stats"]["q"],
        alternative=config["stats"]["alternative"],
    script:
        "../workflow/scripts/group_stats.py"


rule roi_summary:
    input:
        groups=expand(group_stats_path("{network}"), network=NETWORK_TYPES),
        atlases=atlas_files(),
    output:
        table=report(
            "results/stats/roi_summary.tsv",
            caption="../report/roi_summary.rst",
            category="Group statistics",
        ),
    log:
        "logs/roi_summary.log",
    conda:
        "../envs/analysis.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        networks=NETWORK_TYPES,
        roi_settings=roi_settings(),
        q=config["stats"]["q"],
        alternative=config["stats"]["alternative"],
    script:
        "../workflow/scripts/roi_summary.py"


rule figures:
    input:
        group=group_stats_path("{network}"),
        roi_summary="results/stats/roi_summary.tsv",
    output:
        levels=report(
            "results/figures/net-{network}_map-levels.png",
            caption="../report/map_levels.rst",
            category="Brain maps",
            subcategory="{network}",
        ),
        gains=report(
            "results/figures/net-{network}_map-gains.png",
            caption="../report/map_gains.rst",
            category="Brain maps",
            subcategory="{network}",
        ),
        bars=report(
            "results/figures/net-{network}_roi-bars.png",
            caption="../report/roi_bars.rst",
            category="ROIs",
            subcategory="{network}",
        ),
        profile=report(
            "results/figures/net-{network}_level-profile.png",
            caption="../report/level_profile.rst",
            category="ROIs",
            subcategory="{network}",
        ),
    log:
        "logs/figures/net-{network}.log",
    benchmark:
        "benchmarks/rules/figures/net-{network}.tsv"
    conda:
        "../envs/analysis.yaml"
    resources:
        mem_mb=4000,
        runtime=20,
    script:
        "../workflow/scripts/figures.py"


rule interactive_maps:
    input:
        unpack(interactive_map_inputs),
    output:
        report(
            "results/figures/brain_maps.html",
            caption="../report/brain_maps.rst",
            category="Brain maps",
            subcategory="interactive",
        ),
    log:
        "logs/interactive_maps.log",
    benchmark:
        "benchmarks/rules/interactive_maps.tsv"
    conda:
        "../envs/analysis.yaml"
    resources:
        mem_mb=4000,
        runtime=20,
    params:
        networks=NETWORK_TYPES,
    script:
        "../workflow/scripts/interactive_maps.py"
