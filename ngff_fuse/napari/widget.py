"""The convert widget: `convert` with its main options, in a worker thread (the viewer stays
responsive), with napari's progress bar; the result opens placed over the lazy layers."""

import threading
from pathlib import Path

import napari
from magicgui import magic_factory
from napari.qt.threading import FunctionWorker, thread_worker
from napari.utils.notifications import show_error

from ngff_fuse.codecs import DEFAULT_CODEC, Codec
from ngff_fuse.convert import RegisterOptions, convert
from ngff_fuse.errors import InputError
from ngff_fuse.fuse.blend import BlendMode
from ngff_fuse.napari.reader import SOURCE_KEY, read_ome_zarr
from ngff_fuse.writer import WriteOptions

STEPS = 100  # the progress bar's resolution


class Fraction:
    """A `Progress` that keeps the fraction done of the task with the most items (writing the
    blocks), read by the worker thread while `convert` runs in another."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tasks: dict[str, list[int]] = {}

    def start(self, label: str, total: int, unit: str = "", pixels_per_item: float = 0) -> None:
        with self._lock:
            self._tasks[label] = [0, max(total, 1)]

    def advance(self, label: str, amount: int = 1) -> None:
        with self._lock:
            if label in self._tasks:
                self._tasks[label][0] += amount

    def finish(self, label: str) -> None:
        with self._lock:
            if label in self._tasks:
                self._tasks[label][0] = self._tasks[label][1]

    def note(self, message: str) -> None:
        pass

    def done(self) -> float:
        with self._lock:
            if not self._tasks:
                return 0.0
            done, total = max(self._tasks.values(), key=lambda task: task[1])
            return min(done / total, 1.0)


def convert_steps(input_path: Path, output: Path, options: WriteOptions, blend: str, keep_tiles: bool,
                  refine: RegisterOptions):
    """Runs `convert` in a thread of its own and yields once per percent done; returns the
    layers of the written store."""
    fraction = Fraction()
    outcome: dict = {}

    def run() -> None:
        try:
            convert(input_path, output, write_options=options, blend=blend, refine=refine,
                    progress=fraction, keep_tiles=keep_tiles)
        except Exception as exc:  # handed to the worker thread, which raises it
            outcome["error"] = exc

    thread = threading.Thread(target=run, name="ngff-fuse convert")
    thread.start()
    shown = 0
    while thread.is_alive():
        thread.join(0.1)
        now = int(fraction.done() * STEPS)
        for _ in range(shown, now):
            yield
        shown = max(shown, now)
    if "error" in outcome:
        raise outcome["error"]
    for _ in range(shown, STEPS):
        yield
    return read_ome_zarr(str(output))


def report(error: Exception) -> None:
    """What `convert` refused, or what failed, as the one line it says, in napari's notices."""
    show_error(f"ngff-fuse convert: {error}")


def acquisition_source(viewer) -> str | None:
    """The input of the first layer the plugin fused lazily, if any."""
    for layer in viewer.layers:
        source = layer.metadata.get(SOURCE_KEY, {})
        if "input" in source:
            return source["input"]
    return None


@magic_factory(
    call_button="Convert",
    input_path={"label": "input (empty: the open acquisition)", "mode": "r"},
    output={"label": "output .ome.zarr", "mode": "w"},
    ngff={"choices": ["0.4", "0.5", "0.6"]},
    blend={"choices": [mode.value for mode in BlendMode]},
    levels={"min": 0, "tooltip": "0: until the smallest level fits in one chunk"},
    chunk={"min": 16, "max": 8192},
    register={"label": "register (refine positions from the overlaps)"},
)
def ConvertWidget(
    viewer: napari.viewer.Viewer,
    input_path: Path = Path(""),
    output: Path = Path("mosaic.ome.zarr"),
    ngff: str = "0.5",
    blend: str = BlendMode.FEATHER.value,
    codec: str = DEFAULT_CODEC,
    chunk: int = 1024,
    levels: int = 0,
    keep_tiles: bool = False,
    register: bool = False,
    overwrite: bool = False,
) -> FunctionWorker:
    """Convert the acquisition to OME-Zarr in the background; the result opens when written."""
    source = Path(input_path) if str(input_path) not in ("", ".") else acquisition_source(viewer)
    if source is None:
        raise InputError("Convert: no input; open an acquisition with the ngff-fuse reader, or choose its file")
    options = WriteOptions(ngff=ngff, chunk=chunk, levels=levels or None, codec=Codec.parse(codec),
                           overwrite=overwrite)
    worker = thread_worker(
        convert_steps, progress={"total": STEPS, "desc": f"converting {Path(source).name}"},
        # without an "errored" handler the worker re-raises in Qt's thread, which aborts
        connect={"errored": report, "returned": lambda layers: add_layers(viewer, layers)},
    )(Path(source), Path(output), options, blend, keep_tiles, RegisterOptions(register=register))
    return worker  # started: `connect` starts it, with the handlers in place before it runs


def add_layers(viewer, layers) -> None:
    for data, kwargs, kind in layers:
        getattr(viewer, f"add_{kind}")(data, **kwargs)
