"""Contract author's tool: ``python -m contracts {compile,abi,disasm} FILE``.

``compile`` checks a source file and prints its bytecode as hex (or writes it with ``-o``);
``abi`` prints the public methods as JSON; ``disasm`` lists the instructions. FILE is contract
source (``.py``) or, for ``abi``/``disasm``, bytecode (``.cnvm``). Errors print as
``FILE:LINE:COL: reason`` and exit with status 1.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from contracts.bytecode import MAGIC
from contracts.compiler import compile_source
from contracts.disasm import disassemble
from contracts.errors import CompileError, ContractError
from contracts.vm import abi


def _load(path: Path) -> bytes:
    data = path.read_bytes()
    if data.startswith(MAGIC):
        return data
    return compile_source(data.decode("utf-8"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m contracts", description=__doc__)
    parser.add_argument("command", choices=("compile", "abi", "disasm"))
    parser.add_argument("file", type=Path)
    parser.add_argument("-o", "--output", type=Path, help="write bytecode here (compile)")
    args = parser.parse_args(argv)
    try:
        code = _load(args.file)
        if args.command == "compile":
            if args.output:
                args.output.write_bytes(code)
                print(f"wrote {len(code)} bytes to {args.output}")
            else:
                print(code.hex())
        elif args.command == "abi":
            methods = {
                name: {"view": m.view, "params": dict(zip(m.params, m.types, strict=True))}
                for name, m in abi(code).items()
            }
            print(json.dumps(methods, indent=2))
        else:
            print(disassemble(code))
    except CompileError as exc:
        print(f"{args.file}:{exc.line}:{exc.col}: {exc.reason}", file=sys.stderr)
        return 1
    except (ContractError, OSError, UnicodeDecodeError) as exc:
        print(f"{args.file}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
