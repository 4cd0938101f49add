"""``saltseg models ...`` end to end through ``saltseg.cli.main``."""
from __future__ import annotations

import zipfile


import saltseg.cli as cli
from test_models_helpers import (isolated_home, model_folder, serve_model, server,  # noqa: F401
                                 visible_models, write_catalog)


def test_list_download_remove(server, model_folder, tmp_path, isolated_home, capsys):
    serve_model(server, model_folder)
    catalog = write_catalog(tmp_path / "c.json", "test-model", server.base, model_folder)
    assert cli.main(["models", "list", "--catalog", str(catalog)]) == 0
    out = capsys.readouterr().out
    assert "salt-foobar-31" in out and "test-model" in out and "available" in out
    assert str(isolated_home / "models") in out

    assert cli.main(["models", "--catalog", str(catalog), "download", "test-model"]) == 0
    captured = capsys.readouterr()
    assert captured.out.strip() == str(isolated_home / "models" / "test-model")
    assert "test-model" in captured.err  # the tqdm bar
    cli.main(["models", "list", "--catalog", str(catalog)])
    assert "cached" in capsys.readouterr().out

    assert cli.main(["models", "remove", "test-model"]) == 0
    assert visible_models(isolated_home) == []


def test_install_zip_and_errors(model_folder, tmp_path, isolated_home, capsys):
    archive = tmp_path / "m.zip"
    with zipfile.ZipFile(archive, "w") as out:
        out.write(model_folder / "model.pt", "model.pt")
        out.write(model_folder / "config.pkl", "config.pkl")
    assert cli.main(["models", "install", str(archive), "--as", "zipped"]) == 0
    assert capsys.readouterr().out.strip() == str(isolated_home / "models" / "zipped")
    assert cli.main(["models", "install", str(model_folder), "--as", "linked", "--link"]) == 0
    assert cli.main(["models", "remove", "--all"]) == 0
    assert visible_models(isolated_home) == [] and (model_folder / "model.pt").exists()

    assert cli.main(["models", "download", "nope"]) == 1
    assert "unknown model 'nope'" in capsys.readouterr().err
    assert cli.main(["models", "install", str(model_folder)]) == 1
    assert "--as ID" in capsys.readouterr().err
