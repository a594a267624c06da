"""Where the samples come from: the options `manifest`, `extract` and `plan` share, and the Manifest they give.

A dataset builder (signprep.manifests.BUILDERS) reads a download: `--dataset`
and `--root` choose it, the common builder options have their own flags, and
`--dataset-option KEY=VALUE` passes any keyword of the chosen builder, so a new
builder's options reach the command line without changing it (the builder's
signature is the list of what it takes; build_manifest refuses anything else).
`extract` and `plan` can read a manifest file (`--manifest`) instead.
"""

from __future__ import annotations

import collections.abc
import enum
import tempfile
import types
import typing
from pathlib import Path
from typing import Annotated

import typer

from signprep.commands import fail
from signprep.manifests import BUILDERS, Manifest, ManifestError, build_manifest, builder_options, load_manifest

# builder options naming where a download's videos or frame folders are (planning may precede the download)
MEDIA_OPTIONS = ("videos_dir", "frames_dir")

# the choices of --dataset are the registry's keys: a new builder is a new choice
Dataset = enum.Enum("Dataset", {name: name for name in BUILDERS}, type=str)


def _complete_dataset_option(ctx: typer.Context, incomplete: str) -> list[str]:
    dataset = ctx.params.get("dataset") or "wlasl"
    dataset = getattr(dataset, "value", dataset)
    if dataset not in BUILDERS:
        return []
    return [f"{name}=" for name in builder_options(dataset) if f"{name}=".startswith(incomplete)]


_OPTIONS_BY_DATASET = "; ".join(f"{name}: {', '.join(builder_options(name)) or '-'}" for name in BUILDERS)

DEFAULT_DATASET = Dataset("wlasl")
DatasetOpt = Annotated[
    Dataset,
    typer.Option(
        "--dataset",
        "-d",
        metavar="DATASET",  # the choices, listed in the help: as the metavar they outgrow a terminal line
        help=f"Dataset builder that reads --root: {', '.join(BUILDERS)}.",
    ),
]
_ROOT_HELP = "Dataset download folder (metadata + videos/), or the CSV file (csv)."
RootOpt = Annotated[Path | None, typer.Option("--root", help=_ROOT_HELP)]
RequiredRootOpt = Annotated[Path, typer.Option("--root", help=_ROOT_HELP)]
ManifestOpt = Annotated[
    Path | None, typer.Option("--manifest", help="A manifest file (`signprep manifest`) instead of --dataset/--root.")
]
SubsetOpt = Annotated[
    str | None, typer.Option("--subset", help="WLASL subset: 100, 300, 1000, 2000 or an nslt_*.json path (wlasl).")
]
VideosOpt = Annotated[Path | None, typer.Option("--videos", help="Videos folder, if not ROOT/videos (wlasl, msasl).")]
MetadataOpt = Annotated[
    Path | None, typer.Option("--metadata", help="Metadata file, if not the default name in ROOT (wlasl).")
]
ClassListOpt = Annotated[
    Path | None, typer.Option("--class-list", help="wlasl_class_list.txt: labels from it (wlasl).")
]
DatasetOptionOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--dataset-option",
        metavar="KEY=VALUE",
        help="Any keyword option of the dataset's builder; repeatable (a KEY that takes several values, "
        f"such as split_files, may repeat). Options by dataset: {_OPTIONS_BY_DATASET}.",
        autocompletion=_complete_dataset_option,
    ),
]

# the flags of the common builder options -> the builder keywords they set
_NAMED_OPTIONS = {
    "--subset": "subset",
    "--videos": "videos_dir",
    "--metadata": "metadata",
    "--class-list": "class_list",
}


def _takes_a_collection(dataset: str, option: str) -> bool:
    """Whether the builder's keyword `option` accepts several values (a list or other iterable)."""
    try:
        hint = typing.get_type_hints(BUILDERS[dataset]).get(option)
    except (NameError, TypeError):  # an annotation that cannot be resolved: treat it as one value
        return False
    members = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
    return any(_is_collection(member) for member in members)


def _is_collection(kind: object) -> bool:
    origin = typing.get_origin(kind) or kind
    return (
        isinstance(origin, type)
        and issubclass(origin, collections.abc.Iterable)
        and not issubclass(origin, (str, bytes, collections.abc.Mapping))
    )


def parse_dataset_options(dataset: str, pairs: list[str]) -> dict[str, object]:
    """`KEY=VALUE` strings -> builder keywords. A KEY whose option takes a collection gets the list of its
    values; any other KEY may be given once. `-` in a KEY reads as `_` (`class-list=` is `class_list=`)."""
    values: dict[str, list[str]] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise fail(f"--dataset-option {pair!r}: expected KEY=VALUE")
        values.setdefault(key, []).append(value)
    options: dict[str, object] = {}
    for key, given in values.items():
        if _takes_a_collection(dataset, key):
            options[key] = given
        elif len(given) > 1:
            raise fail(f"--dataset-option {key} given {len(given)} times; dataset {dataset!r} takes one value")
        else:
            options[key] = given[0]
    return options


class SampleSource:
    """The samples a command reads: a manifest file, or a dataset builder with its options."""

    def __init__(
        self,
        dataset: Dataset | str,
        root: Path | None,
        manifest: Path | None = None,
        *,
        subset: str | None = None,
        videos: Path | None = None,
        metadata: Path | None = None,
        class_list: Path | None = None,
        dataset_option: list[str] | None = None,
    ) -> None:
        self.dataset = getattr(dataset, "value", dataset)
        self.root = root
        self.manifest = manifest
        named = {"--subset": subset, "--videos": videos, "--metadata": metadata, "--class-list": class_list}
        self.options = parse_dataset_options(self.dataset, dataset_option or [])
        for flag, value in named.items():
            if value is None:
                continue
            key = _NAMED_OPTIONS[flag]
            if key in self.options:
                raise fail(f"{key} given twice: as {flag} and as --dataset-option {key}=")
            self.options[key] = value
        if manifest is not None and (root is not None or self.options):
            raise fail(f"--manifest {manifest} holds the samples: --root and the dataset's options do not apply")

    def load(self, *, before_download: bool = False) -> tuple[Manifest, str | None]:
        """The manifest, and a note for the user (or None); exit 2 with the problem on bad metadata.

        before_download: a builder whose media folder (`videos_dir`, `frames_dir`) does not exist yet
        counts every sample as missing (builders refuse a missing folder, which usually hides a typo;
        planning before the download is the one case where no folder is expected).

        A metadata entry that gives no sample is in `Manifest.rejected`; only metadata that cannot be
        read at all stops the command (exit 2)."""
        try:
            if self.manifest is not None:
                return load_manifest(self.manifest), None
            if self.root is None:
                raise fail("give --root (with --dataset) or --manifest")
            try:
                return build_manifest(self.dataset, self.root, **self.options), None
            except ManifestError as refused:
                media = [o for o in MEDIA_OPTIONS if o in builder_options(self.dataset) and o not in self.options]
                if not (before_download and media):
                    raise
                with tempfile.TemporaryDirectory() as empty:  # the download's media are not there (yet)
                    try:
                        manifest = build_manifest(
                            self.dataset, self.root, **self.options, **dict.fromkeys(media, empty)
                        )
                    except ManifestError:
                        raise refused from None  # not the media folder: say what was wrong first
                return manifest, f"{refused}; planned as not downloaded yet: every sample counted as missing"
        except ManifestError as e:
            raise fail(str(e)) from None
