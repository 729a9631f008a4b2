"""Convert the YuNet face detector (.onnx) into a float32 TFLite model LiteRT runs at any input size.

    .venv-convert/bin/python -m tools.convert_yunet models/face_detection_yunet_2023mar.onnx
    # writes models/face_detection_yunet_2023mar.tflite

The kiosk runs this file with LiteRT's XNNPACK (kiosk/vision/yunet_litert.py) instead of the .onnx with OpenCV's
DNN module: the same network, about twice as fast. The conversion is onnx2tf's (PINTO0309/onnx2tf, MIT), with
the input's height and width made free first so that one file serves every frame size, in its own virtual
environment (its pinned TensorFlow differs from the training one):

    python3 -m venv .venv-convert && .venv-convert/bin/pip install -r requirements-convert.txt

Then the result is checked against OpenCV's `cv2.FaceDetectorYN` on the same .onnx, on the demo clip's
frames at the kiosk's detector size and on 128 px windows (`compare`, also run by tests/test_yunet_litert.py on
the shipped file): the same faces, boxes within half a pixel, scores within 0.002; otherwise nothing is
written and the exit code is 1. onnx2tf's float conversion needs no calibration data, but it looks for its
sample file in the working folder and would download it: it is run in a scratch folder holding a stand-in.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sys
import tempfile
from pathlib import Path

from tools.cli import CliError, run

SAMPLE = "calibration_image_sample_data_20x128x128x3_float32.npy"  # onnx2tf's name for its sample images
BOX_PX = 0.5
SCORE = 0.002


def free_input(onnx_path: Path, out: Path) -> None:
    """A copy of the .onnx whose input height and width (and the outputs' lengths) are free."""
    import onnx

    model = onnx.load(str(onnx_path))
    if len(model.graph.input) != 1 or len(model.graph.input[0].type.tensor_type.shape.dim) != 4:
        raise CliError(f"{onnx_path}: expected one NCHW image input, as YuNet has")
    dims = model.graph.input[0].type.tensor_type.shape.dim
    dims[2].dim_param, dims[3].dim_param = "height", "width"
    del model.graph.value_info[:]  # shapes inferred for 640x640: let the converter infer them again
    for output in model.graph.output:
        output.type.tensor_type.shape.dim[1].dim_param = "anchors"
    onnx.save(model, str(out))


def convert(onnx_path: Path, out: Path) -> None:
    import numpy as np
    import onnx2tf

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        free = work / "yunet.onnx"  # a copy: onnx2tf rewrites the file it is given (simplified) in place
        free_input(onnx_path, free)
        np.save(work / SAMPLE, np.zeros((20, 128, 128, 3), np.float32))
        here = os.getcwd()
        os.chdir(work)
        try:
            onnx2tf.convert(input_onnx_file_path=str(free), output_folder_path=str(work / "tf"), non_verbose=True)
        finally:
            os.chdir(here)
        made = work / "tf" / "yunet_float32.tflite"
        if not made.is_file():
            raise CliError(f"onnx2tf wrote no {made.name} for {onnx_path}")
        shutil.copyfile(made, out)


def compare(onnx_path: Path, tflite_path: Path) -> dict[str, float]:
    """The largest differences between the two engines on the demo clip's frames (whole frame at the
    detector's size, and a 128 px window around each face found): faces count, box px, score."""
    import cv2

    from kiosk.assets import DEMO_CLIP
    from kiosk.vision.refine import crop_transform
    from kiosk.vision.yunet import shrink
    from kiosk.vision.yunet_litert import LiteRTYuNet

    worst = {"count": 0.0, "box_px": 0.0, "score": 0.0, "frames": 0.0}

    def check(image, opencv, litert):
        """Compares the two on `image`; returns OpenCV's rows (None without faces)."""
        h, w = image.shape[:2]
        opencv.setInputSize((w, h))
        litert.setInputSize((w, h))
        a = opencv.detect(image)[1]
        b = litert.detect(image)[1]
        a = a[a[:, 14].argsort()] if a is not None else None
        b = b[b[:, 14].argsort()] if b is not None else None
        worst["frames"] += 1
        if (a is None) != (b is None) or (a is not None and len(a) != len(b)):
            worst["count"] += 1
        elif a is not None:
            worst["box_px"] = max(worst["box_px"], float(abs(a[:, :14] - b[:, :14]).max()))
            worst["score"] = max(worst["score"], float(abs(a[:, 14] - b[:, 14]).max()))
        return a

    # one pair per kind of image, re-sized by check() as needed (not a new net per image)
    frame_nets = (cv2.FaceDetectorYN.create(str(onnx_path), "", (320, 240), 0.3, 0.3, 5000),
                  LiteRTYuNet(tflite_path, (320, 240), 0.3, 0.3))
    window_nets = (cv2.FaceDetectorYN.create(str(onnx_path), "", (128, 128), 0.3, 0.3, 5000),
                   LiteRTYuNet(tflite_path, (128, 128), 0.3, 0.3))
    cap = cv2.VideoCapture(str(DEMO_CLIP))
    try:
        index = 0
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            index += 1
            if index % 10:
                continue
            small = shrink(frame, 400, round(frame.shape[0] * 400 / frame.shape[1]))
            faces = check(small, *frame_nets)
            for row in faces if faces is not None else []:
                m, *_ = crop_transform(row, 128)
                window = cv2.warpAffine(small, m, (128, 128), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
                check(window, *window_nets)
    finally:
        cap.release()
    return worst


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("onnx", type=Path, help="YuNet .onnx (OpenCV Zoo's face_detection_yunet_2023mar.onnx)")
    p.add_argument("--out", type=Path, default=None, help="output .tflite (default: beside the .onnx, same stem)")
    args = p.parse_args(argv)
    if not args.onnx.is_file():
        raise CliError(f"model not found: {args.onnx}")
    out = args.out or args.onnx.with_suffix(".tflite")
    try:
        import onnx2tf  # noqa: F401 - only to say what is missing before any work
    except ImportError:
        raise CliError("onnx2tf is not installed: python3 -m venv .venv-convert && "
                       ".venv-convert/bin/pip install -r requirements-convert.txt") from None
    with tempfile.TemporaryDirectory() as tmp:
        made = Path(tmp) / out.name
        convert(args.onnx, made)
        worst = compare(args.onnx, made)
        print(f"LiteRT against OpenCV on {int(worst['frames'])} images: {int(worst['count'])} with other faces, "
              f"boxes and landmarks within {worst['box_px']:.3f} px, scores within {worst['score']:.4f}")
        if worst["count"] or worst["box_px"] > BOX_PX or worst["score"] > SCORE:
            print(f"refused: not the same detector (limits {BOX_PX} px, {SCORE}); nothing written", file=sys.stderr)
            return 1
        shutil.copyfile(made, out)
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    print(f"wrote {out} ({out.stat().st_size} bytes, sha256 {digest})")
    return 0


if __name__ == "__main__":
    run(main)
