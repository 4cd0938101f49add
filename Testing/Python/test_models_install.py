"""Install from file (folder, two files, zip), registration in place, removal, damaged installs."""
from __future__ import annotations

import threading
import zipfile

import pytest

from saltseg.errors import ModelError
from saltseg.model.model_io import load_model
from saltseg.models import ChecksumError, InstallError, Registry, RegistryError, resolve_model_dir
from test_models_helpers import (isolated_home, model_folder, other_model_folder, visible_models,  # noqa: F401
                                 user_models, write_catalog)

MODEL_ID = "test-model"


@pytest.fixture
def catalog(tmp_path, model_folder):
    return write_catalog(tmp_path / "catalog.json", MODEL_ID, "http://127.0.0.1:9", model_folder)


@pytest.fixture
def registry(isolated_home, catalog):
    return Registry(isolated_home, catalog_file=catalog)


def test_folder_of_a_catalogue_model_is_recognised_without_id(registry, model_folder, isolated_home):
    path = registry.install_from_path(model_folder)
    assert path == isolated_home / "models" / MODEL_ID
    assert (path / "model.pt").read_bytes() == (model_folder / "model.pt").read_bytes()
    assert (model_folder / "model.pt").exists()  # a copy, the source stays
    assert resolve_model_dir(MODEL_ID, catalog_file=registry.catalog_file) == path


def test_two_renamed_files_install_as_custom_model(registry, model_folder, tmp_path):
    loose = tmp_path / "downloads"
    loose.mkdir()
    (loose / "model (1).pt").write_bytes((model_folder / "model.pt").read_bytes())
    (loose / "config(2).pkl").write_bytes((model_folder / "config.pkl").read_bytes())
    path = registry.install_from_path([loose / "config(2).pkl", loose / "model (1).pt"], as_id="my-model")
    assert load_model(resolve_model_dir("my-model"), "cpu").tree is not None
    assert path.name == "my-model"


def test_zip_with_subfolder_installs(registry, model_folder, tmp_path):
    archive = tmp_path / "model.zip"
    with zipfile.ZipFile(archive, "w") as out:
        out.write(model_folder / "model.pt", "foobar-31/model.pt")
        out.write(model_folder / "config.pkl", "foobar-31/config.pkl")
        out.writestr("__MACOSX/foobar-31/._model.pt", b"junk")
    path = registry.install_from_path(archive)
    assert (path / "config.pkl").read_bytes() == (model_folder / "config.pkl").read_bytes()


@pytest.mark.parametrize("evil", ["../evil.txt", "/tmp/evil.txt", "sub/../../evil.txt", "C:/evil.txt"])
def test_zip_with_unsafe_path_is_refused(registry, model_folder, tmp_path, isolated_home, evil):
    archive = tmp_path / "bad.zip"
    with zipfile.ZipFile(archive, "w") as out:
        out.write(model_folder / "model.pt", "model.pt")
        out.write(model_folder / "config.pkl", "config.pkl")
        out.writestr(zipfile.ZipInfo(evil), b"owned")
    with pytest.raises(InstallError, match="refusing .*(absolute path|'\\.\\.')"):
        registry.install_from_path(archive, as_id="x")
    assert visible_models(isolated_home) == []
    assert not (tmp_path / "evil.txt").exists() and not list(isolated_home.rglob("evil.txt"))
    assert not [p for p in (isolated_home / ".tmp").iterdir()]  # staging cleaned up


def test_wrong_files_for_a_known_id_are_rejected(registry, other_model_folder, isolated_home):
    with pytest.raises(ChecksumError, match="not the file of model 'test-model'"):
        registry.install_from_path(other_model_folder, as_id=MODEL_ID)
    assert visible_models(isolated_home) == []


def test_unknown_files_need_an_id(registry, other_model_folder, isolated_home):
    with pytest.raises(RegistryError, match="--as ID"):
        registry.install_from_path(other_model_folder)
    assert visible_models(isolated_home) == []


def test_bad_inputs_give_specific_errors(registry, model_folder, tmp_path, isolated_home):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "model.pt").write_bytes((model_folder / "model.pt").read_bytes())
    (broken / "config.pkl").write_bytes(b"not a pickle")
    with pytest.raises(InstallError, match="not a SALT model"):
        registry.install_from_path(broken, as_id="custom")
    (broken / "config.pkl").unlink()
    with pytest.raises(InstallError, match="no config.pkl"):
        registry.install_from_path(broken, as_id="custom")
    with pytest.raises(InstallError, match="does not exist"):
        registry.install_from_path(tmp_path / "missing.zip", as_id="custom")
    with pytest.raises(RegistryError, match="invalid model id"):
        registry.install_from_path(model_folder, as_id="../escape")
    assert visible_models(isolated_home) == []


def test_register_folder_uses_it_in_place(registry, other_model_folder, isolated_home):
    registry.register_folder(other_model_folder, "local-model")
    assert resolve_model_dir("local-model") == other_model_folder.resolve()
    [entry] = user_models(registry)
    assert entry.registered and entry.path == other_model_folder.resolve() and entry.size_bytes > 0
    assert visible_models(isolated_home) == []  # nothing copied
    registry.remove("local-model")
    assert (other_model_folder / "model.pt").exists()  # the user's folder is kept
    with pytest.raises(RegistryError, match="unknown model 'local-model'"):
        resolve_model_dir("local-model")


def test_register_folder_with_known_id_checks_sha(registry, other_model_folder):
    with pytest.raises(ChecksumError):
        registry.register_folder(other_model_folder, MODEL_ID)


def test_remove_and_remove_all(registry, model_folder, other_model_folder, isolated_home):
    registry.install_from_path(model_folder)
    registry.install_from_path(other_model_folder, as_id="other")
    registry.remove(MODEL_ID)
    assert visible_models(isolated_home) == ["other"]
    with pytest.raises(RegistryError, match="not installed"):
        registry.remove(MODEL_ID)
    assert registry.remove_all() == ["other"]
    assert visible_models(isolated_home) == [] and user_models(registry) == []


def test_truncated_install_is_reported_not_crashed(registry, model_folder, isolated_home):
    path = registry.install_from_path(model_folder)
    data = (path / "model.pt").read_bytes()
    (path / "model.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelError, match="damaged.*truncated.*models download test-model"):
        resolve_model_dir(MODEL_ID, catalog_file=registry.catalog_file)
    [entry] = user_models(registry)
    assert "truncated" in entry.problem
    (path / "config.pkl").unlink()
    with pytest.raises(ModelError, match="no config.pkl"):
        resolve_model_dir(MODEL_ID, catalog_file=registry.catalog_file)
    # Installing again repairs it.
    registry.install_from_path(model_folder)
    assert resolve_model_dir(MODEL_ID, catalog_file=registry.catalog_file) == path


def test_concurrent_installs_of_the_same_model(registry, model_folder, isolated_home):
    results, errors = [], []

    def worker():
        try:
            results.append(Registry(isolated_home, catalog_file=registry.catalog_file).install_from_path(model_folder))
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors and len(results) == 3
    assert visible_models(isolated_home) == [MODEL_ID]
    assert user_models(registry)[0].problem is None
    assert [p.name for p in (isolated_home / ".tmp").iterdir()] == []
