"""The networks, layers and losses load without TensorFlow, so they run on Keras' other backends.

`benchmarks/bench_einv2_gpu.py` trains the paper-size EINV2 on a GPU machine
that has Keras' JAX backend and no TensorFlow; it builds the network with
`seld_tf.models.registry.build_scaled_network` and the tPIT loss of
`seld_tf.losses.pit`. This checks, from the source, that no module those
reach imports TensorFlow when it is loaded (an import inside a function,
run only on the TensorFlow backend or in `tf.data`, is allowed).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "seld_tf"
PORTABLE_PACKAGES = ("models", "layers", "losses")


def _module_path(name: str) -> Path:
    relative = Path(*name.split("."))
    package = PACKAGE.parent / relative / "__init__.py"
    return package if package.exists() else PACKAGE.parent / relative.with_suffix(".py")


def _load_time_imports(name: str) -> set[str]:
    """Modules that loading module `name` imports: its import statements outside functions and classes."""
    path = _module_path(name)
    tree = ast.parse(path.read_text(), filename=str(path))
    imported = set()
    pending = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            imported.add(node.module)
            # `from package import module` loads the submodule too.
            imported.update(f"{node.module}.{alias.name}" for alias in node.names
                            if node.module.startswith("seld_tf") and _module_path(f"{node.module}.{alias.name}").exists())
        pending.extend(ast.iter_child_nodes(node))
    return imported


def tensorflow_import_chain(name: str) -> list[str] | None:
    """The chain of package modules by which loading `name` imports TensorFlow, or None."""
    parents, queue = {name: None}, [name]
    while queue:
        module = queue.pop(0)
        for dependency in sorted(_load_time_imports(module)):
            if dependency.split(".")[0] == "tensorflow":
                chain = [dependency, module]
                while parents[chain[-1]] is not None:
                    chain.append(parents[chain[-1]])
                return chain[::-1]
            package_parts = dependency.split(".")
            # Loading a submodule loads its parent packages first.
            for end in range(2, len(package_parts) + 1):
                candidate = ".".join(package_parts[:end])
                if candidate.startswith("seld_tf") and candidate not in parents and _module_path(candidate).exists():
                    parents[candidate] = module
                    queue.append(candidate)
    return None


def _portable_modules() -> list[str]:
    names = []
    for package in PORTABLE_PACKAGES:
        for path in sorted((PACKAGE / package).glob("*.py")):
            names.append(f"seld_tf.{package}" if path.stem == "__init__" else f"seld_tf.{package}.{path.stem}")
    return names


@pytest.mark.parametrize("module", _portable_modules())
def test_networks_layers_and_losses_load_without_tensorflow(module):
    assert tensorflow_import_chain(module) is None, " -> ".join(tensorflow_import_chain(module))


def test_the_check_finds_tensorflow_through_package_modules():
    # The trainer imports TensorFlow itself; the tasks import it through the feature pipeline.
    assert tensorflow_import_chain("seld_tf.training")[-1] == "tensorflow"
    chain = tensorflow_import_chain("seld_tf.tasks.seld")
    assert chain[0] == "seld_tf.tasks.seld" and chain[-1] == "tensorflow" and len(chain) > 2
