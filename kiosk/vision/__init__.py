"""Vision: faces found, followed and judged. Detector backends, crops, the classifier and the nose check,
then tracks and the per-person k-of-n decision."""
