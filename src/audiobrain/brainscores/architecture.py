"""The numbers that define the DeepSpeech2-style network (sections 2.3 to 2.5), without torch.

:mod:`audiobrain.brainscores.networks` builds the network from these; modules that only need its
layer names, frame rate or output sizes (feature files, HRF regressors, brain scores, corpora)
import them from here, so that they do not load torch.
"""

from __future__ import annotations

from audiobrain.audio import SPECTROGRAM_BINS, SPECTROGRAM_HOP_S

LAYER_NAMES = ("conv1", "conv2", "conv3", "gru", "fc")  # section 2.3, input to output
CONV_NAMES = LAYER_NAMES[:3]
CONV_KERNELS = ((11, 41), (11, 21), (11, 21))  # section 2.3: k1, k2, k3 (time x frequency)
CONV_STRIDES = ((2, 2), (1, 2), (1, 2))  # section 2.3: s1, s2, s3 (time x frequency)
CONV_PADDING = ((5, 20), (5, 10), (5, 10))  # half kernel: OpenSeq2Seq's padding="SAME"
CONV_CHANNELS = (32, 64, 96)  # section 2.3: c1, c2, c3
GRU_HIDDEN = 256  # section 2.3: one bidirectional GRU layer of dimension 256
N_FREQ = SPECTROGRAM_BINS  # section 2.3: d_u = 160
INPUT_FRAME_RATE_HZ = 1.0 / SPECTROGRAM_HOP_S  # 100 Hz spectrogram frames
OUTPUT_FRAME_RATE_HZ = INPUT_FRAME_RATE_HZ / CONV_STRIDES[0][0]  # section 2.5: 1/t = 50 Hz
BATCH_NORM_MOMENTUM = 0.01  # OpenSeq2Seq bn_momentum 0.99 (TensorFlow's convention, 1 - torch's)
BATCH_NORM_EPS = 1e-3  # OpenSeq2Seq bn_epsilon

# Section 2.4: d_v, the characters (or scene classes) each task predicts.
VOCABULARY_SIZES = {"dutch": 37, "english": 28, "bengali": 28, "scenes": 80}
CTC_BLANK_INDEX = 0  # torch.nn.CTCLoss's default blank; symbols then use indices 1..d_v
