"""The providers file: read from a path locally, shipped inline as JSON when deployed."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestra.errors import InvalidRequest
from orchestra.providers.registry import load_config_file, read_config

YAML = """
providers:
  - name: local-vllm
    type: openai
    base_url: http://127.0.0.1:8000/v1
    allow_private: true
    models:
      - {id: llama-3.1-8b, context_window: 131072}
"""


def test_the_inline_json_is_the_same_file_as_the_yaml(tmp_path: Path) -> None:
    # Given a providers file, and the compact JSON the stack ships for it
    path = tmp_path / "orchestra.yaml"
    path.write_text(YAML)
    shipped = load_config_file(path).model_dump_json(exclude_defaults=True)

    # When a function reads either
    from_path = read_config(str(path), None)
    from_json = read_config(None, shipped)

    # Then both give the same providers, models included
    assert from_path == from_json
    assert from_json is not None and from_json.providers[0].models[0].id == "llama-3.1-8b"


def test_the_path_wins_and_neither_means_no_file(tmp_path: Path) -> None:
    path = tmp_path / "orchestra.yaml"
    path.write_text(YAML)
    assert read_config(str(path), '{"providers": []}') == load_config_file(path)
    assert read_config(None, None) is None


def test_an_invalid_inline_file_is_a_clear_error() -> None:
    with pytest.raises(InvalidRequest, match="ORCHESTRA_CONFIG_JSON") as caught:
        read_config(None, '{"providers": [{"name": "x", "type": "nope"}]}')
    assert "type" in caught.value.message


def test_a_models_cache_prices_come_from_the_file_and_price_its_answers() -> None:
    from orchestra.catalog.pricing import cost_nanos
    from orchestra.providers.registry import models_from_file
    from orchestra.schemas.chat import Usage

    # Given a self-hosted model whose operator knows its cache prices
    shipped = (
        '{"providers": [{"name": "vllm", "type": "openai", "models": [{"id": "m", '
        '"context_window": 8192, "input_price": 1e-6, "output_price": 2e-6, '
        '"cache_read_price": 2e-7, "cache_write_price": 1e-6}]}]}'
    )
    (model,) = models_from_file(read_config(None, shipped))
    # Then cached tokens are priced at the file's read price (no family default applies)
    assert cost_nanos(model, Usage.of(100, 10, cached=80)) == 20 * 1000 + 80 * 200 + 10 * 2000
