"""The atheris targets of tests/fuzz, driven without atheris: each target's TestOneInput on its
seeds and 10,000 seeded pseudo-random inputs (fresh bytes, and seeds with a few octets changed,
inserted or cut; 2,000 for the configuration loader, which writes and reads a file each time), so
the targets stay runnable and the codecs, the loader and the spmif server keep their promises."""

from __future__ import annotations

import importlib.util
import random
import sys
from pathlib import Path
from types import ModuleType

import pytest

FUZZ = Path(__file__).resolve().parents[1] / "fuzz"
sys.path.insert(0, str(FUZZ))  # the targets import fuzz_common, as they do when run directly
TARGETS = ["fuzz_ikev2", "fuzz_ikev2_fragments", "fuzz_isakmp", "fuzz_ikev1_engine",
           "fuzz_config", "fuzz_spmif", "fuzz_ctl"]
INPUTS = 10_000
SLOW_INPUTS = {"fuzz_config": 2_000}


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"fuzz_target_{name}", FUZZ / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _mutated(rng: random.Random, seed: bytes) -> bytes:
    data = bytearray(seed)
    for _ in range(rng.randint(1, 4)):
        at = rng.randrange(len(data) + 1)
        match rng.randrange(4):
            case 0 if at < len(data):
                data[at] = rng.randrange(256)
            case 1:
                data[at:at] = rng.randbytes(rng.randint(1, 8))
            case 2:
                del data[at:at + rng.randint(1, 8)]
            case 3:
                del data[at:]
    return bytes(data)


@pytest.mark.parametrize("name", TARGETS)
def test_target_survives_seeded_inputs(name: str) -> None:
    target = _load(name)
    seeds = target.seeds()
    assert seeds, "the captures give the corpus"
    for seed in seeds:
        target.TestOneInput(seed)
    rng = random.Random(f"{name}-2408")
    for i in range(SLOW_INPUTS.get(name, INPUTS)):
        if i % 2:
            target.TestOneInput(rng.randbytes(rng.randint(0, 300)))
        else:
            target.TestOneInput(_mutated(rng, rng.choice(seeds)))


@pytest.mark.parametrize("name", TARGETS)
def test_target_writes_its_corpus(name: str, tmp_path: Path) -> None:
    target = _load(name)
    target.main([name, "--write-corpus", str(tmp_path / "corpus")])
    written = sorted((tmp_path / "corpus").iterdir())
    assert [p.read_bytes() for p in written] == target.seeds()
