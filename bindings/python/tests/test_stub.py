"""`_native.pyi` matches the module: the same classes and functions, the
same attributes on each class, the same parameters on each method."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path
from typing import Dict, List, Set

import waotp._native as native

STUB = Path(native.__file__).with_name("_native.pyi")


def stub_tree() -> ast.Module:
    return ast.parse(STUB.read_text())


def public(names: Set[str]) -> Set[str]:
    return {n for n in names if not n.startswith("_")}


def stub_members(cls: ast.ClassDef) -> Dict[str, List[List[str]]]:
    """Each member's parameter lists (one per overload)."""
    members: Dict[str, List[List[str]]] = {}
    for item in cls.body:
        if isinstance(item, ast.FunctionDef):
            a = item.args
            params = [p.arg for p in a.posonlyargs + a.args + a.kwonlyargs]
            members.setdefault(item.name, []).append(params)
    return members


def test_the_stub_names_what_the_module_has() -> None:
    tree = stub_tree()
    stub_classes = {n.name: n for n in tree.body if isinstance(n, ast.ClassDef)}
    stub_functions = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    module_classes = {n for n, v in vars(native).items() if inspect.isclass(v) and not n.startswith("_")}
    module_functions = public({n for n, v in vars(native).items() if inspect.isbuiltin(v)})
    # The call machinery's helper class is internal.
    module_classes.discard("AbortOnCancel")
    assert set(stub_classes) == module_classes
    assert stub_functions == module_functions


def test_every_class_has_the_stubbed_attributes_and_parameters() -> None:
    for node in stub_tree().body:
        if not isinstance(node, ast.ClassDef):
            continue
        cls = getattr(native, node.name)
        members = stub_members(node)
        stubbed = public(set(members))
        actual = public(set(dir(cls)))
        assert stubbed == actual, f"{node.name}: stub {sorted(stubbed ^ actual)} differ"
        for name, overloads in members.items():
            if name.startswith("__") and name != "__new__":
                continue
            attr = inspect.getattr_static(cls, name)
            if isinstance(attr, property) or type(attr).__name__ == "getset_descriptor":
                continue
            target = getattr(cls, name) if name != "__new__" else cls
            signature = inspect.signature(target)
            params = [p for p in signature.parameters if p not in ("self", "cls", "$self", "$cls")]
            for stubbed_params in overloads:
                wanted = [p for p in stubbed_params if p not in ("self", "cls")]
                assert wanted == params, f"{node.name}.{name}: stub {wanted}, module {params}"


def test_functions_have_the_stubbed_parameters() -> None:
    for node in stub_tree().body:
        if isinstance(node, ast.FunctionDef):
            a = node.args
            wanted = [p.arg for p in a.posonlyargs + a.args + a.kwonlyargs]
            actual = list(inspect.signature(getattr(native, node.name)).parameters)
            assert wanted == actual, node.name
