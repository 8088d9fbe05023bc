"""Each image's SBOM (CycloneDX JSON written by syft beside the image) lists the Debian packages and the Python
packages that are really in the image, with their versions: checked against dpkg and importlib.metadata run
inside the image, and against the pins of pyproject.toml."""

from __future__ import annotations

import json
import re
import tomllib

import pytest

from hcml.config import REPO_ROOT

from . import engine

LIST_INSIDE = ("import importlib.metadata as m, json, subprocess; print(json.dumps({'python': {d.metadata['Name']"
               ".lower().replace('_', '-'): d.version for d in m.distributions()}, 'deb': dict(l.split('\\t') for l"
               " in subprocess.run(['dpkg-query', '-W', '-f', '${Package}\\t${Version}\\n'], capture_output=True,"
               " text=True).stdout.splitlines())}))")


def pins() -> dict[str, str]:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    specs = project["dependencies"] + project["optional-dependencies"]["pipeline"]
    return {re.split(r"[\[=]", s)[0].lower(): s.split("==")[1] for s in specs}


@pytest.mark.parametrize("name", ["realtime", "dagster"])
def test_sbom_lists_what_is_in_the_image(name, request):
    image = request.getfixturevalue(f"{name}_image")
    sbom_path = engine.images_out() / f"hcml-{name}-{engine.image_tag()}.cdx.json"
    sbom = json.loads(sbom_path.read_text())
    assert sbom["bomFormat"] == "CycloneDX" and sbom["metadata"]["tools"]
    record = json.loads((engine.images_out() / f"hcml-{name}-{engine.image_tag()}.json").read_text())
    assert record["id"] == engine.podman("image", "inspect", "--format", "{{.Id}}", image).stdout.strip(), (
        "the SBOM was written for another build of the image")
    listed: dict[str, dict[str, str]] = {"deb": {}, "pypi": {}}
    for component in sbom["components"]:
        kind = (component.get("purl") or "").partition(":")[2].partition("/")[0]
        if kind in listed:
            listed[kind][component["name"].lower().replace("_", "-")] = component["version"]
    inside = json.loads(engine.podman("run", "--rm", "--network=none", "--user", engine.OPENSHIFT_USER, image,
                                      "python", "-c", LIST_INSIDE).stdout)
    assert listed["deb"] == inside["deb"]  # every Debian package, same versions
    assert {k: v for k, v in listed["pypi"].items() if k in inside["python"]} == {
        k: v for k, v in inside["python"].items() if k in listed["pypi"]}
    missing = set(inside["python"]) - set(listed["pypi"])
    assert not missing, f"installed but not in the SBOM: {sorted(missing)}"
    for package, version in pins().items():
        if package in inside["python"]:
            assert listed["pypi"][package] == version, package
    assert "python3.11" in listed["deb"] and "fastapi" in listed["pypi"]
