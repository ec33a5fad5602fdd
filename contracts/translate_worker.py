"""``python -m contracts.translate_worker``: translate programs for another process.

A node loading programs off its event loop sends their bytecode here and gets each
translation's code object back (``translate.compile_module``, the function it would run
itself): generating the source and compiling it hold this process's GIL, not the node's.

Frames on stdin and stdout are a 4-byte big-endian length and that many bytes. A request is
bytecode; the answer is ``marshal`` of ``(0, code_object, source_size)``, or
``(1, message, 0)`` when the translation is too large (``TranslationTooLarge``), or
``(2, exception type name, 0)`` for anything else (the node then translates it itself and
meets the same error). The worker exits at the end of its input (the node closed it, or died).
"""

from __future__ import annotations

import marshal
import sys
from typing import IO

from contracts.bytecode import MAX_BYTECODE
from contracts.translate import TranslationTooLarge, compile_module
from contracts.verifier import verify

OK, TOO_LARGE, FAILED = 0, 1, 2


def read_frame(stream: IO[bytes], limit: int) -> bytes | None:
    """One frame's bytes; None at the end of the stream (or a frame cut short)."""
    head = stream.read(4)
    if len(head) < 4:
        return None
    n = int.from_bytes(head, "big")
    if n > limit:
        return None
    body = stream.read(n)
    return body if len(body) == n else None


def write_frame(stream: IO[bytes], data: bytes) -> None:
    stream.write(len(data).to_bytes(4, "big") + data)
    stream.flush()


def answer(code: bytes) -> bytes:
    try:
        compiled, size = compile_module(code, verify(code))
    except TranslationTooLarge as e:
        return marshal.dumps((TOO_LARGE, str(e), 0))
    except Exception as e:  # noqa: BLE001 - told to the node, which translates it itself
        return marshal.dumps((FAILED, type(e).__name__, 0))
    return marshal.dumps((OK, compiled, size))


def main() -> None:
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    while (code := read_frame(stdin, MAX_BYTECODE)) is not None:
        write_frame(stdout, answer(code))


if __name__ == "__main__":
    main()
