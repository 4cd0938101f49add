"""The bundled catalogue, its schema, user catalogues and model resolution."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from saltseg.errors import ModelError
from saltseg.models import (DEFAULT_MODEL_ID, CatalogError, ModelNotInstalledError, Registry, RegistryError,
                            resolve_model_dir)
from saltseg.models.catalog import BUNDLED_CATALOG, DEMO_MODEL_ID, SCHEMA_FILE, load_schema
from saltseg.models.schema import schema_errors
from test_models_helpers import isolated_home, model_folder, write_catalog  # noqa: F401

PUBLISHED = {
    "model.pt": (122792758, "4fea0bc2116961e563f63eeeb4994f6c2287b25d7cc87169a5fdd675c07ae5e2"),
    "config.pkl": (29011, "3e217c07a5d61d4a1faa9a5479c56499faadf7a618f74c80abc6ba0b036903da"),
}


def bundled() -> dict:
    return json.loads(BUNDLED_CATALOG.read_text())


def test_bundled_catalogue_follows_schema():
    assert schema_errors(bundled(), load_schema()) == []


def test_bundled_catalogue_validates_with_jsonschema_too():
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(bundled(), json.loads(SCHEMA_FILE.read_text()))


def test_published_model_facts():
    entry = Registry().entry(DEFAULT_MODEL_ID)
    assert entry.id == "salt-foobar-31" and not entry.bundled and entry.license == "MIT"
    assert (entry.label_tree, entry.label_tree_nodes, entry.label_tree_leaves) == ("saros+totalseg", 145, 114)
    assert entry.roi_size == (192, 192, 48) and entry.voxel_spacing == (1.5, 1.5, 1.5)
    assert "44140" in entry.citation and "2407.08878" in entry.citation
    for item in entry.files:
        assert (item.size, item.sha256) == PUBLISHED[item.name]
        assert item.url == ("https://media.githubusercontent.com/media/UMEssen/SALT/"
                            f"b73442eb12f5de939deae85757e73f7d175c0618/models/foobar-31/{item.name}")


@pytest.mark.parametrize("mutate, problem", [
    (lambda m: m["files"][0].update(sha256="XYZ"), r"models\[0\]\.files\[0\]\.sha256"),
    (lambda m: m.pop("license"), "missing required field 'license'"),
    (lambda m: m.update(colour="red"), "unknown field 'colour'"),
    (lambda m: m.update(id="../x"), r"models\[0\]\.id"),
    (lambda m: m["files"][1].update(url="ftp://x/config.pkl"), r"files\[1\]\.url"),
    (lambda m: m["files"][1].update(name="model.pt"), "exactly model.pt and config.pkl"),
    (lambda m: m.update(roi_size=[1, 2]), "at least 3"),
])
def test_invalid_user_catalogue_is_rejected_precisely(tmp_path, mutate, problem):
    data = copy.deepcopy(bundled())
    data["models"][0]["id"] = "mine"
    mutate(data["models"][0])
    path = tmp_path / "user.json"
    path.write_text(json.dumps(data))
    with pytest.raises(CatalogError, match=problem):
        Registry(catalog_file=path).list_catalog()


def test_only_bundled_models_may_omit_download_urls(tmp_path, model_folder, isolated_home):
    path = write_catalog(tmp_path / "user.json", "no-url", "http://127.0.0.1:9", model_folder)
    data = json.loads(path.read_text())
    for item in data["models"][0]["files"]:
        del item["url"]
    path.write_text(json.dumps(data))
    with pytest.raises(CatalogError, match="not bundled, so model.pt and config.pkl need.* a download url"):
        Registry(catalog_file=path).list_catalog()
    # Declared bundled but absent from the package (a broken installation): a clear message, no
    # attempt to download from an empty address.
    data["models"][0]["bundled"] = True
    path.write_text(json.dumps(data))
    registry = Registry(catalog_file=path)
    with pytest.raises(RegistryError, match="ships inside the saltseg package.*reinstall saltseg"):
        registry.download("no-url")
    with pytest.raises(ModelNotInstalledError, match="reinstall saltseg"):
        registry.resolve("no-url")


def test_unreadable_catalogues(tmp_path):
    with pytest.raises(CatalogError, match="does not exist"):
        Registry(catalog_file=tmp_path / "nope.json").list_catalog()
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(CatalogError, match="not valid JSON"):
        Registry(catalog_file=tmp_path / "bad.json").list_catalog()


def test_a_broken_catalogue_does_not_stop_a_model_folder_or_a_registered_model(tmp_path, model_folder, monkeypatch):
    (tmp_path / "bad.json").write_text("{not json")
    monkeypatch.setenv("SALTSEG_CATALOG", str(tmp_path / "bad.json"))
    assert resolve_model_dir(str(model_folder)) == model_folder
    registry = Registry(home=tmp_path / "home")
    registry.store.save_registered({"mine": model_folder})  # registered earlier, before the catalogue broke
    assert registry.resolve("mine") == model_folder
    with pytest.raises(CatalogError, match="not valid JSON"):
        registry.resolve("salt-foobar-31")  # an id the catalogue must answer: its error is said


def test_user_catalogues_add_entries(tmp_path, model_folder, monkeypatch):
    env = write_catalog(tmp_path / "env.json", "env-model", "http://127.0.0.1:9", model_folder)
    cli = write_catalog(tmp_path / "cli.json", "cli-model", "http://127.0.0.1:9", model_folder)
    monkeypatch.setenv("SALTSEG_CATALOG", str(env))
    ids = [e.id for e in Registry(catalog_file=cli).list_catalog()]
    assert ids == [DEFAULT_MODEL_ID, DEMO_MODEL_ID, "env-model", "cli-model"]


def test_resolve_folder_id_and_errors(model_folder, tmp_path):
    assert resolve_model_dir(str(model_folder)) == model_folder
    with pytest.raises(ModelError, match="does not exist"):
        resolve_model_dir(str(tmp_path / "no-such-folder"))
    with pytest.raises(ModelError, match="has no model.pt"):
        resolve_model_dir(str(tmp_path))
    with pytest.raises(ModelNotInstalledError) as error:
        resolve_model_dir(None)
    message = str(error.value)
    assert "saltseg models download salt-foobar-31" in message
    assert "saltseg models install PATH --as salt-foobar-31" in message
    assert "media.githubusercontent.com" in message
    with pytest.raises(RegistryError, match="unknown model 'nope'.*salt-foobar-31"):
        resolve_model_dir("nope")


def test_cache_dir_follows_environment(isolated_home):
    assert Registry().cache_dir() == isolated_home
    assert Registry(Path("/elsewhere")).cache_dir() == Path("/elsewhere")  # the Slicer setting wins
