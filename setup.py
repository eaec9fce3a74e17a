"""Builds the Python package zo (pyproject.toml): the extension zo._core by the project's CMake build
(target zo_python), then python/zo with it. Environment: CMAKE_ARGS (extra configure arguments,
e.g. -DCMAKE_CXX_COMPILER_LAUNCHER=ccache), CMAKE_BUILD_PARALLEL_LEVEL (build jobs). Setuptools'
build files go to build-pip/."""

import os
import pathlib
import re
import shlex
import shutil
import subprocess
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = pathlib.Path(__file__).resolve().parent
BUILD = ROOT / "build-pip"


def version() -> str:
    text = (ROOT / "CMakeLists.txt").read_text(encoding="utf-8")
    return re.search(r"project\(zo VERSION ([0-9.]+)", text).group(1)


class CMakeExtension(Extension):
    def __init__(self, name: str):
        super().__init__(name, sources=[])


class CMakeBuild(build_ext):
    def build_extension(self, ext: Extension) -> None:
        target = pathlib.Path(self.get_ext_fullpath(ext.name)).resolve()
        build = pathlib.Path(self.build_temp).resolve() / "cmake"
        args = [
            f"-DPython3_EXECUTABLE={sys.executable}",
            f"-DCMAKE_BUILD_TYPE={'Debug' if self.debug else 'Release'}",
            "-DZO_PYTHON=ON",
            "-DZO_BUILD_TESTS=OFF",
            "-DZO_BUILD_BENCH=OFF",
            "-DZO_INSTALL=OFF",
        ]
        try:  # pybind11 from pip, when that is where it lives
            import pybind11

            args.append(f"-Dpybind11_DIR={pybind11.get_cmake_dir()}")
        except ImportError:
            pass
        args += shlex.split(os.environ.get("CMAKE_ARGS", ""))
        subprocess.run(["cmake", "-S", str(ROOT), "-B", str(build), *args], check=True)
        jobs = os.environ.get("CMAKE_BUILD_PARALLEL_LEVEL") or str(os.cpu_count() or 1)
        subprocess.run(["cmake", "--build", str(build), "--target", "zo_python", "-j", jobs], check=True)
        built = sorted((build / "python" / "zo").glob("_core*"))
        if not built:
            raise RuntimeError(f"the CMake build made no zo/_core module in {build / 'python' / 'zo'}")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(built[0], target)


BUILD.mkdir(exist_ok=True)
setup(
    version=version(),
    ext_modules=[CMakeExtension("zo._core")],
    cmdclass={"build_ext": CMakeBuild},
    options={"build": {"build_base": str(BUILD)}, "egg_info": {"egg_base": str(BUILD)}},
)
