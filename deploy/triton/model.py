"""Triton python-backend model: runs ``model.onnx`` of the same version dir with onnxruntime.

Copied next to ``model.onnx`` by :func:`serving.triton_repo.write_model_repository` for the
local CPU Triton (the ``tritonserver`` binary of the ``nvidia-pytriton`` wheel has no
onnxruntime backend). The dynamic batcher hands many requests to one ``execute`` call: they are
concatenated, run once and split again.
"""

import os

import numpy as np
import onnxruntime as ort
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    """onnxruntime session created once per model instance."""

    def initialize(self, args):
        """Open the ONNX model of this version."""
        so = ort.SessionOptions()
        so.intra_op_num_threads = int(os.environ.get("LAUNCHWATCH_TRITON_THREADS", "2"))
        path = os.path.join(args["model_repository"], args["model_version"], "model.onnx")
        self.sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])

    def execute(self, requests):
        """Run all queued requests as one batch."""
        xs = [pb_utils.get_input_tensor_by_name(r, "input").as_numpy() for r in requests]
        y = self.sess.run(["logits"], {"input": np.concatenate(xs)})[0]
        out, i = [], 0
        for x in xs:
            tensor = pb_utils.Tensor("logits", np.ascontiguousarray(y[i : i + len(x)]))
            out.append(pb_utils.InferenceResponse([tensor]))
            i += len(x)
        return out
