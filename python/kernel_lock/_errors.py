"""Exception types of kernel_lock, and the one mapping from the C++ loader's
error codes (kernel_lock::ErrorCode) to them.

Each class also derives from the built-in type Python `kernels` 0.17.2 raises in
the same situation, so `except FileNotFoundError:` around `kernels.get_kernel`
keeps working after the import is swapped:

| code (exit)         | class                     | also a           | kernels raises it for                    |
|---------------------|---------------------------|------------------|------------------------------------------|
| not_found (5)       | KernelNotFoundError       | FileNotFoundError| no snapshot / variant / lockfile         |
| not_found (5), the repo is not in the lock | KernelNotLockedError | ValueError | "Kernel `X` is not locked"  |
| unsupported (9)     | NoCompatibleVariantError  | FileNotFoundError| "Cannot find a build variant ..."        |
| integrity (6)       | IntegrityError            | VerificationError| (kernels does not verify)                |
| stale_trust (10)    | StaleTrustError           | VerificationError| (kernels does not verify)                |
| usage (2)           | KernelLockValueError      | ValueError       | revision and version both given, ...     |
| invalid_input (3)   | KernelLockValueError      | ValueError       | a malformed lockfile                     |
| network (4)         | KernelLockNetworkError    | ConnectionError  | (huggingface_hub's HTTP errors)          |
| io (8)              | KernelLockOSError         | OSError          |                                          |
| other               | KernelLockError           | RuntimeError     |                                          |

Every instance has `.code` (the loader's name for it, e.g. "not found"),
`.exit_code` (the CLI's exit status for it, the number above) and `.hint` (the next step, may be ""); the message ends with
"(kernel-lock error <code>; hint: ...)".
"""

from __future__ import annotations


class KernelLockError(Exception):
    """Base of every error kernel_lock raises."""

    code = "generic"
    exit_code = 1
    hint = ""


class VerificationError(KernelLockError, RuntimeError):
    """The bytes on disk are not what the lock (or signature) pins: nothing was loaded."""

    code = "integrity"
    exit_code = 6


class IntegrityError(VerificationError):
    """A file, digest, variant hash or signature does not match."""


class StaleTrustError(VerificationError):
    """The Sigstore trusted root is older than the freshness limit."""

    code = "stale_trust"
    exit_code = 10


class KernelNotFoundError(KernelLockError, FileNotFoundError):
    """A repository, revision, lock entry, variant or file is missing from the cache."""

    code = "not_found"
    exit_code = 5


class KernelNotLockedError(KernelLockError, ValueError):
    """The repository is not in the lock (`kernels` raises ValueError for it)."""

    code = "not_found"
    exit_code = 5


class NoCompatibleVariantError(KernelLockError, FileNotFoundError):
    """No variant fits this process (torch, backend, CUDA, arch)."""

    code = "unsupported"
    exit_code = 9


class KernelLockValueError(KernelLockError, ValueError):
    code = "invalid_input"
    exit_code = 3


class KernelLockNetworkError(KernelLockError, ConnectionError):
    code = "network"
    exit_code = 4


class KernelLockOSError(KernelLockError, OSError):
    code = "io"
    exit_code = 8


class _GenericError(KernelLockError, RuntimeError):
    pass


# By the CLI exit status of the code (core/error.hpp: stable numbers).
_BY_EXIT_CODE = {
    6: IntegrityError,
    10: StaleTrustError,
    5: KernelNotFoundError,
    9: NoCompatibleVariantError,
    2: KernelLockValueError,
    3: KernelLockValueError,
    4: KernelLockNetworkError,
    8: KernelLockOSError,
}


def from_native(err: BaseException) -> KernelLockError:
    """The kernel_lock exception for a `kernel_lock._native.Error` (args: message, code, exit code, hint,
    reason)."""
    args = tuple(err.args)
    message, code, exit_code, hint, reason = args + ("", "generic", 1, "", "")[len(args):]
    cls = KernelNotLockedError if reason == "not_locked" else _BY_EXIT_CODE.get(int(exit_code), _GenericError)
    text = f"{message} (kernel-lock error: {code}" + (f"; hint: {hint})" if hint else ")")
    out = cls(text)
    out.code, out.exit_code, out.hint = code, int(exit_code), hint
    return out


# Shown as kernel_lock.<Name> in tracebacks (the public names).
for _cls in (KernelLockError, VerificationError, IntegrityError, StaleTrustError, KernelNotFoundError,
             KernelNotLockedError, NoCompatibleVariantError, KernelLockValueError, KernelLockNetworkError, KernelLockOSError):
    _cls.__module__ = "kernel_lock"
del _cls
