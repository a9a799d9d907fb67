# The 30 networks (section 2.4): each task's corpus -> one training job per network type and seed
# (a GPU rule on clusters) -> test-split evaluation; then Figure 3's comparisons between types.


rule prepare_corpus:
    input:
        corpus_inputs,
    output:
        manifest=corpus_manifest_path("{task}"),
        sidecar=corpus_sidecar_path("{task}"),
    log:
        "logs/prepare_corpus/{task}.log",
    benchmark:
        "benchmarks/rules/prepare_corpus/{task}.tsv"
    conda:
        "../envs/torch.yaml"
    resources:
        mem_mb=4000,
        runtime=120,
    params:
        root=lambda wildcards: corpus_config(wildcards.task)["root"],
        settings=corpus_settings,
    script:
        "../workflow/scripts/prepare_corpus.py"


rule train_network:
    input:
        manifest=lambda wildcards: corpus_manifest_path(wildcards.network),
        sidecar=lambda wildcards: corpus_sidecar_path(wildcards.network),
    output:
        model=checkpoint_path("{network}", "{seed}"),
        metrics=report(
            training_metrics_path("{network}", "{seed}"),
            caption="../report/training_metrics.rst",
            category="Networks",
            subcategory="learning curves",
        ),
    log:
        "logs/train_network/net-{network}_seed-{seed}.log",
    benchmark:
        "benchmarks/rules/train_network/net-{network}_seed-{seed}.tsv"
    wildcard_constraints:
        network="scenes|dutch|english|bengali",
    # A job past its time limit checkpoints (SIGTERM) and the retry resumes it there.
    retries: TRAINING["resubmissions"]
    conda:
        "../envs/torch.yaml"
    threads: TRAINING["threads"]
    resources:
        **SLURM_SITE.gpu_resources(TRAINING["device"]),
        mem_mb=TRAINING["mem_mb"],
        runtime=TRAINING["runtime_min"],
    params:
        resume=lambda wildcards: resume_checkpoint_path(
            wildcards.network, wildcards.seed
        ),
        conv_channels=config["networks"]["conv_channels"],
        gru_hidden=config["networks"]["gru_hidden"],
        training=training_settings(),
        device=TRAINING["device"],
    script:
        "../workflow/scripts/train_network.py"


rule evaluate_network:
    input:
        model=checkpoint_path("{network}", "{seed}"),
        manifest=lambda wildcards: corpus_manifest_path(wildcards.network),
    output:
        evaluation=evaluation_path("{network}", "{seed}"),
    log:
        "logs/evaluate_network/net-{network}_seed-{seed}.log",
    benchmark:
        "benchmarks/rules/evaluate_network/net-{network}_seed-{seed}.tsv"
    wildcard_constraints:
        network="scenes|dutch|english|bengali",
    conda:
        "../envs/torch.yaml"
    threads: TRAINING["threads"]
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        conv_channels=config["networks"]["conv_channels"],
        gru_hidden=config["networks"]["gru_hidden"],
    script:
        "../workflow/scripts/evaluate_network.py"


rule evaluation_table:
    input:
        evaluations=[
            evaluation_path(network, seed)
            for network in TRAINED_TYPES
            for seed in SEEDS
        ],
    output:
        table=report(
            "results/networks/evaluation.tsv",
            caption="../report/evaluation.rst",
            category="Networks",
        ),
    log:
        "logs/evaluation_table.log",
    conda:
        "../envs/analysis.yaml"
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../workflow/scripts/evaluation_table.py"


rule learning_curves:
    input:
        metrics=[
            training_metrics_path(network, seed)
            for network in TRAINED_TYPES
            for seed in SEEDS
        ],
    output:
        figure=report(
            "results/figures/networks_learning-curves.png",
            caption="../report/learning_curves.rst",
            category="Networks",
        ),
    log:
        "logs/learning_curves.log",
    conda:
        "../envs/analysis.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        labels=[f"{network} seed {seed}" for network in TRAINED_TYPES for seed in SEEDS],
    script:
        "../workflow/scripts/learning_curves.py"


rule network_comparisons:
    input:
        unpack(comparison_score_inputs),
        bold=clean_bold_path(SUBJECTS[0]),
        atlases=atlas_files(),
    output:
        table=report(
            "results/stats/network_comparisons.tsv",
            caption="../report/network_comparisons.rst",
            category="Group statistics",
        ),
        maps="results/stats/network_comparisons_maps.npz",
        maps_sidecar=sidecars(["results/stats/network_comparisons_maps.npz"]),
    log:
        "logs/network_comparisons.log",
    benchmark:
        "benchmarks/rules/network_comparisons.tsv"
    conda:
        "../envs/analysis.yaml"
    resources:
        mem_mb=8000,
        runtime=30,
    params:
        networks=NETWORK_TYPES,
        n_subjects=len(SUBJECTS),
        n_seeds=len(SEEDS),
        q=config["stats"]["q"],
        alternative=config["stats"]["alternative"],
        roi_settings=roi_settings(),
    script:
        "../workflow/scripts/network_comparisons.py"


rule network_comparison_figures:
    input:
        table="results/stats/network_comparisons.tsv",
        maps="results/stats/network_comparisons_maps.npz",
    output:
        maps=report(
            "results/figures/networks_map-trained-vs-untrained.png",
            caption="../report/networks_maps.rst",
            category="Networks",
            subcategory="comparisons",
        ),
        layers=report(
            "results/figures/networks_layer-gains.png",
            caption="../report/networks_layers.rst",
            category="Networks",
            subcategory="comparisons",
        ),
        types=report(
            "results/figures/networks_type-gains.png",
            caption="../report/networks_types.rst",
            category="Networks",
            subcategory="comparisons",
        ),
        rois=report(
            "results/figures/networks_roi-comparisons.png",
            caption="../report/networks_rois.rst",
            category="Networks",
            subcategory="comparisons",
        ),
    log:
        "logs/network_comparison_figures.log",
    conda:
        "../envs/analysis.yaml"
    resources:
        mem_mb=4000,
        runtime=20,
    script:
        "../workflow/scripts/network_comparison_figures.py"
