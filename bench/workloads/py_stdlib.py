# Imports every module of the standard library that imports cleanly and
# quietly: a Python program with a large, varied heap (bench/cli.sh).
import importlib, io, sys, contextlib, sysconfig, pkgutil, os

SKIP = {"antigravity", "this", "idlelib", "tkinter", "turtle", "turtledemo",
        "__main__", "__phello__", "_pyrepl", "lib2to3", "ensurepip", "venv",
        "pydoc_data", "test", "xxlimited", "xxlimited_35", "_xxtestfuzz"}
stdlib = sysconfig.get_paths()["stdlib"]
names = sorted({m.name for m in pkgutil.iter_modules([stdlib, os.path.join(stdlib, "lib-dynload")])})
loaded = 0
sink = io.StringIO()
for name in names:
    if name in SKIP or name.startswith("test"):
        continue
    try:
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            importlib.import_module(name)
        loaded += 1
    except BaseException:
        pass
print(loaded, "modules")
