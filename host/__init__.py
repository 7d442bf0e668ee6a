"""Host-side tools (a laptop): datasets, training, conversion for the NPU, recording.

May import ``device`` (one implementation of the features and the science) but is
never imported by it.
"""
