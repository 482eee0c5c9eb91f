"""FLOPs of each facelens model, counted from its ONNX graph, and this machine's sustained
single-precision matrix-multiply speed.

    python bench/flops.py --models DIR  ->  JSON on stdout

FLOPs = 2 x multiply-accumulates of Conv, Gemm and MatMul after ONNX shape inference, at the
model's input size (batch 1). P-Net is fully convolutional: it is counted at two input sizes
and reported per input pixel.
"""

import argparse
import json
import os
import time

import numpy as np
import onnx
from onnx import shape_inference

MODELS = {
    "fr_feature": "fr_feature.onnx",
    "fr_age": "fr_age.onnx",
    "faceres_deep": "faceres_deep.onnx",
    "gear": "gear.onnx",
    "emotion": "emotion.onnx",
    "mtcnn_rnet": "mtcnn_rnet.onnx",
    "mtcnn_onet": "mtcnn_onet.onnx",
}


def dims(vi):
    return [d.dim_value if d.HasField("dim_value") else 0 for d in vi.type.tensor_type.shape.dim]


def count(model, input_shape=None):
    g = model.graph
    inits = {i.name for i in g.initializer}
    real_inputs = [i for i in g.input if i.name not in inits]
    if input_shape:
        for d, v in zip(real_inputs[0].type.tensor_type.shape.dim, input_shape):
            d.ClearField("dim_param")
            d.dim_value = v
    else:
        for d in real_inputs[0].type.tensor_type.shape.dim:
            if not d.HasField("dim_value") or d.dim_value <= 0:
                d.ClearField("dim_param")
                d.dim_value = 1
    m = shape_inference.infer_shapes(model)
    shapes = {vi.name: dims(vi) for vi in list(m.graph.value_info) + list(m.graph.input) + list(m.graph.output)}
    for t in m.graph.initializer:
        shapes[t.name] = list(t.dims)
    total = 0
    for n in m.graph.node:
        if n.op_type == "Conv":
            out = shapes.get(n.output[0])
            w = shapes.get(n.input[1])
            if out and w and len(out) == 4:
                total += 2 * out[0] * out[1] * out[2] * out[3] * w[1] * w[2] * w[3]
        elif n.op_type in ("Gemm", "MatMul"):
            a = shapes.get(n.input[0])
            out = shapes.get(n.output[0])
            if a and out:
                total += 2 * int(np.prod(out)) * a[-1]
    return total


def sgemm_gflops(n=2048, reps=5):
    a = np.random.rand(n, n).astype(np.float32)
    b = np.random.rand(n, n).astype(np.float32)
    a @ b
    best = min(_timed(lambda: a @ b) for _ in range(reps))
    return 2 * n**3 / best / 1e9


def _timed(f):
    t = time.perf_counter()
    f()
    return time.perf_counter() - t


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--models", required=True)
    a = p.parse_args()
    out = {"models": {}}
    for k, f in MODELS.items():
        out["models"][k] = count(onnx.load(os.path.join(a.models, f)))
    pnet = os.path.join(a.models, "mtcnn_pnet.onnx")
    f480 = count(onnx.load(pnet), [1, 480, 480, 3])
    f240 = count(onnx.load(pnet), [1, 240, 240, 3])
    out["pnet_flops_per_px"] = (f480 - f240) / (480 * 480 - 240 * 240)
    out["sgemm_gflops"] = sgemm_gflops()
    cfg = np.show_config(mode="dicts") if hasattr(np, "show_config") else {}
    blas = cfg.get("Build Dependencies", {}).get("blas", {}).get("name", "BLAS") if isinstance(cfg, dict) else "BLAS"
    out["sgemm"] = f"numpy {np.__version__} {blas}, 2048x2048 float32 matmul, best of 5, all cores"
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
