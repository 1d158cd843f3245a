"""A TensorFlow.js graph model (``model.json`` + ``.bin``) read into a torch module that runs it.

TF semantics are kept op by op (NHWC tensors, TF padding rules, TF resize modes), so the module
gives the graph's own outputs; ``torch.onnx.export`` then turns it into ONNX. Nodes whose inputs
are all constants (shape arithmetic) are evaluated once at load, never exported. Only the ops the
two teacher graphs use are implemented: an unknown op is an error naming it.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

_DTYPES: dict[str, Any] = {"float32": np.float32, "int32": np.int32, "bool": np.bool_}
_TORCH_DTYPES = {"DT_FLOAT": torch.float32, "DT_INT32": torch.int64, "DT_INT64": torch.int64}


@dataclass(frozen=True)
class Node:
    """One graph node: ``inputs`` are ``(node name, output index)`` pairs; attributes raw."""

    name: str
    op: str
    inputs: tuple[tuple[str, int], ...]
    attr: dict[str, Any] = field(repr=False)

    def get(self, key: str, default: Any = None) -> Any:
        """The attribute ``key`` decoded (int, float, bool, str, list or torch dtype)."""
        value = self.attr.get(key)
        if value is None:
            return default
        if "list" in value:
            items = value["list"]
            if "i" in items:
                return [int(v) for v in items["i"]]
            return [base64.b64decode(s).decode() for s in items.get("s", [])]
        if "i" in value:
            return int(value["i"])
        if "f" in value:
            return float(value["f"])
        if "b" in value:
            return bool(value["b"])
        if "s" in value:
            return base64.b64decode(value["s"]).decode()
        if "type" in value:
            return _TORCH_DTYPES[value["type"]]
        return default


@dataclass(frozen=True)
class TfjsGraph:
    """A parsed graph model: nodes by name, constant values, input shapes and output names."""

    nodes: dict[str, Node]
    consts: dict[str, np.ndarray]
    inputs: dict[str, list[int]]
    outputs: list[str]


def _ref(text: str) -> tuple[str, int]:
    name, _, index = text.partition(":")
    return name, int(index or 0)


def read_weights(manifest: Sequence[dict[str, Any]], folder: Path) -> dict[str, np.ndarray]:
    """Weights of a tfjs manifest as arrays: float16-quantized floats widened to float32."""
    out: dict[str, np.ndarray] = {}
    for group in manifest:
        blob = b"".join((folder / p).read_bytes() for p in group["paths"])
        offset = 0
        for w in group["weights"]:
            quant = w.get("quantization")
            stored = np.dtype(np.float16 if quant else _DTYPES[w["dtype"]])
            if quant and quant.get("dtype") != "float16":
                raise ValueError(f"{w['name']}: unsupported quantization {quant}")
            count = math.prod(w["shape"])
            arr = np.frombuffer(blob, stored, count, offset).reshape(w["shape"])
            offset += count * stored.itemsize
            out[w["name"]] = arr.astype(_DTYPES[w["dtype"]])
        if offset != len(blob):
            raise ValueError(f"weights of {group['paths']}: read {offset} of {len(blob)} bytes")
    return out


def load_graph(model_json: Path) -> TfjsGraph:
    """Parse ``model.json`` and its weight files (found beside it)."""
    spec = json.loads(Path(model_json).read_text())
    nodes = {}
    for n in spec["modelTopology"]["node"]:
        refs = tuple(_ref(i) for i in n.get("input", []) if not i.startswith("^"))
        nodes[n["name"]] = Node(n["name"], n["op"], refs, n.get("attr", {}))
    inputs = {
        name: [int(d["size"]) for d in n.attr["shape"]["shape"]["dim"]]
        for name, n in nodes.items()
        if n.op == "Placeholder"
    }
    outputs = sorted(_ref(o["name"])[0] for o in spec["signature"]["outputs"].values())
    consts = read_weights(spec["weightsManifest"], Path(model_json).parent)
    return TfjsGraph(nodes, consts, inputs, outputs)


def _ints(t: Tensor) -> list[int]:
    return [int(v) for v in t.reshape(-1).tolist()]


def _same_pad(size: int, k: int, s: int, d: int) -> tuple[int, int]:
    total = max((math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size, 0)
    return total // 2, total - total // 2


def _nchw_pad(node: Node, x: Tensor, kh: int, kw: int, value: float = 0.0) -> Tensor:
    """``x`` (NCHW) padded as TF's ``SAME`` would; unchanged for ``VALID``."""
    if node.get("padding") != "SAME":
        return x
    (_, sh, sw, _), (_, dh, dw, _) = node.get("strides"), node.get("dilations", [1, 1, 1, 1])
    top, bottom = _same_pad(x.shape[2], kh, sh, dh)
    left, right = _same_pad(x.shape[3], kw, sw, dw)
    return F.pad(x, (left, right, top, bottom), value=value) if top + bottom + left + right else x


def _conv(node: Node, x: Tensor, w: Tensor, *extra: Tensor, depthwise: bool = False) -> Tensor:
    if node.get("data_format", "NHWC") != "NHWC" or node.get("padding") == "EXPLICIT":
        raise NotImplementedError(f"{node.name}: only NHWC with SAME/VALID padding")
    kh, kw, cin, cout = w.shape
    if depthwise:
        weight, groups = w.permute(2, 3, 0, 1).reshape(cin * cout, 1, kh, kw), cin
    else:
        weight, groups = w.permute(3, 2, 0, 1), x.shape[3] // cin
    y = _nchw_pad(node, x.permute(0, 3, 1, 2), kh, kw)
    (_, sh, sw, _), (_, dh, dw, _) = node.get("strides"), node.get("dilations", [1, 1, 1, 1])
    y = F.conv2d(y, weight, None, (sh, sw), 0, (dh, dw), groups).permute(0, 2, 3, 1)
    for i, fused in enumerate(node.get("fused_ops", [])):
        if fused == "BiasAdd":
            y = y + extra[i]
        elif fused in ("Relu", "Relu6"):
            y = F.relu(y) if fused == "Relu" else F.hardtanh(y, 0.0, 6.0)
        else:
            raise NotImplementedError(f"{node.name}: fused op {fused}")
    return y


def _max_pool(node: Node, x: Tensor) -> Tensor:
    (_, kh, kw, _), (_, sh, sw, _) = node.get("ksize"), node.get("strides")
    y = _nchw_pad(node, x.permute(0, 3, 1, 2), kh, kw, value=-math.inf)
    return F.max_pool2d(y, (kh, kw), (sh, sw)).permute(0, 2, 3, 1)


def _legacy_lerp(x: Tensor, dim: int, out: int) -> Tensor:
    """TF's resize without half-pixel centres along ``dim``: source = out index x in/out."""
    size = x.shape[dim]
    src = torch.arange(out, dtype=torch.float64) * (size / out)
    i0 = src.floor().long().clamp(max=size - 1)
    i1 = (i0 + 1).clamp(max=size - 1)
    shape = [1] * x.dim()
    shape[dim] = out
    frac = (src - i0).float().reshape(shape)
    return x.index_select(dim, i0) * (1 - frac) + x.index_select(dim, i1) * frac


def _resize(node: Node, x: Tensor, size: Tensor) -> Tensor:
    h, w = _ints(size)
    if node.get("half_pixel_centers") or node.get("align_corners"):
        y = F.interpolate(
            x.permute(0, 3, 1, 2), (h, w), mode="bilinear", align_corners=node.get("align_corners")
        )
        return y.permute(0, 2, 3, 1)
    return _legacy_lerp(_legacy_lerp(x, 1, h), 2, w)


def _pad(node: Node, x: Tensor, paddings: Tensor, value: Tensor | None = None) -> Tensor:
    pairs = np.array(_ints(paddings)).reshape(-1, 2)[::-1].reshape(-1).tolist()
    return F.pad(x, pairs, value=0.0 if value is None else float(value))


def _strided_slice(node: Node, x: Tensor, begin: Tensor, end: Tensor, step: Tensor) -> Tensor:
    if node.get("ellipsis_mask", 0) or node.get("new_axis_mask", 0):
        raise NotImplementedError(f"{node.name}: ellipsis/new-axis masks")
    index: list[Any] = []
    for i, (b, e, s) in enumerate(zip(_ints(begin), _ints(end), _ints(step))):
        bit = 1 << i
        if node.get("shrink_axis_mask", 0) & bit:
            index.append(b)
            continue
        index.append(
            slice(
                None if node.get("begin_mask", 0) & bit else b,
                None if node.get("end_mask", 0) & bit else e,
                s,
            )
        )
    return x[tuple(index)]


def _split_v(node: Node, x: Tensor, sizes: Tensor, axis: Tensor) -> tuple[Tensor, ...]:
    dim, parts = _ints(axis)[0], _ints(sizes)
    if -1 in parts:
        parts[parts.index(-1)] = x.shape[dim] - (sum(parts) + 1)
    return tuple(torch.split(x, parts, dim))


def _gather(node: Node, params: Tensor, indices: Tensor, axis: Tensor) -> Tensor:
    dim = _ints(axis)[0] % params.dim()
    flat = params.index_select(dim, indices.reshape(-1))
    return flat.reshape(*params.shape[:dim], *indices.shape, *params.shape[dim + 1 :])


def _sparse_to_dense(node: Node, idx: Tensor, shape: Tensor, vals: Tensor, dflt: Tensor) -> Tensor:
    dense = torch.full(_ints(shape), dflt.item(), dtype=vals.dtype)
    rows = idx.reshape(-1, 1) if idx.dim() < 2 else idx
    values = vals.reshape(-1).expand(len(rows))
    for row, v in zip(rows.tolist(), values):
        dense[tuple(row)] = v
    return dense


OPS: dict[str, Callable[..., Tensor | tuple[Tensor, ...]]] = {
    "Identity": lambda n, x: x,
    "Add": lambda n, a, b: a + b,
    "AddV2": lambda n, a, b: a + b,
    "Sub": lambda n, a, b: a - b,
    "Mul": lambda n, a, b: a * b,
    "FloorDiv": lambda n, a, b: torch.div(a, b, rounding_mode="floor"),
    "FloorMod": lambda n, a, b: torch.remainder(a, b),
    "Equal": lambda n, a, b: a == b,
    "Cast": lambda n, x: x.to(n.get("DstT")),
    "Sigmoid": lambda n, x: torch.sigmoid(x),
    "Relu": lambda n, x: F.relu(x),
    "Relu6": lambda n, x: F.hardtanh(x, 0.0, 6.0),
    "LeakyRelu": lambda n, x: F.leaky_relu(x, n.get("alpha", 0.2)),
    "Transpose": lambda n, x, perm: x.permute(*_ints(perm)),
    "Reshape": lambda n, x, shape: x.reshape(_ints(shape)),
    "ExpandDims": lambda n, x, dim: x.unsqueeze(_ints(dim)[0]),
    "ConcatV2": lambda n, *xs: torch.cat(xs[:-1], _ints(xs[-1])[0]),
    "Mean": lambda n, x, axes: x.mean(_ints(axes), keepdim=n.get("keep_dims", False)),
    "TopKV2": lambda n, x, k: tuple(torch.topk(x, _ints(k)[0], -1, True, True)),
    "Conv2D": _conv,
    "_FusedConv2D": _conv,
    "DepthwiseConv2dNative": lambda n, x, w: _conv(n, x, w, depthwise=True),
    "FusedDepthwiseConv2dNative": lambda n, x, w, *e: _conv(n, x, w, *e, depthwise=True),
    "MaxPool": _max_pool,
    "ResizeBilinear": _resize,
    "Pad": _pad,
    "PadV2": _pad,
    "StridedSlice": _strided_slice,
    "SplitV": _split_v,
    "GatherV2": _gather,
    "SparseToDense": _sparse_to_dense,
}


class TfjsModule(nn.Module):
    """Runs a :class:`TfjsGraph` with torch ops: one input tensor in, the graph's outputs out.

    Constant sub-graphs are folded at construction; float constants the dynamic part reads become
    buffers (ONNX initializers).

    Example:
        >>> module = TfjsModule(load_graph(Path("nanodet.json")))  # doctest: +SKIP
        >>> outputs = module(torch.zeros(1, 3, 416, 416))  # doctest: +SKIP
    """

    def __init__(self, graph: TfjsGraph, outputs: Sequence[str] | None = None) -> None:
        super().__init__()
        if len(graph.inputs) != 1:
            raise ValueError(f"expected one input, the graph has {sorted(graph.inputs)}")
        self.graph = graph
        self.input_name = next(iter(graph.inputs))
        self.output_names = list(outputs or graph.outputs)
        unknown = {n.op for n in graph.nodes.values()} - {*OPS, "Const", "Placeholder"}
        if unknown:
            raise NotImplementedError(f"tfjs ops without a torch implementation: {sorted(unknown)}")
        self.order = self._topological(self.output_names)
        self.static: dict[tuple[str, int], Tensor] = {}
        self.dynamic: list[Node] = []
        self.buffer_of: dict[tuple[str, int], str] = {}
        self._fold()

    def _topological(self, outputs: Sequence[str]) -> list[Node]:
        order: list[Node] = []
        seen: set[str] = set()
        stack: list[tuple[str, bool]] = [(o, False) for o in reversed(outputs)]
        while stack:
            name, done = stack.pop()
            if done:
                order.append(self.graph.nodes[name])
            elif name not in seen:
                seen.add(name)
                stack.append((name, True))
                stack += [(i, False) for i, _ in self.graph.nodes[name].inputs if i not in seen]
        return order

    def _fold(self) -> None:
        """Evaluate every node that does not depend on the input; keep the rest in order."""
        live = {self.input_name}
        for node in self.order:
            if node.op == "Const":
                arr = self.graph.consts[node.name]
                value = torch.from_numpy(arr.astype(np.int64) if arr.dtype == np.int32 else arr)
                self.static[(node.name, 0)] = value
            elif node.op != "Placeholder" and not any(i in live for i, _ in node.inputs):
                with torch.no_grad():
                    self._store(self.static, node, [self.static[r] for r in node.inputs])
            elif node.op != "Placeholder":
                live.add(node.name)
                self.dynamic.append(node)
        used = {r for n in self.dynamic for r in n.inputs if r in self.static}
        for k, (ref, value) in enumerate(sorted(self.static.items())):
            if ref in used and value.is_floating_point():
                self.register_buffer(f"c{k}", value)
                self.buffer_of[ref] = f"c{k}"

    @staticmethod
    def _store(env: dict[tuple[str, int], Tensor], node: Node, args: list[Tensor]) -> None:
        result = OPS[node.op](node, *args)
        for i, value in enumerate(result if isinstance(result, tuple) else (result,)):
            env[(node.name, i)] = value

    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        """The graph's outputs (in ``output_names`` order) for input ``x``."""
        env = dict(self.static)
        env.update({ref: getattr(self, name) for ref, name in self.buffer_of.items()})
        env[(self.input_name, 0)] = x
        for node in self.dynamic:
            self._store(env, node, [env[r] for r in node.inputs])
        return tuple(env[(o, 0)] for o in self.output_names)
