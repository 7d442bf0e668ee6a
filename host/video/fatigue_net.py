"""Seed 000's deep network (§III-C, Fig. 6): CNNs per frame, then a Bi-LSTM over the window.

Per frame, two CNNs each give a deep feature vector of length :data:`FRAME_FEATURES`:

- a 3D-CNN of four conv blocks, strides 1, 2, 3, 3, on the 20 × 20 × 20 posture voxels;
- a 2D-CNN of three conv blocks, strides 1, 2, 2, a max-pool after the third and two dense
  layers, on the n × l wavelet matrix (87 features × 6 db4 levels).

A conv block is convolution → batch normalisation → leaky ReLU (slope 0.1) → dropout 0.3.
The two vectors are concatenated frame by frame and fed to one Bi-LSTM of 50 units with
dropout 0.3; its last output gives the label (fatigued or not: the seed's split at Borg 7).
:func:`build_video_model` with ``bidirectional=False`` is the seed's CNN-LSTM comparison.

The windows, the label and the training schedule (batch 32, 50 epochs, Adam from 1e-4 cut
by 90 % every 10 epochs) are :mod:`host.video.model_spec`'s, which needs no Keras.

What the seed does not give, and is therefore an assumption of this module: the kernel
sizes and filter counts (they are in its Fig. 5, whose numbers are not in the text), the
padding, the width of the 2D branch's first dense layer. The 3D kernels are chosen so that
the four blocks alone bring the 20³ grid to 1³ × 20 (20 → 18 → 8 → 2 → 1), which is the
seed's "deep feature vector of length 20" with no layer it does not name.
"""

from __future__ import annotations

import keras
from keras import layers, ops

from host.video.model_spec import LEARNING_RATE, LR_DROP, LR_DROP_EVERY_EPOCHS, WINDOW_FRAMES

#: Seed 000 §III-C: each CNN's deep feature vector per frame.
FRAME_FEATURES = 20
#: 3D-CNN conv blocks (filters, kernel, stride): strides from the seed; filters and kernels
#: assumptions (Fig. 5), kernels chosen to end at 1³ (see the module docstring).
VOXEL_BLOCKS = ((4, 3, 1), (8, 3, 2), (8, 3, 3), (FRAME_FEATURES, 2, 3))
#: 2D-CNN conv blocks (filters, kernel, stride): strides from the seed; the rest assumptions.
WAVELET_BLOCKS = ((8, 3, 1), (16, 3, 2), (16, 3, 2))
WAVELET_POOL = 2
#: Width of the 2D branch's first dense layer (assumption); the second gives FRAME_FEATURES.
WAVELET_DENSE = 64
#: Seed 000 §III-C.
LEAKY_SLOPE = 0.1
DROPOUT = 0.3
LSTM_UNITS = 50


@keras.saving.register_keras_serializable(package="nirs_video")
class FoldFrames(layers.Layer):
    """(batch, frames, ...) → (batch · frames, ...): the per-frame CNNs see frames as a batch.

    Keras's TimeDistributed maps its layer over the frames one by one (measured here: its
    graph took 25 s to build for 50 frames and grew with the window), so the frames are
    folded into the batch instead; batch normalisation then pools batch and frames alike.
    """

    def call(self, x):
        return ops.reshape(x, (-1, *x.shape[2:]))


@keras.saving.register_keras_serializable(package="nirs_video")
class UnfoldFrames(layers.Layer):
    """(batch · frames, ...) → (batch, frames, ...), the inverse of :class:`FoldFrames`."""

    def __init__(self, frames: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.frames = frames

    def call(self, x):
        return ops.reshape(x, (-1, self.frames, *x.shape[1:]))

    def get_config(self) -> dict:
        return {**super().get_config(), "frames": self.frames}


def _conv_block(x, conv: type, filters: int, kernel: int, stride: int, padding: str):
    x = conv(filters, kernel, strides=stride, padding=padding)(x)
    x = layers.BatchNormalization()(x)
    x = layers.LeakyReLU(negative_slope=LEAKY_SLOPE)(x)
    return layers.Dropout(DROPOUT)(x)


def build_video_model(
    n_features: int, n_levels: int, *, bidirectional: bool = True, frames: int = WINDOW_FRAMES
) -> keras.Model:
    """The seed's CNN–Bi-LSTM (or its CNN-LSTM, ``bidirectional=False``), compiled.

    Parameters
    ----------
    n_features, n_levels : int
        The wavelet matrix's shape per frame (87 kinematic features × 6 levels).
    frames : int
        Frames per window (the seed's 450).

    Returns
    -------
    keras.Model
        Inputs ``voxels`` (batch, frames, 20, 20, 20, 1) float32 0/1 and ``wavelets``
        (batch, frames, n_features, n_levels, 1) float32 (standardised, 0 where unknown);
        output (batch, 1): the probability that the window is fatigued.
    """
    voxels = keras.Input((frames, 20, 20, 20, 1), name="voxels")
    x = FoldFrames()(voxels)
    for filters, kernel, stride in VOXEL_BLOCKS:
        x = _conv_block(x, layers.Conv3D, filters, kernel, stride, "valid")
    posture = UnfoldFrames(frames)(layers.Flatten()(x))

    wavelets = keras.Input((frames, n_features, n_levels, 1), name="wavelets")
    y = FoldFrames()(wavelets)
    for filters, kernel, stride in WAVELET_BLOCKS:
        # 'same' keeps the 6 levels from vanishing under a 3-wide kernel (assumption).
        y = _conv_block(y, layers.Conv2D, filters, kernel, stride, "same")
    y = layers.MaxPooling2D(WAVELET_POOL, padding="same")(y)
    y = layers.Dense(WAVELET_DENSE)(layers.Flatten()(y))
    y = layers.LeakyReLU(negative_slope=LEAKY_SLOPE)(y)
    motion = UnfoldFrames(frames)(layers.Dense(FRAME_FEATURES)(y))

    z = layers.Concatenate()([posture, motion])
    lstm = layers.LSTM(LSTM_UNITS, dropout=DROPOUT)
    z = layers.Bidirectional(lstm)(z) if bidirectional else lstm(z)
    z = layers.Dropout(DROPOUT)(z)
    fatigued = layers.Dense(1, activation="sigmoid", name="fatigued")(z)
    name = "cnn_bilstm" if bidirectional else "cnn_lstm"
    model = keras.Model([voxels, wavelets], fatigued, name=name)
    model.compile(
        optimizer=keras.optimizers.Adam(LEARNING_RATE),
        loss="binary_crossentropy",
        metrics=["accuracy"],
        jit_compile=False,
    )
    return model


def learning_rate(epoch: int, _rate: float = LEARNING_RATE) -> float:
    """Seed 000 §III-C: 1e-4, cut by 90 % after every 10 epochs (epoch counted from 0)."""
    return LEARNING_RATE * LR_DROP ** (epoch // LR_DROP_EVERY_EPOCHS)
