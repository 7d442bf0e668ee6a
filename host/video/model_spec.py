"""What the video model takes and how it is trained (seed 000 §III-C, §IV), without Keras.

The one place of these facts: :mod:`host.video.fatigue_net` (the network),
:mod:`host.video.model_inputs` (its windows), the model file and the commands read them
here, so that a command's help does not wait for TensorFlow to load.
"""

from __future__ import annotations

#: Seed 000 §III-C: "a window length of 450 frames (30 seconds) and a stride of 100 frames".
#: 450 frames are 30 s at 15 frames/s, so the model sees every second frame of the seed's
#: 30 fps video (host.video.keypoints.REFERENCE_FPS): :data:`MODEL_FPS`.
WINDOW_FRAMES = 450
STRIDE_FRAMES = 100
MODEL_FPS = 15.0
#: From a window's first model frame to its last, s (29.93 s): a video whose frames span
#: this holds one window (899 frames at 30 fps do, 898 do not).
WINDOW_SPAN_S = (WINDOW_FRAMES - 1) / MODEL_FPS
#: Seed 000 §IV: fatigued when the Borg CR10 rating has reached 7 ("very difficult").
FATIGUE_BORG = 7
#: Seed 000 §III-C: "The batch size was set to 32, with the model trained over 50 epochs
#: using the Adaptive Moment Estimation (Adam) optimizer. The dynamic learning rate was
#: initialized at 0.0001 and reduced by 90% after every 10 epochs."
BATCH_SIZE = 32
EPOCHS = 50
LEARNING_RATE = 1e-4
LR_DROP = 0.1
LR_DROP_EVERY_EPOCHS = 10
