"""Capture: where frames come from (picamera2, OpenCV sources, image folders) and how images are read."""
