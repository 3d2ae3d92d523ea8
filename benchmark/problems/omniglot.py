"""The real Omniglot background set, read from PNG files on disk (or downloaded by torchvision)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from benchmark.api.errors import MimoBenchError
from benchmark.api.options import int_option, option_error
from benchmark.api.problem import (
    DEFAULT_FRACTIONS,
    InputSpec,
    Problem,
    ProblemData,
    Split,
    TaskSpec,
    cached_tensors,
    stratified_split,
)

CACHE_VERSION = 1  # bump whenever decoding changes, so stale caches are not read
TORCHVISION_FOLDER = Path("omniglot-py", "images_background")  # where torchvision puts the background set
MODES = ("two_output", "two_input")


@dataclass(frozen=True)
class CharacterFolder:
    """One character's images: its alphabet's name, its own folder name and its PNG files."""

    alphabet: str
    character: str
    files: tuple[Path, ...]

    @property
    def label(self) -> str:
        return f"{self.alphabet}/{self.character}"


def _layouts(root: Path) -> str:
    return (
        f"{root / TORCHVISION_FOLDER}/<alphabet>/<character>/*.png (torchvision's layout) "
        f"or {root}/<alphabet>/<character>/*.png"
    )


def _subfolders(folder: Path) -> list[Path]:
    return sorted(path for path in folder.iterdir() if path.is_dir() and not path.name.startswith("."))


def scan(images: Path, root: Path) -> list[CharacterFolder]:
    """Every character folder under ``images`` (= <alphabet>/<character>/*.png), sorted by name."""
    alphabets = _subfolders(images)
    if not alphabets:
        raise MimoBenchError(f"problem 'omniglot': {images} holds no alphabet folders; expected {_layouts(root)}")
    found = []
    for alphabet in alphabets:
        characters = _subfolders(alphabet)
        if not characters:
            raise MimoBenchError(
                f"problem 'omniglot': alphabet folder {alphabet} holds no character folders; expected {_layouts(root)}"
            )
        for character in characters:
            files = tuple(sorted(p for p in character.iterdir() if p.suffix.lower() == ".png" and p.is_file()))
            if not files:
                raise MimoBenchError(
                    f"problem 'omniglot': character folder {character} holds no .png images; expected {_layouts(root)}"
                )
            found.append(CharacterFolder(alphabet.name, character.name, files))
    return found


def take_evenly(characters: list[CharacterFolder], limit: int | None) -> list[CharacterFolder]:
    """At most ``limit`` characters, taken from each alphabet in turn so that all alphabets stay represented."""
    if limit is None or limit >= len(characters):
        return characters
    by_alphabet: dict[str, list[CharacterFolder]] = {}
    for character in characters:
        by_alphabet.setdefault(character.alphabet, []).append(character)
    queues = list(by_alphabet.values())
    chosen: list[CharacterFolder] = []
    for rank in range(max(len(queue) for queue in queues)):
        chosen.extend(queue[rank] for queue in queues if rank < len(queue))
    return sorted(chosen[:limit], key=lambda c: (c.alphabet, c.character))


def _fingerprint(path: Path) -> tuple[str, int, int]:
    """What identifies one file's content for the cache: its path, modification time and size."""
    stat = path.stat()
    return str(path), stat.st_mtime_ns, stat.st_size


def decode(path: Path, size: int) -> np.ndarray:
    """One image as ``size`` x ``size`` uint8, inverted so that strokes are white (255) on black."""
    try:
        with Image.open(path) as image:
            gray = image.convert("L")
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise MimoBenchError(
            f"problem 'omniglot': cannot read image {path} ({type(error).__name__}: {error}); replace or delete it"
        ) from error
    if gray.size != (size, size):
        gray = gray.resize((size, size), Image.Resampling.BILINEAR)
    return 255 - np.asarray(gray)


def _count(labels: tuple[str, ...] | None) -> int | None:
    return None if labels is None else len(labels)


class Omniglot(Problem):
    """The real Omniglot background set: image -> alphabet + character, or image + alphabet -> character.

    ``mode = "two_output"``: input ``image``; tasks ``alphabet`` (labels: alphabet folder names) and
    ``character`` (labels "alphabet/character").  ``mode = "two_input"``: inputs ``image`` and
    ``alphabet`` (a category); task ``character``.  Images are uint8, 1 x image_size x image_size,
    inverted to white strokes on black like ``glyphs``; they are decoded once and cached on disk.
    """

    name = "omniglot"

    def __init__(
        self,
        *,
        root: str | Path = "data/omniglot",
        mode: str = "two_output",
        image_size: int = 64,
        download: bool = False,
        max_characters: int | None = None,
    ):
        if not isinstance(root, str | Path) or not str(root):
            raise option_error(self.owner, "root", "a folder path (a non-empty string)", root)
        if mode not in MODES:
            raise option_error(self.owner, "mode", " or ".join(repr(m) for m in MODES), mode)
        if not isinstance(download, bool):
            raise option_error(self.owner, "download", "true or false", download)
        self.root = str(root)
        self.mode = mode
        self.image_size = int_option(self.owner, "image_size", image_size, minimum=8)
        self.download = download
        self.max_characters = (
            None if max_characters is None else int_option(self.owner, "max_characters", max_characters)
        )
        self._characters: list[CharacterFolder] | None = None

    def _root(self) -> Path:
        return Path(self.root).expanduser().absolute()

    def _awaiting_download(self) -> bool:
        """Whether ``download`` is set and the data is not on disk yet (`load` fetches it)."""
        return self.download and not (self._root() / TORCHVISION_FOLDER).is_dir()

    def _images_folder(self) -> Path:
        """The folder holding the alphabet folders."""
        root = self._root()
        if (root / TORCHVISION_FOLDER.parent).is_dir():
            if not (root / TORCHVISION_FOLDER).is_dir():
                raise MimoBenchError(
                    f"problem 'omniglot': {root / TORCHVISION_FOLDER.parent} has no {TORCHVISION_FOLDER.name} "
                    f"folder; expected {_layouts(root)}"
                )
            return root / TORCHVISION_FOLDER
        if not root.is_dir():
            raise MimoBenchError(
                f"problem 'omniglot': no Omniglot data at {root} (option 'root'). Put the background set there as "
                f"{_layouts(root)}; or set download = true in the suite's [problem] table to fetch it (needs internet)"
            )
        return root

    def _fetch(self, root: Path) -> None:
        from torchvision.datasets import Omniglot as TorchvisionOmniglot  # slow import, needed only here

        try:
            TorchvisionOmniglot(str(root), background=True, download=True)
        except (OSError, RuntimeError) as error:
            raise MimoBenchError(
                f"problem 'omniglot': downloading Omniglot into {root} failed ({error}); check the internet "
                f"connection, or put the data there yourself as {_layouts(root)} and set download = false"
            ) from error

    def characters(self) -> list[CharacterFolder]:
        """The character folders in use (after ``max_characters``), scanned once; no image is decoded."""
        if self._characters is None:
            folder = self._images_folder()
            self._characters = take_evenly(scan(folder, self._root()), self.max_characters)
        return self._characters

    def _alphabet_names(self) -> list[str]:
        return sorted({c.alphabet for c in self.characters()})

    def specs(self) -> tuple[tuple[InputSpec, ...], tuple[TaskSpec, ...]]:
        """The inputs and tasks; lists the data folders but decodes nothing and never downloads: before the
        download that `load` does, the tasks are named without their classes (enough to validate a suite)."""
        if self._awaiting_download():
            alphabets: tuple[str, ...] | None = None
            characters: tuple[str, ...] | None = None
        else:
            alphabets = tuple(self._alphabet_names())
            characters = tuple(c.label for c in self.characters())
        image = InputSpec("image", "image", (1, self.image_size, self.image_size))
        character_task = TaskSpec("character", "classification", _count(characters), characters)
        if self.mode == "two_input":
            return (image, InputSpec("alphabet", "category", (), _count(alphabets))), (character_task,)
        return (image,), (TaskSpec("alphabet", "classification", _count(alphabets), alphabets), character_task)

    def _decode_all(self) -> dict[str, torch.Tensor]:
        alphabet_index = {name: index for index, name in enumerate(self._alphabet_names())}
        images, alphabets, characters = [], [], []
        for index, character in enumerate(self.characters()):
            images.extend(decode(path, self.image_size) for path in character.files)
            alphabets += [alphabet_index[character.alphabet]] * len(character.files)
            characters += [index] * len(character.files)
        return {
            "image": torch.from_numpy(np.stack(images)).unsqueeze(1),
            "alphabet": torch.tensor(alphabets),
            "character": torch.tensor(characters),
        }

    def load(self, seed: int) -> ProblemData:
        if self._awaiting_download():
            self._fetch(self._root())
        inputs, tasks = self.specs()
        files = [_fingerprint(path) for character in self.characters() for path in character.files]
        key = {"version": CACHE_VERSION, "image_size": self.image_size, "files": files}
        data, hit = cached_tensors(self.name, key, self._decode_all)
        if self.mode == "two_input":
            whole = Split({"image": data["image"], "alphabet": data["alphabet"]}, {"character": data["character"]})
        else:
            whole = Split({"image": data["image"]}, {"alphabet": data["alphabet"], "character": data["character"]})
        parts = stratified_split(data["character"], DEFAULT_FRACTIONS, seed)
        train, val, test = (whole.subset(part) for part in parts)
        return ProblemData(inputs, tasks, train, val, test, info={"cache": "hit" if hit else "miss"})
