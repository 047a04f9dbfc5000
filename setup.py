"""Build script: compiles every ``ext/**/*.pyx`` into ``engine.ext`` and generates the gRPC code.

``ext/`` is installed as the ``engine.ext`` package (the bottom layer of DESIGN.md); generated protobuf
and gRPC modules land beside their ``.proto`` files under ``proto/algotrendy/v1`` and are installed as
the ``algotrendy.v1`` package. Neither compiled objects nor generated code are committed.

``python setup.py build_proto`` (``make proto``) regenerates the gRPC code on its own.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import ClassVar

import numpy as np
from Cython.Build import cythonize
from setuptools import Command, Extension, find_packages, setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
PROTO_ROOT = ROOT / "proto"
PROTO_PACKAGE = PROTO_ROOT / "algotrendy"
EXT_ROOT = ROOT / "ext"

CYTHON_DIRECTIVES = {
    "language_level": 3,
    "boundscheck": False,
    "wraparound": False,
    "cdivision": True,
    "initializedcheck": False,
    "nonecheck": False,
    "embedsignature": True,
    "freethreading_compatible": False,
}


def generate_proto() -> list[Path]:
    """Generate ``*_pb2.py``, ``*_pb2.pyi`` and ``*_pb2_grpc.py`` for every proto under proto/algotrendy."""
    from grpc_tools import protoc  # build-time dependency only

    protos = sorted(PROTO_PACKAGE.rglob("*.proto"))
    if not protos:
        raise SystemExit("no .proto files found under proto/algotrendy")
    well_known = Path(protoc.__file__).resolve().parent / "_proto"
    args = [
        "grpc_tools.protoc",
        f"-I{PROTO_ROOT}",
        f"-I{well_known}",
        f"--python_out={PROTO_ROOT}",
        f"--pyi_out={PROTO_ROOT}",
        f"--grpc_python_out={PROTO_ROOT}",
        *(str(p.relative_to(PROTO_ROOT)) for p in protos),
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed; see the messages above")
    # Every directory that holds generated code is a regular package.
    for directory in {PROTO_PACKAGE, *(p.parent for p in protos)}:
        init = directory / "__init__.py"
        if not init.exists():
            init.write_text('"""Generated from the .proto files beside it; do not edit."""\n')
    return protos


class BuildProto(Command):
    """``python setup.py build_proto``: regenerate the gRPC code in place."""

    description = "generate Python code for proto/algotrendy/**/*.proto"
    user_options: ClassVar[list] = []

    def initialize_options(self) -> None:
        pass

    def finalize_options(self) -> None:
        pass

    def run(self) -> None:
        for proto in generate_proto():
            print(f"generated {proto.relative_to(ROOT)}")


class BuildPyWithProto(build_py):
    def run(self) -> None:
        self.run_command("build_proto")
        super().run()


def cython_include_root() -> Path:
    """An include tree where ``engine/ext`` is ``ext/``.

    Cython resolves a module's own ``.pxd`` (and every ``cimport``) by its qualified name, so for
    ``engine.ext.core.fixedpoint`` it looks for ``engine/ext/core/fixedpoint.pxd`` on the include path.
    ext/ lives outside engine/, so the build points Cython at this mirror (a symlink, rebuilt each time).
    """
    root = ROOT / "build" / "cython-include"
    engine_dir = root / "engine"
    engine_dir.mkdir(parents=True, exist_ok=True)
    (engine_dir / "__init__.pxd").touch()
    link = engine_dir / "ext"
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(EXT_ROOT, target_is_directory=True)
    return root


def ext_modules() -> list[Extension]:
    include_root = cython_include_root()
    extensions = []
    for pyx in sorted(EXT_ROOT.rglob("*.pyx")):
        rel = pyx.relative_to(EXT_ROOT).with_suffix("")
        name = ".".join(("engine", "ext", *rel.parts))
        extensions.append(
            Extension(
                name,
                [str(pyx.relative_to(ROOT))],
                include_dirs=[np.get_include(), str(include_root), str(EXT_ROOT)],
                define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
                extra_compile_args=["-O3", "-fno-strict-aliasing"],
            )
        )
    return cythonize(
        extensions,
        compiler_directives=CYTHON_DIRECTIVES,
        include_path=[str(include_root), str(EXT_ROOT)],
        nthreads=os.cpu_count() or 1,
        annotate=bool(os.environ.get("ALGOTRENDY_CYTHON_ANNOTATE")),
        quiet=True,
    )


# The generated package must exist before setuptools lists packages (first build of a fresh clone).
if not (PROTO_PACKAGE / "__init__.py").exists():
    generate_proto()

ext_packages = ["engine.ext", *(f"engine.ext.{p}" for p in find_packages(str(EXT_ROOT)))]
proto_packages = ["algotrendy", *(f"algotrendy.{p}" for p in find_packages(str(PROTO_PACKAGE)))]

setup(
    packages=[*find_packages(include=["engine", "engine.*", "ops", "ops.*"]), *ext_packages, *proto_packages],
    package_dir={"engine.ext": "ext", "algotrendy": "proto/algotrendy"},
    package_data={
        "engine.ext": ["**/*.pxd", "**/*.pyi", "py.typed"],
        "algotrendy": ["**/*.proto", "**/*.pyi"],
    },
    exclude_package_data={"engine.ext": ["**/*.c", "**/*.pyx", "**/*.html"]},
    ext_modules=ext_modules(),
    cmdclass={"build_proto": BuildProto, "build_py": BuildPyWithProto},
    zip_safe=False,
)

if sys.version_info[:2] != (3, 11):  # pragma: no cover - informative only
    print("warning: AlgoTrendy is pinned and tested on CPython 3.11", file=sys.stderr)
