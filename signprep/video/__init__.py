"""Video input: sample frames decoded from video files (decord, OpenCV fallback) and container headers."""
