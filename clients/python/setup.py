"""Build script of the SDK: the wheel carries ``algotrendy_sdk`` and the generated ``algotrendy.v1``.

The gRPC stubs are generated at build time from the repository's ``proto/`` (two levels up), with
the same protoc invocation and into the same place as the engine's own build (``make proto``):
``proto/algotrendy/v1/*_pb2*.py``. So there is exactly one generated ``algotrendy.v1`` per checkout:
the engine and the SDK installed into one virtualenv (both editable, as ``make`` does) resolve it to
the same directory, and one process can hold an in-process engine and SDK clients without two
copies of the same descriptors. A standalone ``pip install clients/python`` copies the generated
package into the SDK's wheel.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from setuptools import Command, setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
PROTO_ROOT = HERE.parent.parent / "proto"
PROTO_PACKAGE = PROTO_ROOT / "algotrendy"


def generate_proto() -> None:
    from grpc_tools import protoc  # build-time dependency only

    protos = sorted(PROTO_PACKAGE.rglob("*.proto"))
    if not protos:
        raise SystemExit(f"no .proto files under {PROTO_PACKAGE}: build the SDK from an AlgoTrendy checkout")
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
    for directory in {PROTO_PACKAGE, *(p.parent for p in protos)}:
        init = directory / "__init__.py"
        if not init.exists():
            init.write_text('"""Generated from the .proto files beside it; do not edit."""\n')


class BuildProto(Command):
    description = "generate algotrendy.v1 from ../../proto"
    user_options: ClassVar[list] = []

    def initialize_options(self) -> None:
        pass

    def finalize_options(self) -> None:
        pass

    def run(self) -> None:
        generate_proto()


class BuildPyWithProto(build_py):
    def run(self) -> None:
        self.run_command("build_proto")
        super().run()


if not (PROTO_PACKAGE / "v1" / "__init__.py").exists():
    generate_proto()

setup(
    packages=["algotrendy_sdk", "algotrendy", "algotrendy.v1"],
    package_dir={"algotrendy": str(Path("..", "..", "proto", "algotrendy"))},
    package_data={"algotrendy_sdk": ["py.typed"], "algotrendy": ["**/*.proto", "**/*.pyi"]},
    cmdclass={"build_proto": BuildProto, "build_py": BuildPyWithProto},
)
