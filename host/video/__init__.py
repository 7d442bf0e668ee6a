"""Fatigue from video kinematics (seed 000): pose → kinematic features → wavelets, voxels.

Runs on the host (a laptop with a camera), never on the board. One step per module:

- :mod:`host.video.keypoints`   the seed's 11 upper-body keypoints and the skeleton's segments
- :mod:`host.video.track`       :class:`PoseTrack`, what every source of poses gives
- :mod:`host.video.video_io`    frames from a video file or a camera (OpenCV)
- :mod:`host.video.pose`        MediaPipe's pose landmarker on those frames (seed eqs. 1–3)
- :mod:`host.video.gaps`        short gaps interpolated and flagged, long gaps left as gaps
- :mod:`host.video.plausibility` checks that the skeleton is one real person in view
- :mod:`host.video.kinematics`  velocities, accelerations, joint angles, head tilts
- :mod:`host.video.wavelets`    db4 multilevel approximations (seed eqs. 5–6)
- :mod:`host.video.voxels`      3D posture voxels (seed eq. 7), sparse
- :mod:`host.video.pipeline`    all of the above in order: a :class:`VideoFeatures`
- :mod:`host.video.features_file` its HDF5 file: reader apart from writer
"""
