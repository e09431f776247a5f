#!/usr/bin/env python3
"""Type-checks every ```swift code sample in README.md and Docs/*.md against the package's
modules, so a sample that no longer compiles fails the test run instead of misleading a reader.

Each sample is compiled on its own, as the top-level code of a program, with the imports of every
swift-raft module added before it and scripts/doc-samples/Prelude.swift beside it (the stand-ins
samples use without defining: MyFSM, MyStore, handle). A sample whose opening fence is preceded by
the line `<!-- continues the sample above -->` is compiled after the one before it, as one program. Needs the debug build of the package and
its tests (`swift build --build-tests`), whose modules it compiles against. A sample that starts
with `// swift-tools-version` is a package manifest instead: SwiftPM evaluates it
(`swift package dump-package`) in a scratch directory of its own.

Usage: scripts/check-doc-samples.py [files...]   (default: README.md Docs/*.md)
"""
import glob
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IMPORTS = [
    "import Logging", "import RaftFileStores", "import RaftNetworkTransport", "import RaftTestKit",
    "import RaftTLS", "import SwiftRaft", "import Synchronization", "import Testing",
]


CONTINUES = "<!-- continues the sample above -->"


def samples(path):
    """Yields (line number, code) for each ```swift block of a Markdown file; a block marked as
    continuing the one above comes with that one's code before its own."""
    lines = open(path, encoding="utf-8").read().split("\n")
    start = None
    previous = ""
    for number, line in enumerate(lines, 1):
        if start is None and re.fullmatch(r"\s*```swift\s*", line):
            start = number
            continues = number > 1 and lines[number - 2].strip() == CONTINUES
            block = [previous] if continues else []
        elif start is not None and re.fullmatch(r"\s*```\s*", line):
            previous = "\n".join(block)
            yield start, previous
            start = None
        elif start is not None:
            block.append(line)


def check_manifest(code, scratch):
    """Loads a Package.swift sample with SwiftPM, which compiles it against PackageDescription
    without fetching its dependencies."""
    package = os.path.join(scratch, "manifest")
    os.makedirs(package, exist_ok=True)
    with open(os.path.join(package, "Package.swift"), "w", encoding="utf-8") as out:
        out.write(code + "\n")
    return subprocess.run(["swift", "package", "--package-path", package, "dump-package"], capture_output=True, text=True)


def main():
    os.chdir(ROOT)
    files = sys.argv[1:] or ["README.md"] + sorted(glob.glob("Docs/*.md"))
    build = subprocess.run(["swift", "build", "--show-bin-path"], capture_output=True, text=True, check=True).stdout.strip()
    modules = os.path.join(build, "Modules")
    if not os.path.isdir(modules):
        sys.exit(f"check-doc-samples: no build at {build}; run `swift build --build-tests` first")
    flags = ["-swift-version", "6", "-I", modules]
    for modulemap in glob.glob(os.path.join(build, "*.build", "module.modulemap")):
        flags += ["-Xcc", f"-fmodule-map-file={modulemap}"]
    # C modules: the package's own and its dependencies' (swift-atomics' shims, NIO's C parts).
    checkouts = os.path.join(os.path.dirname(os.path.dirname(build)), "checkouts")
    for source in ["Sources", os.path.join(checkouts, "*", "Sources")]:
        for include in glob.glob(os.path.join(source, "*", "include")):
            flags += ["-Xcc", f"-I{include}"]
        for modulemap in glob.glob(os.path.join(source, "*", "module.modulemap")) + glob.glob(
            os.path.join(source, "*", "include", "module.modulemap")
        ):
            flags += ["-Xcc", f"-fmodule-map-file={modulemap}"]
    prelude = os.path.join(ROOT, "scripts", "doc-samples", "Prelude.swift")
    failures = 0
    checked = 0
    with tempfile.TemporaryDirectory(prefix="doc-samples-") as scratch:
        for path in files:
            for line, code in samples(path):
                checked += 1
                if code.startswith("// swift-tools-version"):
                    result = check_manifest(code, scratch)
                    if result.returncode != 0:
                        failures += 1
                        print(f"✘ {path}:{line}: manifest does not load\n{result.stderr}")
                    else:
                        print(f"✔ {path}:{line}")
                    continue
                main_file = os.path.join(scratch, "main.swift")
                with open(main_file, "w", encoding="utf-8") as out:
                    out.write("\n".join(IMPORTS) + "\n" + code + "\n")
                result = subprocess.run(["swiftc", "-typecheck", *flags, main_file, prelude], capture_output=True, text=True)
                if result.returncode != 0:
                    failures += 1
                    print(f"✘ {path}:{line}: sample does not compile\n{result.stderr}")
                else:
                    print(f"✔ {path}:{line}")
    print(f"doc samples: {checked - failures} compile, {failures} do not")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
