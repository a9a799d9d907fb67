"""Coarse-to-fine audio reconstruction from fMRI (C2F-LDM)."""
