"""Build script for fastmlp's compiled kernels (``fastmlp_ext``).

OpenMP is detected by compiling and running a tiny program, never assumed.
Environment switches (all read at build time):

``FASTMLP_REQUIRE_OPENMP=1``
    A missing OpenMP fails the build (CI sets it, so a serial build never
    slips through unnoticed).
``FASTMLP_DISABLE_OPENMP=1``
    Build the serial kernels even where OpenMP is available.
``FASTMLP_BOUNDSCHECK=1``
    Compile with Cython's bounds and wraparound checks on, for a debug test run.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import warnings

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

KERNEL_MODULES = [
    "_blas", "_parallel", "activations", "dense", "loss", "optimizers", "training",
]

OPENMP_TEST_PROGRAM = textwrap.dedent(
    """
    #include <omp.h>
    #include <stdio.h>
    int main(void) {
        int n = 0;
        #pragma omp parallel reduction(+:n)
        n += 1;
        printf("%d\\n", n > 0 && omp_get_max_threads() > 0);
        return 0;
    }
    """
)


def _env_flag(name):
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def _openmp_flags(compiler):
    """Return (compile_args, link_args) for OpenMP on this compiler."""
    if compiler.compiler_type == "msvc":
        return ["/openmp"], []
    if sys.platform == "darwin":
        return ["-Xpreprocessor", "-fopenmp"], ["-lomp"]
    return ["-fopenmp"], ["-fopenmp"]


def _openmp_works(compiler, compile_args, link_args):
    """Compile, link and run a tiny OpenMP program with these flags."""
    tmp_dir = tempfile.mkdtemp(prefix="fastmlp-openmp-")
    cwd = os.getcwd()
    try:
        os.chdir(tmp_dir)
        with open("test_openmp.c", "w") as f:
            f.write(OPENMP_TEST_PROGRAM)
        objects = compiler.compile(["test_openmp.c"], extra_postargs=compile_args)
        compiler.link_executable(objects, "test_openmp", extra_postargs=link_args)
        output = subprocess.check_output([os.path.join(tmp_dir, "test_openmp")])
        return output.decode().strip() == "1"
    except Exception:
        return False
    finally:
        os.chdir(cwd)
        shutil.rmtree(tmp_dir, ignore_errors=True)


class BuildExtWithOpenMP(build_ext):
    """build_ext that adds OpenMP flags when (and only when) they work."""

    def build_extensions(self):
        compile_args, link_args = [], []
        if _env_flag("FASTMLP_DISABLE_OPENMP"):
            print("fastmlp: FASTMLP_DISABLE_OPENMP set, building serial kernels")
        else:
            candidate = _openmp_flags(self.compiler)
            if _openmp_works(self.compiler, *candidate):
                compile_args, link_args = candidate
                print("fastmlp: OpenMP found, building parallel kernels")
            elif _env_flag("FASTMLP_REQUIRE_OPENMP"):
                raise RuntimeError(
                    "fastmlp: FASTMLP_REQUIRE_OPENMP is set but this compiler "
                    "cannot build and run an OpenMP program (flags tried: "
                    f"{candidate})."
                )
            else:
                warnings.warn(
                    "fastmlp: this compiler cannot build an OpenMP program; "
                    "building serial kernels (fastmlp works, on one thread). "
                    "Install an OpenMP runtime (e.g. libgomp or libomp) and "
                    "reinstall for parallel kernels."
                )
        for ext in self.extensions:
            ext.extra_compile_args = list(ext.extra_compile_args) + compile_args
            ext.extra_link_args = list(ext.extra_link_args) + link_args
        super().build_extensions()


def _extensions():
    debug_checks = _env_flag("FASTMLP_BOUNDSCHECK")
    directives = {
        "language_level": "3",
        "boundscheck": debug_checks,
        "wraparound": debug_checks,
        "initializedcheck": debug_checks,
        "cdivision": True,
        "embedsignature": True,
    }
    # No -march=native or -ffast-math: the wheel must run on any x86-64 CPU,
    # and fast-math (-ffinite-math-only) would let the compiler drop our NaN
    # checks. Two of its parts are safe and let GCC vectorise the optimizer
    # and elementwise loops: -fno-math-errno (sqrt need not set errno) and
    # -fno-trapping-math (we never enable floating-point traps). NaN and inf
    # are computed and compared exactly as without them.
    # -ffp-contract=off: never fuse a multiply and an add into an FMA, which
    # rounds once instead of twice; the instruction-set variants of
    # _simd.h must round exactly as the baseline build does.
    compile_args = (
        ["-O3", "-fno-math-errno", "-fno-trapping-math", "-ffp-contract=off"]
        if sys.platform != "win32" else []
    )
    extensions = [
        Extension(
            f"fastmlp_ext.{name}",
            [os.path.join("fastmlp_ext", f"{name}.pyx")],
            include_dirs=[numpy.get_include()],
            define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
            extra_compile_args=compile_args,
            depends=[os.path.join("fastmlp_ext", "_simd.h")],
        )
        for name in KERNEL_MODULES
    ]
    return cythonize(extensions, compiler_directives=directives)


setup(ext_modules=_extensions(), cmdclass={"build_ext": BuildExtWithOpenMP})
