"""The brain-score study (Millet & King 2021): from the BIDS and fMRIPrep folders and the
training corpora to brain scores, statistics and figures. Runs on real data."""
