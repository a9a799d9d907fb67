#!/bin/sh
# TaskProlog of the CI cluster (slurm.conf.in): the node's "A100" is a scheduling fake with no
# device behind it, so its jobs must not look like GPU jobs to the code they run. SLURM sets these
# variables for a job that got the GRES; without them `device: auto` computes on the CPU, as on a
# CPU node. On a real cluster they stay, and a CPU build of torch in a GPU job is an error
# (audiobrain.devices).
echo "unset CUDA_VISIBLE_DEVICES"
echo "unset SLURM_JOB_GPUS"
echo "unset SLURM_STEP_GPUS"
echo "unset GPU_DEVICE_ORDINAL"
echo "unset ROCR_VISIBLE_DEVICES"
