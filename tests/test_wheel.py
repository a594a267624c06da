"""The wheel carries the shipped pipelines and model configs, and an installed wheel finds them by name
without the repository (cwd elsewhere, no models/ or pipelines/ beside it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

from signprep.configs import MODEL_CONFIGS, PIPELINES

REPO = Path(__file__).resolve().parents[1]

FROM_THE_WHEEL = """
import json, signprep
from signprep.configs import MODEL_CONFIGS, PIPELINES
from signprep.extraction.pipeline import load_pipeline
from signprep.recipes.dsft import DSFTConfig
from signprep.training import load_train_config
print(json.dumps({
    "package": signprep.__file__,
    "pipelines": [str(PIPELINES.folder()), PIPELINES.names()],
    "model_configs": [str(MODEL_CONFIGS.folder()), MODEL_CONFIGS.names()],
    "keypoints": load_pipeline("keypoints").name,
    "dsft_epochs": load_train_config(MODEL_CONFIGS.find("dsft"), DSFTConfig).epochs,
}))
"""


def test_the_wheel_ships_the_configs_and_finds_them_by_name(tmp_path: Path):
    dist = tmp_path / "dist"
    build = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", str(REPO), "-w", dist]
    run = subprocess.run([str(a) for a in build], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    (wheel,) = dist.glob("signprep-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {f"signprep/pipelines/{n}.yaml" for n in PIPELINES.names()} <= names
    assert {f"signprep/model_configs/{n}.yaml" for n in MODEL_CONFIGS.names()} <= names
    assert len(PIPELINES.names()) == 4 and len(MODEL_CONFIGS.names()) == 5

    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = dict(os.environ, PYTHONPATH=str(site))  # ahead of the editable install of this checkout
    run = subprocess.run(
        [sys.executable, "-c", FROM_THE_WHEEL], cwd=elsewhere, env=env, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr
    found = json.loads(run.stdout)
    assert found["package"] == str(site / "signprep" / "__init__.py")
    assert found["pipelines"] == [str(site / "signprep" / "pipelines"), PIPELINES.names()]
    assert found["model_configs"] == [str(site / "signprep" / "model_configs"), MODEL_CONFIGS.names()]
    assert found["keypoints"] == "keypoints" and found["dsft_epochs"] > 1

    # the command line of the wheel: `train dsft` finds its default config, then refuses the directory
    cli = [sys.executable, "-m", "signprep", "train", "dsft", str(elsewhere)]
    run = subprocess.run(cli, cwd=elsewhere, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and "not a shard directory" in run.stderr, run.stderr
