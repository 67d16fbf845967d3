"""Writing results: whole directories appear at once, or not at all.

Files are written into a hidden staging directory beside the target and moved
into place only when every one of them is complete, so an interrupted run never
leaves a half-written file where a user (or a script) would read it.
"""

from __future__ import annotations

import json
import math
import os
import platform
import re
import shlex
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np


def json_ready(value: Any) -> Any:
    """Plain JSON values: NaN and infinities become null, numpy scalars Python numbers."""
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(json_ready(data), indent=2, allow_nan=False) + "\n", encoding="utf-8")


def write_text_atomic(path: Path, text: str) -> None:
    """Write one file atomically: a temporary file beside it, then a rename."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def staged_directory(target: Path) -> Iterator[Path]:
    """Yield a staging directory; on success its files are moved into ``target``.

    If ``target`` does not exist yet, the whole directory is renamed into place
    in one step. If it exists, each file replaces its namesake atomically.
    Staging folders left by runs into the same place that were killed are
    removed first.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_staging(target)
    staging = target.parent / f".{target.name}.partial-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        yield staging
        if not target.exists():
            staging.rename(target)
        else:
            for item in staging.iterdir():
                os.replace(item, target / item.name)
            staging.rmdir()
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def remove_stale_staging(target: Path) -> list[Path]:
    """Remove ``.<name>.partial-<pid>`` folders beside ``target`` whose process is gone."""
    removed = []
    for stale in target.parent.glob(f".{target.name}.partial-*"):
        try:
            pid = int(stale.name.rsplit("-", 1)[1])
        except ValueError:
            continue
        if pid != os.getpid() and not _alive(pid):
            shutil.rmtree(stale, ignore_errors=True)
            removed.append(stale)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


#: What marks a folder as chainsim's output of each kind (so it may be written again).
MARKERS = {"run": "manifest.json", "compare": "compare.png", "diagnose": "diagnosis.json",
           "optimize": "optimum.json", "fit": "fit.json"}


def slug(name: str, default: str = "scenario") -> str:
    """A name as one safe file name: a scenario's or experiment's name never becomes a path."""
    text = re.sub(r"[^A-Za-z0-9._-]+", "-", str(name)).strip(".-_")[:60]
    return text or default


def check_out_dir(path: Path, kind: str | None = None) -> str | None:
    """Refuse an --out that cannot be a results directory, before any work starts.

    A folder that already holds something else is refused; one that holds an
    earlier output of the same kind is written over (the returned note says so).
    """
    if str(path) in ("", "."):
        raise OSError("--out: give a folder for the results (e.g. --out runs/mine), not "
                      "the current directory")
    if path.exists() and not path.is_dir():
        raise OSError(f"--out {path} is a file, not a directory")
    parent = path if path.exists() else _first_existing_parent(path)
    if not os.access(parent, os.W_OK):
        raise OSError(f"--out {path}: no permission to write in {parent}")
    if kind is not None and path.is_dir():
        entries = [e for e in path.iterdir() if not e.name.startswith(".")]
        if entries:
            marker = MARKERS[kind]
            if not (path / marker).exists():
                raise OSError(f"--out {path}: the folder holds other files and no earlier "
                              f"chainsim {kind} ({marker}); pick an empty or new folder")
            return f"writing over the earlier {kind} in {path}/"
    return None


def _first_existing_parent(path: Path) -> Path:
    for parent in path.absolute().parents:
        if parent.exists():
            if not parent.is_dir():
                raise OSError(f"--out {path}: {parent} is a file, not a directory")
            return parent
    return Path("/")


def manifest(scenario, *, source: str | None, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """What produced a result: version, resolved scenario, seed, command line, machine."""
    from importlib.metadata import version

    from . import __version__

    data = {
        "chainsim_version": __version__,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": shlex.join(["chainsim", *sys.argv[1:]]),
        "scenario_source": source,
        "seed": scenario.run.seed,
        "days": scenario.run.days,
        "scenario": scenario.to_dict(),
        "python": platform.python_version(),
        "mesa": version("mesa"),
        "numpy": np.__version__,
        "platform": platform.platform(),
    }
    data.update(extra or {})
    return data


def draw_dashboard(path: Path, timeseries, title: str) -> None:
    """Draw a run's dashboard into ``path`` (a PNG)."""
    import matplotlib.pyplot as plt

    from .plots import dashboard

    fig = dashboard(timeseries, title)
    try:
        fig.savefig(path, dpi=110)
    finally:
        plt.close(fig)


class Painter:
    """Draws one run's dashboard in a second process, started before the run.

    The plotting library takes as long to import as Mesa and pandas together,
    and drawing six panels as long again: a third of ``chainsim run``. A
    painter, forked as soon as the command knows what to run, imports it while
    this process imports the engine and runs the business, then draws what it
    is sent while this process writes the other files. It draws with the same
    code, so the picture is the same to the byte. Where forking is not safe
    (:func:`chainsim.parallel.start_method`), :meth:`start` gives None and the
    caller draws in its own process.
    """

    def __init__(self, process, conn) -> None:
        self._process, self._conn = process, conn
        self._sent = self._busy = False

    @classmethod
    def start(cls) -> Painter | None:
        from .parallel import process_context, start_method

        if start_method() != "fork":
            return None
        context = process_context("fork")
        mine, theirs = context.Pipe()
        process = context.Process(target=_paint, args=(theirs, mine, os.getpid()),
                                  daemon=True, name="chainsim-painter")
        process.start()
        theirs.close()
        return cls(process, mine)

    def paint(self, path: Path, timeseries, title: str) -> bool:
        """Send the painter its picture; False if it is gone (the caller then draws it)."""
        try:
            self._conn.send((str(path), timeseries, title))
        except (OSError, EOFError):  # it died (killed, out of memory): nothing was drawn
            return False
        self._sent = self._busy = True
        return True

    def wait(self) -> bool:
        """Until the picture is drawn; True once it is there.

        An ``OSError`` of the painter's (a full disk) is raised here, as the
        caller's own would be. Anything else -- the painter died, or drawing
        raised something else -- gives False, and the caller draws the picture
        itself: what it then says is what it would have said without a painter.
        """
        if not self._busy:
            return False
        self._busy = False
        try:
            error = self._conn.recv()
        except (OSError, EOFError):
            return False
        except BaseException:  # Ctrl-C: the staging folder is about to go; so does the painter
            self.kill()
            raise
        if error is None:
            return True
        kind, args, filename = error
        if kind != "OSError":
            return False
        if filename is not None and len(args) == 2:
            raise OSError(*args, filename)
        raise OSError(*args)

    def kill(self) -> None:
        self._process.kill()
        self._process.join()

    def close(self) -> None:
        """End the painter: at once if it was sent nothing, else once it has drawn."""
        self._conn.close()
        if not self._sent:
            self.kill()
            return
        self._process.join(timeout=5)
        if self._process.is_alive():
            self.kill()


def _paint(conn, parent_end, parent: int) -> None:
    """The painter: import the plotting library, then draw the one picture it is sent.

    It never speaks: whatever goes wrong is the parent's to say (or to redo).
    """
    import signal

    from .parallel import end_with_parent

    parent_end.close()  # so that the parent's end closing is seen here as the end
    end_with_parent(parent)
    signal.signal(signal.SIGINT, lambda *_: os._exit(130))  # Ctrl-C: the parent says it
    try:
        import matplotlib.pyplot  # noqa: F401 - the slow part, while the parent imports Mesa

        from . import plots  # noqa: F401

        path, timeseries, title = conn.recv()
    except BaseException:  # noqa: BLE001 - no picture sent, or none can be drawn here
        os._exit(0)
    try:
        draw_dashboard(Path(path), timeseries, title)
        reply = None
    except OSError as err:
        reply = ("OSError", err.args, err.filename)
    except BaseException as err:  # noqa: BLE001 - the parent draws it again, and says it
        reply = (type(err).__name__, (str(err),), None)
    try:
        conn.send(reply)
    except OSError:  # the parent is gone
        pass


def write_run(directory: Path, result, *, manifest_data: dict[str, Any], title: str,
              journeys: bool = False, painter: Painter | None = None) -> None:
    """Write one run's files into ``directory`` (already a staging directory).

    ``summary.json`` is the caller's to write: the summary's verdict may still be
    on its way from other processes while these are written. With a
    :class:`Painter`, the dashboard is drawn by it while the other files are
    written, and is there when this returns (or raises); if the painter cannot
    draw it, this process does.
    """
    drawn = painter is not None and painter.paint(directory / "dashboard.png",
                                                  result.timeseries, title)
    try:
        result.timeseries.to_csv(directory / "timeseries.csv", index=False)
        write_json(directory / "manifest.json", manifest_data)
        if journeys and result.journeys is not None:
            result.journeys.to_csv(directory / "journeys.csv", index=False)
    finally:
        if drawn:  # even on an error: nothing is drawn into a folder being removed
            drawn = painter.wait()
    if not drawn:
        draw_dashboard(directory / "dashboard.png", result.timeseries, title)
