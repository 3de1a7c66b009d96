"""The package as a user installs it: a normal (not editable) wheel in a fresh virtualenv.

The wheel is built from this checkout with no warning, installs one import name (`ctrlens`),
and `ctrlens demo` runs from it, example site and snippet included (docs/layout.md).

The fresh venv gets the wheel without its dependencies, which it reads from the test's own
environment through a path file: the suite runs without a network, and what is under test
here is ctrlens's own files, not pip's resolver.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import time
import zipfile
from pathlib import Path

import httpx
import pytest

from harness import clean_copy, free_port


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = clean_copy(tmp_path_factory.mktemp("source") / "ctrlens")
    out = tmp_path_factory.mktemp("wheel")
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(out),
            str(source),
        ],
        capture_output=True,
        text=True,
        cwd=out,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    noise = [line for line in (build.stdout + build.stderr).splitlines() if "warn" in line.lower()]
    assert not noise, "the build warned:\n" + "\n".join(noise)
    [built] = out.glob("ctrlens-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(home)], check=True)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(home / "bin" / "python"),
            "install",
            "-q",
            "--no-deps",
            str(wheel),
        ],
        check=True,
        cwd=home,
    )
    # The dependencies, from this environment (see the module docstring); appended after the
    # venv's own site-packages, so `ctrlens` itself comes from the wheel.
    [site] = (home / "lib").glob("python3*/site-packages")
    (site / "zz_test_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return home


def test_the_wheel_has_one_top_level_name_and_the_run_time_files(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    top = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert top == {"ctrlens"}
    for needed in (
        "ctrlens/snippet/dist/ctr.js",
        "ctrlens/examples/site/a/index.html",
        "ctrlens/dashboard/templates/base.html",
        "ctrlens/dashboard/static/style.css",
        "ctrlens/collector/storage/schema/sqlite/001_init.sql",
        "ctrlens/collector/storage/schema/postgres/001_init.sql",
    ):
        assert needed in names, needed


def test_ctrlens_demo_runs_from_a_normal_install(venv: Path, tmp_path: Path) -> None:
    python = venv / "bin" / "python"
    where = subprocess.run(
        [python, "-c", "import ctrlens.app; print(ctrlens.app.__file__)"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=True,
    ).stdout.strip()
    assert where.startswith(str(venv)), where  # the installed copy, not this checkout

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CTRLENS_")}
    demo = subprocess.Popen(
        [venv / "bin" / "ctrlens", "demo", "--port", str(port), "--days", "1"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while True:
            assert demo.poll() is None, demo.stdout.read().decode() if demo.stdout else ""
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the demo did not start"
            time.sleep(0.3)
        example = httpx.get(f"{base}/example/", follow_redirects=True)
        assert example.status_code == 200 and 'data-ctr="hero-signup"' in example.text
        script = httpx.get(f"{base}/ctr.js")
        assert script.status_code == 200 and "ctrlens" in script.text
        assert httpx.get(f"{base}/static/style.css").status_code == 200
        assert (tmp_path / ".ctrlens" / "demo.db").is_file()
    finally:
        demo.terminate()
        demo.wait(30)
