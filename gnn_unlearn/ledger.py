"""The deletion ledger: an append-only, hash-chained JSON-lines record of every deletion served.

Each entry is one line of canonical JSON (sorted keys, no spaces) holding

* ``seq`` (1, 2, ...) and ``prev_sha256``: the ``entry_sha256`` of the entry before it
  (64 zeros for the first), so removing, reordering or editing any entry breaks the chain;
* ``request_sha256``: the SHA-256 of the request's canonical JSON
  (:meth:`DeletionRequest.to_dict`), and ``request``: its resolved summary (counts only;
  the ids themselves stay in the checkpoint);
* ``input_checkpoint`` / ``output_checkpoint``: path and SHA-256 of the files;
* what was done and at what cost (method, hyperparameters, seconds, memory);
* ``entry_sha256``: the SHA-256 of the canonical JSON of all the fields above.

Appending is write-ahead safe: the line and its newline go out in one ``write`` on a file
opened for appending, followed by ``flush`` and ``fsync`` before the call returns, under an
exclusive ``flock`` (several processes may serve requests against one ledger). A crash mid-way
leaves at most a last line without its newline, a *torn* entry: :meth:`DeletionLedger.verify`
reports it (the entries before it still verify) and :meth:`DeletionLedger.record` refuses to
append after it until it is set aside with :meth:`DeletionLedger.set_aside_torn_tail`.

An append reads and checks only the last entry (its format, its own hash, and that it ends the
file with a newline): the cost of serving a request does not grow with the ledger. Damage
further back is the audit's to find (:meth:`DeletionLedger.verify`, ``gnn-unlearn audit``,
which ``gnn-unlearn unlearn`` runs before any work); an entry appended after it still chains
to the tail, so the audit keeps reporting the first bad entry.

The chain detects edits, removals and reorderings by anyone who does not rewrite every later
entry. Someone who may rewrite the whole file can recompute the chain: keep the head hash that
``gnn-unlearn audit`` prints somewhere they cannot write (a ticket, a signed log), and compare.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

LEDGER_FORMAT = "gnn_unlearn.ledger/1"
GENESIS = "0" * 64


class LedgerError(ValueError):
    """The ledger is damaged, tampered with, or ends in a torn entry."""


def _plain(obj: Any) -> Any:
    """JSON-ready copy of ``obj``: tensors and arrays become lists, tuples lists, sets sorted lists."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu().tolist()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, (set, frozenset)):
        return sorted(_plain(v) for v in obj)
    if isinstance(obj, float) and not math.isfinite(obj):
        return str(obj)                        # "nan"/"inf": canonical JSON has no NaN
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    return str(obj)


def canonical_json(obj: Any) -> str:
    """One canonical text for ``obj`` (sorted keys, no whitespace, ASCII), for hashing."""
    return json.dumps(_plain(obj), sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                      allow_nan=False)


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def request_sha256(request: Any) -> str:
    """SHA-256 of a request's canonical JSON (a :class:`DeletionRequest` or its ``to_dict()``)."""
    d = request.to_dict() if hasattr(request, "to_dict") else request
    return sha256_text(canonical_json(d))


def _entry_hash(entry: dict[str, Any]) -> str:
    return sha256_text(canonical_json({k: v for k, v in entry.items() if k != "entry_sha256"}))


def _file_record(path: str | None) -> dict[str, str] | None:
    if path is None:
        return None
    path = os.path.abspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"cannot record checkpoint {path!r} in the ledger: no such file")
    return {"path": path, "sha256": sha256_file(path)}


@dataclass
class AuditReport:
    """What :meth:`DeletionLedger.verify` found.

    ``entries`` are the entries that verify (an intact prefix); ``problem`` names the first
    bad entry (``None`` if the ledger is intact); ``torn`` says the problem is a torn last line.
    """
    path: str
    entries: list[dict[str, Any]] = field(default_factory=list)
    problem: str | None = None
    bad_entry: int | None = None
    torn: bool = False

    @property
    def ok(self) -> bool:
        return self.problem is None

    @property
    def head(self) -> str:
        return self.entries[-1]["entry_sha256"] if self.entries else GENESIS


class DeletionLedger:
    """An append-only, hash-chained JSON-lines log of every deletion served (see the module doc).

    >>> ledger = DeletionLedger("deletions.jsonl")
    >>> ledger.record(task, result, input_checkpoint="model.pt", output_checkpoint="unlearned.pt")
    >>> ledger.verify().ok
    """

    def __init__(self, path: str):
        self.path = path

    # reading -------------------------------------------------------------------------
    def _read(self) -> bytes:
        if not os.path.exists(self.path):
            return b""
        with open(self.path, "rb") as f:
            return f.read()

    def entries(self) -> list[dict[str, Any]]:
        """Every entry, after checking the chain (a damaged ledger raises :class:`LedgerError`)."""
        report = self.verify(check_files=False)
        if not report.ok:
            raise LedgerError(report.problem)
        return report.entries

    def verify(self, check_files: bool = True) -> AuditReport:
        """Checks the chain entry by entry (and, with ``check_files``, that each checkpoint still
        has the recorded SHA-256 and the output checkpoint holds the recorded request).

        Stops at the first bad entry; the entries before it are returned as verified.
        """
        return _verify(self.path, self._read(), check_files)

    # writing -------------------------------------------------------------------------
    def record(self, task: Any, result: Any, request: Any | None = None,
               input_checkpoint: str | None = None, output_checkpoint: str | None = None,
               **info: Any) -> dict[str, Any]:
        """Appends one entry for a served deletion and returns it.

        Args:
            task: the :class:`UnlearningTask` served (its summary is recorded).
            result: the :class:`UnlearningResult` (method, hyperparameters, cost).
            request: the request (default ``task.request``); only its SHA-256 is recorded.
            input_checkpoint / output_checkpoint: files to fingerprint (SHA-256), or ``None``.
            **info: further JSON-able fields (e.g. who asked, a ticket id).

        Raises:
            LedgerError: the ledger's last entry is damaged or torn (nothing is appended; only
                the last entry is checked here, :meth:`verify` audits the whole chain).
        """
        reserved = {"format", "seq", "time", "prev_sha256", "entry_sha256", "request",
                    "request_sha256", "input_checkpoint", "output_checkpoint"}
        clash = reserved & set(info)
        if clash:
            raise ValueError(f"ledger fields {sorted(clash)} are set by the ledger itself")
        request = task.request if request is None else request
        body = {"method": result.method, "params": result.params, "request": task.summary(),
                "request_sha256": request_sha256(request), "seconds": result.seconds,
                "peak_memory_bytes": result.peak_memory_bytes,
                "input_checkpoint": _file_record(input_checkpoint),
                "output_checkpoint": _file_record(output_checkpoint), **_plain(info)}
        return self._append(body)

    def _append(self, body: dict[str, Any]) -> dict[str, Any]:
        import fcntl
        path = os.path.abspath(self.path)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        created = not os.path.exists(path)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)      # one writer at a time, across processes
            seq, head, problem, torn = _tail(fd)
            if problem is not None:
                hint = (f"; set it aside with `gnn-unlearn audit {self.path} --set-aside-torn`"
                        if torn else "; run `gnn-unlearn audit` on it")
                raise LedgerError(f"refusing to append to ledger {self.path!r}: {problem}{hint}")
            entry = {**body, "format": LEDGER_FORMAT, "seq": seq + 1,
                     "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "prev_sha256": head}
            entry["entry_sha256"] = _entry_hash(entry)
            line = (canonical_json(entry) + "\n").encode()
            written = os.write(fd, line)        # O_APPEND: one write lands at the end
            while written < len(line):          # (a short write is finished, never interleaved:
                written += os.write(fd, line[written:])   # we hold the lock)
            os.fsync(fd)
        finally:
            os.close(fd)                        # releases the lock
        if created:                             # make the new file's directory entry durable
            dfd = os.open(os.path.dirname(path), os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
        return entry

    def set_aside_torn_tail(self) -> str | None:
        """If the ledger ends in a torn entry (and everything before it verifies), moves the
        torn bytes to ``<ledger>.torn-<time>`` and truncates the ledger to its intact prefix.

        Returns the path the torn bytes went to, or ``None`` if there was no torn tail.
        Any other damage raises :class:`LedgerError`: it is for a person to look at.
        """
        import fcntl
        if not os.path.exists(self.path):
            return None
        fd = os.open(self.path, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            with open(self.path, "rb") as f:
                content = f.read()
            report = _verify(self.path, content, check_files=False)
            if report.ok:
                return None
            if not report.torn:
                raise LedgerError(f"ledger {self.path!r} is damaged, not torn: {report.problem}")
            keep = content.rfind(b"\n") + 1
            aside = f"{self.path}.torn-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}"
            with open(aside, "wb") as f:
                f.write(content[keep:])
                f.flush()
                os.fsync(f.fileno())
            os.ftruncate(fd, keep)
            os.fsync(fd)
            return aside
        finally:
            os.close(fd)


def _last_line(fd: int, block: int = 1 << 16) -> tuple[bytes, bool]:
    """The file's last line without its newline, and whether it is torn (no final newline);
    read backwards from the end, block by block, never the whole file."""
    end = os.lseek(fd, 0, os.SEEK_END)
    if end == 0:
        return b"", False
    torn = os.pread(fd, 1, end - 1) != b"\n"
    stop = end if torn else end - 1
    pos, parts = stop, []
    while pos > 0:
        start = max(0, pos - block)
        chunk = os.pread(fd, pos - start, start)
        cut = chunk.rfind(b"\n")
        if cut >= 0:
            parts.append(chunk[cut + 1:])
            break
        parts.append(chunk)
        pos = start
    return b"".join(reversed(parts)), torn


def _tail(fd: int) -> tuple[int, str, str | None, bool]:
    """``(seq, entry_sha256, problem, torn)`` of the ledger's last entry (``(0, GENESIS, None,
    False)`` for an empty ledger): what an append needs, checked on that entry alone."""
    raw, torn = _last_line(fd)
    if torn:
        return 0, GENESIS, (f"its last line is torn ({len(raw)} bytes without a final newline, as a "
                            "crash during an append leaves them)"), True
    if not raw:
        empty = os.lseek(fd, 0, os.SEEK_END) == 0
        return 0, GENESIS, None if empty else "its last line is empty (the file was edited)", False
    try:
        entry = json.loads(raw.decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        return 0, GENESIS, f"its last entry is not valid JSON ({e})", False
    seq = entry.get("seq") if isinstance(entry, dict) else None
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 1:
        return 0, GENESIS, f"its last entry has no valid sequence number ({seq!r})", False
    problem = _check_entry(entry)
    if problem is None and seq == 1 and entry.get("prev_sha256") != GENESIS:
        problem = "does not chain to the start of the ledger (prev_sha256 differs)"
    return seq, entry.get("entry_sha256"), None if problem is None else f"entry {seq}: {problem}", False


def _verify(path: str, content: bytes, check_files: bool) -> AuditReport:
    report = AuditReport(path=path)
    if not content:
        return report
    lines = content.split(b"\n")
    torn_tail = lines.pop()                     # b"" when the file ends with a newline
    prev = GENESIS
    for i, raw in enumerate(lines, start=1):
        problem = _check_line(raw, i, prev)
        if problem is None and check_files:
            problem = _check_files(json.loads(raw))
        if problem is not None:
            report.problem, report.bad_entry = f"entry {i}: {problem}", i
            return report
        entry = json.loads(raw)
        report.entries.append(entry)
        prev = entry["entry_sha256"]
    if torn_tail:
        i = len(lines) + 1
        report.problem = (f"entry {i}: torn ({len(torn_tail)} bytes without a final newline, "
                          f"as a crash during an append leaves them); entries 1..{i - 1} verify")
        report.bad_entry, report.torn = i, True
    return report


def _check_line(raw: bytes, i: int, prev: str) -> str | None:
    try:
        entry = json.loads(raw.decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        return f"not valid JSON ({e})"
    if not isinstance(entry, dict):
        return "not a JSON object"
    if entry.get("format") != LEDGER_FORMAT:
        return _check_entry(entry)
    if entry.get("seq") != i:
        return f"sequence number is {entry.get('seq')!r}, expected {i} (entries removed or reordered)"
    if entry.get("prev_sha256") != prev:
        return "does not chain to the entry before it (prev_sha256 differs: an earlier entry was " \
               "changed, removed or reordered)"
    return _check_entry(entry)


def _check_entry(entry: dict[str, Any]) -> str | None:
    """What one entry can tell about itself: its format and that its hash matches its content."""
    if entry.get("format") != LEDGER_FORMAT:
        return (f"format is {entry.get('format')!r}, expected {LEDGER_FORMAT!r} (an entry written "
                "by an older version or by hand)")
    if entry.get("entry_sha256") != _entry_hash(entry):
        return "its content does not match its entry_sha256 (the line was edited)"
    return None


def _check_files(entry: dict[str, Any]) -> str | None:
    for role in ("input_checkpoint", "output_checkpoint"):
        rec = entry.get(role)
        if rec is None:
            continue
        if not os.path.isfile(rec["path"]):
            return f"{role.replace('_', ' ')} {rec['path']!r} is missing"
        if sha256_file(rec["path"]) != rec["sha256"]:
            return f"{role.replace('_', ' ')} {rec['path']!r} was changed after it was recorded " \
                   "(its SHA-256 differs)"
    out = entry.get("output_checkpoint")
    if out is not None:
        try:
            payload = torch.load(out["path"], map_location="cpu", weights_only=True)
        except Exception as e:  # unpickling errors have many types
            return f"output checkpoint {out['path']!r} is unreadable ({type(e).__name__})"
        saved = payload.get("request") if isinstance(payload, dict) else None
        if saved is not None and request_sha256(saved) != entry.get("request_sha256"):
            return f"output checkpoint {out['path']!r} holds another request than the one recorded"
    return None


def describe(entry: dict[str, Any]) -> str:
    """One line for people: when, which method, what was deleted, at what cost, into which file."""
    s = entry.get("request") or {}
    edges = "interactions" if set(s.get("kinds", [])) == {"interaction"} else "edges"
    names = {"deleted_edges": edges, "deleted_nodes": "nodes", "deleted_feature_entries": "feature entries"}
    what = ", ".join(f"{s[k]} {name}" for k, name in names.items() if s.get(k))
    out = entry.get("output_checkpoint") or {}
    target = f" -> {out['path']} (sha256 {out['sha256'][:12]})" if out else ""
    return (f"#{entry['seq']} {entry['time']} {entry['method']}: deleted {what or 'nothing'} "
            f"[{', '.join(s.get('kinds', []))}], {s.get('affected_nodes', '?')} nodes affected, "
            f"{float(entry.get('seconds', float('nan'))):.2f} s{target}")
