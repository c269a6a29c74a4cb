"""The resume manifest: which outputs of an output folder are finished and verified.

A batch killed halfway (``kill -9``, power cut, full disk) must be re-runnable
with the same command: finished files are skipped, the rest are done. The
manifest is a JSON-lines file; one line is appended (and fsync'd) per event,
so a kill while writing loses at most that one line, which is then ignored
as unreadable.

Where it lives: never in the output folder, which is what people zip and
share. Each line holds digests that anyone holding an original (a seized
phone) could recompute to prove that this folder came from that phone. It
lives in the user's state directory, ``$XDG_STATE_HOME/crowdveil/resume/``
(default ``~/.local/state/crowdveil/resume/``, folders 0700, file 0600),
named by a digest of the output folder's resolved path. The same manifest
serves outputs written beside their originals (no ``--out``): their folder
is the output folder. A manifest an older crowdveil left in the output
folder (``.crowdveil-manifest.jsonl``) is moved there on the next run.

Three events per file:

* ``started``: written before the pipeline runs, with the candidate output
  names that already existed then.
* ``committing``: written after every check passed and just before the
  rename into place, with the output's name and the sha256 of the verified
  bytes. An output found on the next run with no ``done`` line is adopted
  as done only when it has exactly that name and digest: the interrupted
  run was killed between its rename and its ``done`` line. Any other file
  with the expected name (one copied there while the run was interrupted,
  the original itself, say) was never verified and is refused as "already
  exists"; a name alone proves nothing.
* ``done``: the output's name (relative to the folder) and sha256.

Every line also names the crowdveil version that wrote it.

A job is "already done" when its latest ``done`` line matches the same
source bytes and the same settings, the output has the name this run would
give it, and the file still has the recorded sha256. Anything else is
redone (or refused as "already exists", the pipeline's rule for files
crowdveil did not record).

The manifest holds no paths or names of originals (the source key is a
digest of the resolved path) and no metadata values; the source digest is
domain-separated, so it is not the sha256 under which the original could be
looked up.

While a batch runs it holds an exclusive lock on the manifest, so a second
crowdveil writing into the same folder is refused rather than having its
temporary files cleaned away under it.
"""

from __future__ import annotations

import dataclasses
import errno
import fcntl
import hashlib
import json
import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Iterable, Iterator, Mapping

from ..version import __version__
from ..config import Config
from ..errors import InputError, OutputError, UnsafeOutputPath, WriteFailed
from ..io.digest import sha256_file
from ..io.formats import OUTPUT_SUFFIXES  # every suffix the pipeline can pick: the candidates of "started"
from ..io.output import TEMP_MARK

# What older versions kept in the output folder; read once, moved to the state directory.
MANIFEST_NAME = ".crowdveil-manifest.jsonl"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class DoneEntry:
    """A verified output recorded by an earlier (or this) run."""

    output: Path  # absolute
    output_sha256: str
    faces: list[dict[str, Any]]
    metadata_removed: list[str]
    painted: dict[str, Any] = dataclasses.field(default_factory=dict)  # {"pct": …, "frame": …} (video: the most painted)


def source_key(src: Path) -> str:
    """Which source a line is about, without writing its path into the output folder."""
    # realpath, not resolve(): a link loop must not raise here (the pipeline refuses it as that file's error).
    return hashlib.sha256(b"crowdveil-source-path\0" + os.path.realpath(src).encode()).hexdigest()


def source_digest(src: Path) -> str:
    """A digest of the source bytes (unchanged source ⇒ same digest).

    Raises:
        InputError: not a regular file (a FIFO would block the open forever).
    """
    from ..io.source import read_regular_file

    read_regular_file(src, limit=0)
    return sha256_file(src, prefix=b"crowdveil-source-bytes\0")


def settings_digest(config: Config) -> str:
    """Settings that change the output bytes, plus the version and the sha256 of every weight file
    (a newer detector should redo the work). ``overwrite`` does not change them."""
    from ..detect.weights import ALL as WEIGHTS

    settings = {k: v for k, v in dataclasses.asdict(config).items() if k != "overwrite"}
    # A retrained classifier ships between versions (and a source checkout runs whatever it
    # holds): work done with other weights is not done.
    weights = {w.name: w.sha256 for w in WEIGHTS}
    text = json.dumps({"settings": settings, "version": __version__, "weights": weights}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def candidate_outputs(src: Path, out_dir: Path, neutral_stem: str | None = None) -> list[Path]:
    """Every name the pipeline may give the output of ``src`` in ``out_dir``."""
    from ..io.naming import output_stem

    return [out_dir / f"{output_stem(src, neutral_stem)}{suffix}" for suffix in OUTPUT_SUFFIXES]


def state_directory(environ: dict[str, str] | None = None) -> Path:
    """Where resume manifests live: ``$XDG_STATE_HOME/crowdveil/resume`` (XDG: a relative value is ignored)."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_STATE_HOME", "")
    root = Path(base) if base and os.path.isabs(base) else Path.home() / ".local" / "state"
    return root / "crowdveil" / "resume"


def manifest_path(folder: Path, environ: dict[str, str] | None = None) -> Path:
    """The manifest of the output folder ``folder``: one per resolved path."""
    key = hashlib.sha256(b"crowdveil-output-folder\0" + os.path.realpath(folder).encode()).hexdigest()[:32]
    return state_directory(environ) / f"{key}.jsonl"


def _private_directory(path: Path) -> None:
    """Create ``path`` (and its parents) 0700; refuse the crowdveil part if it is a link or someone else's."""
    path.parent.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    for folder in (path.parent, path):
        try:
            folder.mkdir(mode=0o700)
        except FileExistsError:
            pass
        info = os.lstat(folder)
        if not os.path.isdir(folder) or os.path.islink(folder) or info.st_uid != os.getuid():
            raise UnsafeOutputPath(f"{folder} (crowdveil's resume state) is a link, not a folder, or not yours",
                                   hint="Delete it, or set XDG_STATE_HOME to a folder of your own.")
        if info.st_mode & 0o077:
            os.chmod(folder, 0o700)


def remove_stale_temp_files(folder: Path, *, prefix: str = "") -> list[Path]:
    """Delete temporary outputs (``…{TEMP_MARK}…``) left by a killed run.

    Only files whose name starts with ``"." + prefix`` are touched (the
    pipeline names them ``.<output name>.crowdveil-tmp-XXXX``). Returns
    what was removed.
    """
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    walker = folder.rglob("*") if not prefix else folder.glob("." + prefix + "*")
    for path in walker:
        if TEMP_MARK in path.name and path.name.startswith("." + prefix) and path.is_file():
            try:
                path.unlink()
                removed.append(path)
            except FileNotFoundError:
                pass
            except OSError as exc:
                raise WriteFailed(f"cannot remove the leftover temporary file {path}: {exc.strerror}") from exc
    return removed


def check_output_folder(folder: Path) -> None:
    """Refuse an output folder that someone else owns (they could swap what is in it) or that is a link."""
    if folder.is_symlink():
        raise UnsafeOutputPath(f"the output folder {folder} is a symbolic link",
                               hint="Give the folder it points to, if it is yours, or choose another --out folder.")
    owner = folder.stat().st_uid
    if owner != os.getuid():
        raise UnsafeOutputPath(f"the output folder {folder} belongs to another user (uid {owner})",
                               hint="Choose an output folder of your own with --out.")


def check_inside_output_tree(root: Path, folder: Path) -> None:
    """Refuse a subfolder of the output tree reached through a link: outputs would land wherever it points."""
    try:
        rel = Path(folder).relative_to(root)
    except ValueError:
        return
    here = Path(root)
    for part in rel.parts:
        here = here / part
        if here.is_symlink():
            raise UnsafeOutputPath(f"{here} inside the output folder is a symbolic link; crowdveil does not write "
                                   "through links", hint="Delete the link, or choose another --out folder.")


class Manifest:
    """The manifest of one output folder; use as a context manager (holds the lock).

    Args:
        folder: the output folder: ``--out`` (created if missing), or the originals'
            folder when outputs go beside them.
        config: the run's settings; entries made with other settings do not count.
        output_tree: ``folder`` is crowdveil's output folder (``--out``): it is created,
            refused if it is a link or someone else's, and swept of a killed run's
            temp files. False for a folder of originals, which crowdveil only adds to.
    """

    def __init__(self, folder: Path, config: Config, *, output_tree: bool = True) -> None:
        self.folder = Path(folder)
        self.output_tree = output_tree
        self.path = manifest_path(self.folder)
        self.settings = settings_digest(config)
        self._fh: IO[str] | None = None
        self._done: dict[str, dict[str, Any]] = {}
        self._started: dict[str, dict[str, Any]] = {}
        self._committing: dict[str, dict[str, Any]] = {}
        self._digests: dict[str, str] = {}  # source key → digest, so a source is hashed once per run
        self.removed_temp_files: list[Path] = []
        self._folder_prefix = os.path.join(str(self.folder), "")  # "folder/": what _rel strips
        self._deferred = 0  # depth of group_commit blocks
        self._pending: list[str] = []  # lines of the open group_commit block, not yet written

    # -- lifecycle ------------------------------------------------------
    def __enter__(self) -> "Manifest":
        try:
            if self.output_tree:
                self.folder.mkdir(parents=True, exist_ok=True)
                check_output_folder(self.folder)
            self.path = manifest_path(self.folder)  # the folder's resolved path, now that it exists
            _private_directory(self.path.parent)
            # O_NOFOLLOW: a link planted at the manifest's name must not make us append to its target.
            fh = open(self.path, "a+", encoding="utf-8",
                      opener=lambda path, flags: os.open(path, flags | os.O_NOFOLLOW, 0o600))
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise UnsafeOutputPath(f"{self.path} is a symbolic link; crowdveil does not write through links",
                                       hint="Delete the link, or set XDG_STATE_HOME to a folder of your own.") from exc
            raise _as_write_failed(self.path, exc) from exc
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            fh.close()
            raise OutputError(
                f"another crowdveil run is writing into {self.folder}",
                hint="Wait for it to finish, or choose another --out folder.",
            ) from exc
        self._fh = fh
        try:
            os.fchmod(fh.fileno(), 0o600)
            if self.output_tree:
                self._move_legacy_manifest()
            self._load()
            if self.output_tree:
                self.removed_temp_files = remove_stale_temp_files(self.folder)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _move_legacy_manifest(self) -> None:
        """Take over the manifest an older crowdveil kept in the output folder, then delete it there."""
        legacy = self.folder / MANIFEST_NAME
        try:
            fd = os.open(legacy, os.O_RDONLY | os.O_NOFOLLOW)
        except FileNotFoundError:
            return
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                return  # a link is nothing crowdveil wrote; leave it alone, read nothing through it
            raise _as_write_failed(legacy, exc) from exc
        with os.fdopen(fd, "r", encoding="utf-8", errors="replace") as fh:
            if not os.path.isfile(legacy) or os.fstat(fh.fileno()).st_uid != os.getuid():
                return
            text = fh.read()
        # Only into an empty manifest: appended after newer lines, its old ones would count as the latest.
        if text and os.fstat(self._file.fileno()).st_size == 0:
            self._append_raw(text if text.endswith("\n") else text + "\n")
        try:
            legacy.unlink()
        except OSError as exc:
            raise _as_write_failed(legacy, exc) from exc

    def __exit__(self, *exc_info) -> None:
        if self._fh is not None:
            self._fh.close()  # releases the lock
            self._fh = None

    @property
    def _file(self) -> IO[str]:
        assert self._fh is not None, "use Manifest as a context manager"
        return self._fh

    def _load(self) -> None:
        fh = self._file
        fh.seek(0)
        line = ""
        for line in fh:
            try:
                entry = json.loads(line)
            except ValueError:
                continue  # a line cut short by a kill
            if not isinstance(entry, dict) or entry.get("v") != FORMAT_VERSION:
                continue
            key = entry.get("source_key")
            if not isinstance(key, str):
                continue
            if entry.get("event") == "done":
                self._done[key] = entry
            elif entry.get("event") == "started":
                self._started[key] = entry
            elif entry.get("event") == "committing":
                self._committing[key] = entry
        if line and not line.endswith("\n"):
            self._append_raw("\n")  # end a line cut by a kill, or the next entry would be glued to it

    def _append(self, entry: dict[str, Any]) -> None:
        # Each line names the crowdveil that wrote it: the folder's audit trail (the outputs carry no version).
        self._append_raw(json.dumps({"v": FORMAT_VERSION, "crowdveil": __version__, **entry}, sort_keys=True) + "\n")

    def _append_raw(self, line: str) -> None:
        self._pending.append(line)
        if not self._deferred:
            self._write_pending()

    def _write_pending(self) -> None:
        """The pending lines in one write, then one fsync: only after it may anyone be told they are recorded."""
        fh = self._file
        text, self._pending = "".join(self._pending), []
        try:
            fh.seek(0, os.SEEK_END)
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        except OSError as exc:
            raise _as_write_failed(self.path, exc) from exc

    # -- group commit ---------------------------------------------------
    @contextmanager
    def group_commit(self) -> Iterator[None]:
        """Lines appended inside the block are written together at its end, with one fsync.

        The cluster driver answers its workers only after the block: what a
        worker is told was recorded is on disk, with one write and one fsync
        per round of answers instead of one per line. Lines of a block that
        raised are written too: each is a record the driver made in memory,
        and none claims more than happened (``done`` is recorded only for an
        output a worker has already renamed into place).
        """
        self._deferred += 1
        try:
            yield
        finally:
            self._deferred -= 1
            if not self._deferred and self._pending:
                self._write_pending()

    # -- queries and records -------------------------------------------------
    def already_done(self, src: Path, out_dir: Path, neutral_stem: str | None = None) -> DoneEntry | None:
        """The verified output of ``src`` with these settings and this name, if it is still intact."""
        key = source_key(src)
        try:
            digest = self._source_digest(key, src)
        except (OSError, InputError):
            return None  # unreadable source or not a regular file: the pipeline reports why
        prior = self.lookup(key, digest)
        done, adopted = check_prior(prior, self.folder, src, out_dir, neutral_stem)
        if adopted and done is not None:
            self.record_done_for(key, digest, done.output, done.output_sha256, [], [],
                                 started_at=prior.started_at, adopted=True)
        return done

    def lookup(self, key: str, digest: str) -> "Prior":
        """What the manifest says about the source ``key`` with bytes ``digest``, files unchecked.

        Split from ``already_done`` for the cluster: the driver, the manifest's
        only writer, answers from its memory; the worker that holds the files
        checks them (``check_prior``).
        """
        done = None
        entry = self._done.get(key)
        if entry is not None and entry.get("source") == digest and entry.get("settings") == self.settings:
            done = {"output": entry.get("output", ""), "output_sha256": entry.get("output_sha256"),
                    "faces": entry.get("faces", []), "metadata_removed": entry.get("metadata_removed", []),
                    "painted": entry.get("painted") or {}}
        committing = None
        started = self._started.get(key)
        if started is not None and started.get("source") == digest and started.get("settings") == self.settings:
            finished = key in self._done and self._done[key].get("started_at") == started.get("started_at")
            entry = self._committing.get(key)
            # An output renamed into place after all checks passed by a run killed before its
            # ``done`` line; not one whose start finished and was recorded (its output changed since).
            if not finished and entry is not None and entry.get("started_at") == started.get("started_at"):
                committing = {"output": entry.get("output"), "output_sha256": entry.get("output_sha256")}
        return Prior(done, committing, tuple(started.get("preexisting", [])) if started else (),
                     started.get("started_at") if started else None)

    def record_started(self, src: Path, out_dir: Path, neutral_stem: str | None = None) -> None:
        key = source_key(src)
        try:
            digest = self._source_digest(key, src)
        except (OSError, InputError):
            return
        self.record_started_for(key, digest, preexisting_outputs(self.folder, src, out_dir, neutral_stem))

    def record_started_for(self, key: str, digest: str, preexisting: Iterable[str]) -> str:
        """``started`` for a source hashed elsewhere (a worker); returns its ``started_at``."""
        started_at = os.urandom(8).hex()
        entry = {
            "event": "started", "source_key": key, "source": digest, "settings": self.settings,
            "started_at": started_at, "preexisting": sorted(preexisting),
        }
        self._append(entry)
        self._started[key] = entry
        return started_at

    def record_committing(self, src: Path, output: Path, output_sha256: str) -> None:
        """The verified bytes about to be renamed to ``output`` (see ``check_prior``)."""
        self.record_committing_for(source_key(src), output, output_sha256)

    def record_committing_for(self, key: str, output: Path | str, output_sha256: str) -> None:
        started = self._started.get(key, {})
        entry = {"event": "committing", "source_key": key, "started_at": started.get("started_at"),
                 "output": self._rel(output), "output_sha256": output_sha256}
        self._append(entry)
        self._committing[key] = entry

    def record_done(self, src: Path, output: Path, output_sha256: str, faces: Iterable[Mapping[str, Any]], metadata_removed: list[str],
                    painted: dict[str, Any] | None = None) -> None:
        key = source_key(src)
        started = self._started.get(key, {})
        self.record_done_for(key, started.get("source") or self._source_digest(key, src), output, output_sha256,
                             faces, metadata_removed, painted=painted)

    def record_done_for(self, key: str, digest: str | None, output: Path | str, output_sha256: str, faces: Iterable[Mapping[str, Any]],
                        metadata_removed: list[str], *, started_at: str | None = None, adopted: bool = False,
                        painted: dict[str, Any] | None = None) -> None:
        """``done`` for ``key``; ``digest`` and ``started_at`` default to its latest ``started`` line's."""
        started = self._started.get(key, {})
        entry = {
            "event": "done", "source_key": key, "source": digest or started.get("source"),
            "settings": self.settings, "output": self._rel(output), "output_sha256": output_sha256,
            "started_at": started_at or started.get("started_at"),
        }
        if adopted:
            entry["adopted"] = True
        else:
            entry["faces"] = [{"box": f.get("box"), "score": f.get("score")} for f in faces]
            entry["metadata_removed"] = list(metadata_removed)
            if painted:
                entry["painted"] = painted
        self._append(entry)
        self._done[key] = entry

    def _source_digest(self, key: str, src: Path) -> str:
        if key not in self._digests:
            self._digests[key] = source_digest(src)
        return self._digests[key]

    def _rel(self, path: Path | str) -> str:
        # The cluster driver writes two names per file: a plain string prefix spares it pathlib's parsing.
        text, folder = os.fspath(path), self._folder_prefix
        rest = text[len(folder):] if text.startswith(folder) else ""
        if rest and "//" not in rest and "/./" not in rest and not rest.startswith("./") and not rest.endswith(("/", "/.")):
            return rest
        return relative_name(self.folder, Path(path))


@dataclass(frozen=True)
class Prior:
    """What a manifest recorded about one source (same bytes, same settings), before any file is checked.

    ``done``: its latest verified output. ``committing``: the output a killed
    run renamed into place after every check passed, before its ``done``
    line; with ``preexisting``, the candidate names that existed when that
    run started.
    """

    done: dict[str, Any] | None = None
    committing: dict[str, Any] | None = None
    preexisting: tuple[str, ...] = ()
    started_at: str | None = None

    @property
    def empty(self) -> bool:
        return self.done is None and self.committing is None


def check_prior(prior: Prior, folder: Path, src: Path, out_dir: Path,
                neutral_stem: str | None = None) -> tuple[DoneEntry | None, bool]:
    """``(the verified output, adopted)`` when the files on disk are what ``prior`` recorded.

    ``adopted``: the output of a run killed between its rename and its
    ``done`` line, the file whose name and sha256 its ``committing`` line
    recorded, and no other. Any other file at the expected name (a copy
    made while the run was interrupted, the original itself) was never
    verified; a name alone proves nothing.
    """
    folder = Path(folder)
    if prior.done is not None:
        output = folder / prior.done.get("output", "")
        if (
            output.is_file()
            and output.name in {c.name for c in candidate_outputs(src, out_dir, neutral_stem)}
            and output.parent.resolve() == Path(out_dir).resolve()
            and _sha256_or_none(output) == prior.done.get("output_sha256")
        ):
            return DoneEntry(output, prior.done["output_sha256"], prior.done.get("faces", []),
                             prior.done.get("metadata_removed", []), prior.done.get("painted") or {}), False
    if prior.committing is not None:
        preexisting = set(prior.preexisting)
        fresh = [c for c in candidate_outputs(src, out_dir, neutral_stem)
                 if c.is_file() and relative_name(folder, c) not in preexisting]
        if len(fresh) == 1 and relative_name(folder, fresh[0]) == prior.committing.get("output"):
            digest = _sha256_or_none(fresh[0])
            if digest is not None and digest == prior.committing.get("output_sha256"):
                return DoneEntry(fresh[0], digest, [], []), True
    return None, False


def preexisting_outputs(folder: Path, src: Path, out_dir: Path, neutral_stem: str | None = None) -> list[str]:
    """The candidate output names of ``src`` that exist now (a ``started`` line's ``preexisting``)."""
    return sorted(relative_name(folder, c) for c in candidate_outputs(src, out_dir, neutral_stem) if c.exists())


def relative_name(folder: Path, path: Path) -> str:
    try:
        return str(Path(path).relative_to(folder))
    except ValueError:
        return str(Path(os.path.relpath(path, folder)))


def _sha256_or_none(path: Path) -> str | None:
    try:
        return sha256_file(path)
    except OSError:
        return None  # unreadable: not trusted as done; the pipeline's own checks take over


def _as_write_failed(path: Path, exc: OSError) -> WriteFailed:
    from ..io.output import _write_error

    return _write_error(path, exc)
