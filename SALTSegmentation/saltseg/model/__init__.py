"""The official SALT model format: loading model.pt + config.pkl safely, exporting, device retargeting."""
