"""A seccomp filter, the sandbox's second layer under the namespaces: it refuses the system calls a
generated solution never needs and that widen what a hostile one can reach (starting processes,
tracing, mounting, new namespaces, kernel keyrings, BPF, io_uring, loading modules) or that take
memory or disk outside what rlimits count (memfd, System V shared memory and message queues,
``fallocate``).

The filter is classic BPF, assembled here and handed to bubblewrap (``--seccomp FD``), which loads
it just before the program starts; no library is needed. ``clone3`` answers ENOSYS, so the C
library falls back to ``clone``, whose flags the filter can read: a clone that asks for a new
namespace is refused; a thread (CLONE_THREAD) is let through; a new process only when the limits
allow processes. Only x86-64 and AArch64 are known; elsewhere ``program`` returns None and the
sandbox runs without this layer (and says so in ``Outcome``).
"""

from __future__ import annotations

import errno
import platform
import struct

_AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
_X32_BIT = 0x40000000  # x86-64's x32 ABI numbers: refused wholesale, a known way around filters

# Calls refused whatever the limits say, by number per architecture.
# fmt: off
_DENIED = {
    "x86_64": {
        "ptrace": 101, "process_vm_readv": 310, "process_vm_writev": 311, "mount": 165, "umount2": 166,
        "pivot_root": 155, "chroot": 161, "unshare": 272, "setns": 308, "bpf": 321,
        "perf_event_open": 298, "keyctl": 250, "add_key": 248, "request_key": 249, "init_module": 175,
        "finit_module": 313, "delete_module": 176, "kexec_load": 246, "reboot": 169, "swapon": 167,
        "io_uring_setup": 425, "userfaultfd": 323, "personality": 135, "memfd_create": 319,
        "memfd_secret": 447, "shmget": 29, "shmat": 30, "shmctl": 31, "msgget": 68, "semget": 64,
        "open_by_handle_at": 304, "name_to_handle_at": 303, **{
            name: number for number, name in enumerate(
                ("open_tree", "move_mount", "fsopen", "fsconfig", "fsmount", "fspick"), start=428)
        }, "mount_setattr": 442,
    },
    "aarch64": {
        "ptrace": 117, "process_vm_readv": 270, "process_vm_writev": 271, "mount": 40, "umount2": 39,
        "pivot_root": 41, "chroot": 51, "unshare": 97, "setns": 268, "bpf": 280,
        "perf_event_open": 241, "keyctl": 219, "add_key": 217, "request_key": 218, "init_module": 105,
        "finit_module": 273, "delete_module": 106, "kexec_load": 104, "reboot": 142, "swapon": 224,
        "io_uring_setup": 425, "userfaultfd": 282, "personality": 92, "memfd_create": 279,
        "memfd_secret": 447, "shmget": 194, "shmat": 196, "shmctl": 195, "msgget": 186, "semget": 190,
        "open_by_handle_at": 265, "name_to_handle_at": 264, **{
            name: number for number, name in enumerate(
                ("open_tree", "move_mount", "fsopen", "fsconfig", "fsmount", "fspick"), start=428)
        }, "mount_setattr": 442,
    },
}
# fmt: on
# Refused with EOPNOTSUPP, on which the C library's posix_fallocate falls back on writing.
_FALLOCATE = {"x86_64": 285, "aarch64": 47}
# Process creation, refused unless the limits allow processes.
_FORKS: dict[str, dict[str, int]] = {"x86_64": {"fork": 57, "vfork": 58}, "aarch64": {}}
_CLONE = {"x86_64": 56, "aarch64": 220}
_CLONE3 = 435
_CLONE_THREAD = 0x00010000
# CLONE_NEWTIME, NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID and NEWNET
_CLONE_NAMESPACES = (
    0x80 | 0x20000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000
)

# BPF opcodes and seccomp return values (linux/filter.h, linux/seccomp.h)
_LD_W_ABS, _JEQ_K, _JSET_K, _RET_K = 0x20, 0x15, 0x45, 0x06
_ALLOW, _KILL = 0x7FFF0000, 0x80000000
_NR, _ARCH, _ARG0 = 0, 4, 16  # offsets in struct seccomp_data (the low 32 bits of args[0])


def _errno(code: int) -> int:
    return 0x00050000 | code


def program(allow_processes: bool = False) -> bytes | None:
    """The compiled filter for this machine's architecture, or None where it is not known."""
    arch = platform.machine()
    if arch not in _AUDIT_ARCH:
        return None
    denied = dict(_DENIED[arch])
    if not allow_processes:
        denied.update(_FORKS[arch])
    code: list[tuple[int, int, int, int]] = [
        (_LD_W_ABS, 0, 0, _ARCH),
        (_JEQ_K, 1, 0, _AUDIT_ARCH[arch]),
        (_RET_K, 0, 0, _KILL),  # a foreign ABI (32-bit calls on a 64-bit kernel)
        (_LD_W_ABS, 0, 0, _NR),
    ]
    if arch == "x86_64":
        code += [(0x35, 0, 1, _X32_BIT), (_RET_K, 0, 0, _KILL)]  # JGE: an x32 call
    for number in denied.values():
        code += [(_JEQ_K, 0, 1, number), (_RET_K, 0, 0, _errno(errno.EPERM))]
    code += [(_JEQ_K, 0, 1, _FALLOCATE[arch]), (_RET_K, 0, 0, _errno(errno.EOPNOTSUPP))]
    code += [(_JEQ_K, 0, 1, _CLONE3), (_RET_K, 0, 0, _errno(errno.ENOSYS))]
    # clone: a new namespace never; a thread always; a process only when allowed
    if allow_processes:
        rest = [(_RET_K, 0, 0, _ALLOW)]
    else:
        rest = [(_JSET_K, 1, 0, _CLONE_THREAD), (_RET_K, 0, 0, _errno(errno.EPERM)), (_RET_K, 0, 0, _ALLOW)]
    code += [
        (_JEQ_K, 0, 3 + len(rest), _CLONE[arch]),
        (_LD_W_ABS, 0, 0, _ARG0),
        (_JSET_K, 0, 1, _CLONE_NAMESPACES),
        (_RET_K, 0, 0, _errno(errno.EPERM)),
        *rest,
    ]
    code.append((_RET_K, 0, 0, _ALLOW))
    return b"".join(struct.pack("=HBBI", *instruction) for instruction in code)
