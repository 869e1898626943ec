"""pip install ./python: the astrolab package (and its alias astro_lab) from the source tree.

The extension and libastrolab are built by the project's own CMake (the same build as
``make``), with tests and benchmarks off, and libastrolab.so.0 is bundled beside the extension,
which finds it through its $ORIGIN RPATH. No network: on Debian use Debian's setuptools with
``pip install --no-build-isolation ./python``. ASTROLAB_BUILD_DIR=<an existing build folder>
takes the extension and library from that build instead of building again."""
import glob
import os
import shutil
import subprocess
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def version():
    with open(os.path.join(ROOT, "include", "astrolab", "defs.h")) as f:
        for line in f:
            if line.startswith("#define AL_VERSION_STRING"):
                return line.split('"')[1]
    raise RuntimeError("no AL_VERSION_STRING in include/astrolab/defs.h")


class CMakeBuild(build_ext):
    def build_extension(self, ext):
        build = os.environ.get("ASTROLAB_BUILD_DIR")
        if not build:
            build = os.path.abspath(os.path.join(self.build_temp, "cmake"))
            subprocess.check_call([
                "cmake", "-S", ROOT, "-B", build, "-DCMAKE_BUILD_TYPE=Release",
                "-DBUILD_TESTING=OFF", "-DASTROLAB_BUILD_BENCH=OFF", "-DASTROLAB_PYTHON=ON",
                "-DCMAKE_BUILD_RPATH_USE_ORIGIN=ON", f"-DPython3_EXECUTABLE={sys.executable}",
            ])
            jobs = os.environ.get("JOBS", str(os.cpu_count() or 2))
            subprocess.check_call(["cmake", "--build", build, "--target", "astrolab_python",
                                   "-j", jobs])
        built = glob.glob(os.path.join(build, "python", "astrolab", "_astrolab*.so"))
        if not built:
            raise RuntimeError(f"no extension built in {build}/python/astrolab")
        target = self.get_ext_fullpath(ext.name)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copy2(built[0], target)
        lib = os.path.join(build, "libastrolab.so.0")
        shutil.copy2(os.path.realpath(lib), os.path.join(os.path.dirname(target),
                                                         "libastrolab.so.0"))


setup(
    name="astrolab",
    version=version(),
    description="AstroLab: one centralized memory manager, on the libastrolab C core",
    packages=["astrolab", "astrolab.ui", "astro_lab"],
    package_dir={"": "."},
    ext_modules=[Extension("astrolab._astrolab", sources=[])],
    cmdclass={"build_ext": CMakeBuild},
    python_requires=">=3.9",
    install_requires=["numpy>=1.22"],
    zip_safe=False,
)
